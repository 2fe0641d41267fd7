"""Many calls over one channel to a model's engine: each call gets a request id, the engine's
messages come back tagged with it, and :class:`Calls` routes each one to the call it belongs to.

Both kinds of instance use it, so a generation (or a batch of a generative model) is sent,
awaited, timed out and cancelled the same way whether the engine runs in a thread of the
server (:class:`~modelmart.serving.instances.ThreadInstance`) or in a worker process
(:class:`~modelmart.serving.instances.ProcessInstance`); only how a message is sent differs,
and that is the ``send`` the instance passes in.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from modelmart.errors import InferenceTimeout, ModelMartError, error_class_for
from modelmart.runtimes.generation import EngineStats, GenerationEvent, GenerationRequest

WATCH_S = 0.05
"""How often a waiting call checks whether the model has gone silent for too long."""

Send = Callable[[str, str, Any], None]
"""Hands ``(kind, rid, payload)`` (``generate``, ``cancel`` or ``predict``) to the engine."""

OnTimeout = Callable[[], Awaitable[None]]
"""What the instance does when a model stayed silent too long (a process kills its worker)."""


def raise_error_payload(payload: dict[str, Any]) -> None:
    """Re-raise an error body that crossed a thread or process boundary as its own class."""
    body = payload["error"]
    raise error_class_for(body["code"])(body["message"], details=body.get("details"))


@dataclass(eq=False)
class Call:
    """One call in flight: the queue its messages go to, in the caller's event loop.
    ``failed`` kind carries an exception raised here (a crash, a timeout)."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[tuple[str, Any]]
    what: str

    def put(self, kind: str, payload: Any) -> None:
        # RuntimeError: the event loop closed, nobody is listening any more.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (kind, payload))


class Calls:
    """The calls in flight on one instance, and what its engine last reported.

    ``deliver`` is called from any thread (the engine loop's, a process instance's pipe
    reader); everything else from the event loop.
    """

    def __init__(self, send: Send, on_timeout: OnTimeout) -> None:
        self._send = send
        self._on_timeout = on_timeout
        self._calls: dict[str, Call] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self.last_heard = time.monotonic()
        self.stats = EngineStats()

    def __len__(self) -> int:
        with self._lock:
            return len(self._calls)

    async def predict(self, batch: Any, timeout_s: float) -> Any:
        """One batch through the engine; its ``ok`` payload, or the engine's error raised."""
        rid, call = self._open("running the batch")
        try:
            self._send("predict", rid, batch)
            kind, payload = await self._next(call, timeout_s)
        finally:
            self._close(rid)
        if kind != "ok":
            _raise(kind, payload)
        return payload

    async def generate(
        self, request: GenerationRequest, timeout_s: float
    ) -> AsyncGenerator[GenerationEvent, None]:
        """The generation's events as they come; leaving early cancels it in the engine."""
        rid, call = self._open("generating text")
        finished = False
        try:
            self._send("generate", rid, request)
            while True:
                kind, payload = await self._next(call, timeout_s)
                if kind == "event":
                    yield payload
                    continue
                finished = True
                if kind == "end":
                    return
                _raise(kind, payload)
        finally:
            self._close(rid)
            if not finished:
                # Only a message: this may run inside a cancelled task.
                self._send_quietly("cancel", rid, None)

    def deliver(self, kind: str, rid: str, payload: Any) -> None:
        """Route one message of the engine to the call it belongs to (any thread)."""
        self.last_heard = time.monotonic()
        if kind == "stats":
            self.stats = payload
            return
        with self._lock:
            call = self._calls.get(rid)
        if call is not None:  # else the caller already left
            call.put(kind, payload)

    def take_all(self) -> list[Call]:
        """Every call in flight, forgotten here: the caller fails them (the engine is gone)."""
        with self._lock:
            calls = list(self._calls.values())
            self._calls.clear()
        return calls

    def _open(self, what: str) -> tuple[str, Call]:
        rid = f"r{next(self._ids)}"
        call = Call(asyncio.get_running_loop(), asyncio.Queue(), what)
        with self._lock:
            self._calls[rid] = call
        return rid, call

    def _close(self, rid: str) -> None:
        with self._lock:
            self._calls.pop(rid, None)

    def _send_quietly(self, kind: str, rid: str, payload: Any) -> None:
        # The worker may be gone: its restart forgets every request anyway.
        with contextlib.suppress(OSError, ModelMartError):
            self._send(kind, rid, payload)

    async def _next(self, call: Call, timeout_s: float) -> tuple[str, Any]:
        started = time.monotonic()
        while True:
            try:
                return await asyncio.wait_for(call.queue.get(), WATCH_S)
            except TimeoutError:
                silent = time.monotonic() - max(self.last_heard, started)
                if silent > timeout_s:
                    await self._on_timeout()
                    raise _timeout(call, timeout_s) from None


def _raise(kind: str, payload: Any) -> None:
    if kind == "failed":
        raise payload
    raise_error_payload(payload)


def _timeout(call: Call, timeout_s: float) -> InferenceTimeout:
    return InferenceTimeout(
        f"the model took longer than {timeout_s:g} s {call.what}; its worker was "
        "restarted. Raise the deployment's timeout_s or send smaller batches or prompts",
        details={"timeout_s": timeout_s},
    )
