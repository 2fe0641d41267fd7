"""Model instances: one loaded runtime each, in a worker process or a thread.

``ProcessInstance`` isolates the model: a crash (even a segfault) or a hang fails only the
calls in flight on it, and the instance restarts itself; if that restart fails, the
instance is ``broken`` for good and its endpoint replaces it. ``ThreadInstance`` runs the
runtime in the server process — faster to start, no isolation — and is what unit tests use
with fake runtimes.

A generative instance (its runtime is a
:class:`~modelmart.runtimes.generation.TextGenerator`) runs many generations at once: each
call gets a request id, its messages come back tagged with it (see
:mod:`modelmart.serving.worker`), and the runtime's engine batches them. Other instances
predict one batch at a time, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import multiprocessing
import multiprocessing.connection
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from modelmart.arrays import Batch
from modelmart.errors import (
    InferenceTimeout,
    InvalidRequest,
    ModelMartError,
    NotReady,
    WorkerCrashed,
    error_class_for,
)
from modelmart.runtimes.base import LoadRequest, Runtime, create_runtime
from modelmart.runtimes.generation import (
    EngineStats,
    GenerationEvent,
    GenerationRequest,
    TextGenerator,
)
from modelmart.serving.streaming import EngineLoop
from modelmart.serving.worker import run_batch, worker_main
from modelmart.types import RuntimeName, Signature

RuntimeFactory = Callable[[RuntimeName], Runtime]

WATCH_S = 0.05
"""How often a waiting call checks whether the model has gone silent for too long."""

logger = logging.getLogger("modelmart.serving")


def raise_error_payload(payload: dict[str, Any]) -> None:
    """Re-raise an error body that crossed a process boundary as its own class."""
    body = payload["error"]
    raise error_class_for(body["code"])(body["message"], details=body.get("details"))


def not_generative() -> InvalidRequest:
    return InvalidRequest(
        "this model does not generate text; chat completions need a chat model, such as the "
        "catalogue's smollm2-135m-instruct",
        details={"param": "model"},
    )


@dataclass(eq=False)
class _Call:
    """One call in flight: the queue its messages go to, in the caller's event loop.
    ``failed`` kind carries an exception raised here (a crash, a timeout)."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[tuple[str, Any]]
    what: str

    def put(self, kind: str, payload: Any) -> None:
        # RuntimeError: the event loop closed, nobody is listening any more.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.queue.put_nowait, (kind, payload))


class Instance(ABC):
    """One loaded copy of a model version. ``generative`` says whether the loaded runtime
    can generate text; such an instance takes up to ``parallel`` generations at once (more
    wait in its engine). ``broken`` turns true, for good, once the instance could not come
    back after a crash or a timeout: every later call fails, so it must receive none and be
    replaced. ``stats`` is what its engine last reported."""

    generative: bool = False
    broken: bool = False
    parallel: int = 1
    stats: EngineStats = EngineStats()

    def __init__(
        self,
        runtime_name: RuntimeName,
        request: LoadRequest,
        runtime_factory: RuntimeFactory = create_runtime,
    ) -> None:
        self.runtime_name = runtime_name
        self.request = request
        # Must be a module-level function: a worker process receives it by reference.
        self.runtime_factory = runtime_factory
        # One thread for loading, unloading and the batches of a non-generative model.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="instance")
        self._calls: dict[str, _Call] = {}
        self._calls_lock = threading.Lock()
        self._ids = itertools.count()
        self._last_heard = time.monotonic()

    @abstractmethod
    def _start_blocking(self, timeout_s: float) -> Signature: ...

    @abstractmethod
    def _predict_blocking(self, batch: Batch, timeout_s: float) -> Batch:
        """One batch of a non-generative model."""

    @abstractmethod
    def _send(self, kind: str, rid: str, payload: Any) -> None:
        """Hand ``generate``, ``cancel`` or ``predict`` to the generative model's engine."""

    @abstractmethod
    def _stop_blocking(self) -> None: ...

    async def start(self, timeout_s: float) -> Signature:
        """Load the model; raise the load error (InvalidArtifact, ...) if it fails."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._start_blocking, timeout_s)

    async def predict(self, batch: Batch, timeout_s: float) -> Batch:
        if not self.generative:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._executor, self._predict_blocking, batch, timeout_s
            )
        await self._wait_until_up()
        rid, call = self._open("running the batch")
        try:
            self._send("predict", rid, batch)
            kind, payload = await self._next(call, timeout_s)
        finally:
            self._close(rid)
        if kind != "ok":
            _raise(kind, payload)
        outputs: Batch = payload
        return outputs

    async def generate(
        self, request: GenerationRequest, timeout_s: float
    ) -> AsyncGenerator[GenerationEvent, None]:
        """The generation's events as they come; raises the model's error, if any.

        ``timeout_s`` bounds how long the model may stay silent while it has work. Leaving
        the loop early (or being cancelled) cancels the generation in the engine.
        """
        if not self.generative:
            raise not_generative()
        await self._wait_until_up()
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

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._stop_blocking)
        self._executor.shutdown(wait=False)

    @property
    def in_flight(self) -> int:
        with self._calls_lock:
            return len(self._calls)

    async def _wait_until_up(self) -> None:
        """Nothing here; a process instance waits for a restart in progress."""
        if self.broken:
            raise NotReady("this model instance is out of service; retry in a moment")

    def _open(self, what: str) -> tuple[str, _Call]:
        rid = f"r{next(self._ids)}"
        call = _Call(asyncio.get_running_loop(), asyncio.Queue(), what)
        with self._calls_lock:
            self._calls[rid] = call
        return rid, call

    def _close(self, rid: str) -> None:
        with self._calls_lock:
            self._calls.pop(rid, None)

    def _take_calls(self) -> list[_Call]:
        with self._calls_lock:
            calls = list(self._calls.values())
            self._calls.clear()
        return calls

    def _send_quietly(self, kind: str, rid: str, payload: Any) -> None:
        # The worker may be gone: its restart forgets every request anyway.
        with contextlib.suppress(OSError, ModelMartError):
            self._send(kind, rid, payload)

    def _deliver(self, kind: str, rid: str, payload: Any) -> None:
        """Route one message of the engine to the call it belongs to (any thread)."""
        self._last_heard = time.monotonic()
        if kind == "stats":
            self.stats = payload
            return
        with self._calls_lock:
            call = self._calls.get(rid)
        if call is not None:  # else the caller already left
            call.put(kind, payload)

    async def _next(self, call: _Call, timeout_s: float) -> tuple[str, Any]:
        started = time.monotonic()
        while True:
            try:
                return await asyncio.wait_for(call.queue.get(), WATCH_S)
            except TimeoutError:
                silent = time.monotonic() - max(self._last_heard, started)
                if silent > timeout_s:
                    await self._timed_out()
                    raise _timeout(call, timeout_s) from None

    async def _timed_out(self) -> None:
        """Stop the silent model, if this kind of instance can."""
        return  # a thread cannot be stopped: the call gives up, the model keeps it


def _raise(kind: str, payload: Any) -> None:
    if kind == "failed":
        raise payload
    raise_error_payload(payload)


def _timeout(call: _Call, timeout_s: float) -> InferenceTimeout:
    return InferenceTimeout(
        f"the model took longer than {timeout_s:g} s {call.what}; its worker was "
        "restarted. Raise the deployment's timeout_s or send smaller batches or prompts",
        details={"timeout_s": timeout_s},
    )


class ThreadInstance(Instance):
    """Runs the runtime in the server process. A hang is reported but cannot be killed."""

    _runtime: Runtime | None = None
    _loop: EngineLoop | None = None

    def _start_blocking(self, timeout_s: float) -> Signature:
        runtime = self.runtime_factory(self.runtime_name)
        runtime.load(self.request)
        self._runtime = runtime
        if isinstance(runtime, TextGenerator):
            self._loop = EngineLoop(runtime, self._deliver)
            self.parallel = self._loop.parallel
            self.generative = True
        return runtime.signature

    def _predict_blocking(self, batch: Batch, timeout_s: float) -> Batch:
        if self._runtime is None:
            raise NotReady("this model instance is not loaded; wait until the deployment is ready")
        kind, payload = run_batch(self._runtime, batch)
        if kind == "error":
            raise_error_payload(payload)
        result: Batch = payload
        return result

    def _send(self, kind: str, rid: str, payload: Any) -> None:
        if self._loop is None:
            raise NotReady("this model instance is not loaded; wait until the deployment is ready")
        if kind == "generate":
            self._loop.submit(rid, payload)
        elif kind == "cancel":
            self._loop.cancel(rid)
        else:
            self._loop.predict(rid, payload)

    def _stop_blocking(self) -> None:
        if self._loop is not None:
            self._loop.stop()
            self._loop = None
        if self._runtime is not None:
            self._runtime.unload()
            self._runtime = None


class ProcessInstance(Instance):
    """Runs the runtime in its own process, restarted after a crash or a timeout.

    A reader thread receives every message of the worker and routes it to its call. When
    the pipe breaks (the process died, or was killed after a timeout) the reader restarts
    the process, then fails every call that was in flight; calls made meanwhile wait for
    the restart.
    """

    _process: multiprocessing.process.BaseProcess | None = None
    _conn: multiprocessing.connection.Connection | None = None
    _start_timeout_s: float = 300.0
    _stopping: bool = False

    def __init__(
        self,
        runtime_name: RuntimeName,
        request: LoadRequest,
        runtime_factory: RuntimeFactory = create_runtime,
    ) -> None:
        super().__init__(runtime_name, request, runtime_factory)
        self._up = threading.Event()
        self._send_lock = threading.Lock()
        self._kill_reason: ModelMartError | None = None

    def _start_blocking(self, timeout_s: float) -> Signature:
        self._start_timeout_s = timeout_s
        context = multiprocessing.get_context("spawn")
        parent_conn, child_conn = context.Pipe()
        process = context.Process(
            target=worker_main,
            args=(child_conn, self.runtime_factory, self.runtime_name, self.request),
            name=f"modelmart-worker-{self.request.path.name[:12]}",
            daemon=True,
        )
        try:
            process.start()
        except BaseException:
            parent_conn.close()  # a replacement retries: every failed start must free its pipe
            raise
        finally:
            child_conn.close()
        self._process, self._conn = process, parent_conn
        kind, payload = self._receive_ready(parent_conn, timeout_s)
        if kind == "error":
            self._kill()
            raise_error_payload(payload)
        signature: Signature
        signature, self.generative, self.parallel = payload
        self._kill_reason = None
        reader = threading.Thread(
            target=self._read, args=(parent_conn,), name="instance-reader", daemon=True
        )
        reader.start()
        self._up.set()
        return signature

    def _receive_ready(
        self, conn: multiprocessing.connection.Connection, timeout_s: float
    ) -> tuple[str, Any]:
        try:
            if not conn.poll(timeout_s):
                self._kill()
                raise InferenceTimeout(
                    f"the model took longer than {timeout_s:g} s loading the model; raise the "
                    "deployment's start_timeout_s",
                    details={"timeout_s": timeout_s},
                )
            message: tuple[str, Any] = conn.recv()
        except (EOFError, OSError) as exc:
            raise self._crashed("loading the model") from exc
        return message

    def _predict_blocking(self, batch: Batch, timeout_s: float) -> Batch:
        raise AssertionError("a process instance sends every batch to its worker")

    async def predict(self, batch: Batch, timeout_s: float) -> Batch:
        # Batches of every model go through the worker's pipe, as generations do.
        await self._wait_until_up()
        rid, call = self._open("running the batch")
        try:
            self._send("predict", rid, batch)
            kind, payload = await self._next(call, timeout_s)
        finally:
            self._close(rid)
        if kind != "ok":
            _raise(kind, payload)
        outputs: Batch = payload
        return outputs

    def _send(self, kind: str, rid: str, payload: Any) -> None:
        conn = self._conn
        if conn is None:
            raise NotReady("this model instance is restarting; retry in a moment")
        with self._send_lock:
            conn.send((kind, (rid, payload)))

    async def _wait_until_up(self) -> None:
        if not self._up.is_set() and not self.broken:
            await asyncio.to_thread(self._up.wait, self._start_timeout_s)
        if self.broken or self._conn is None:
            raise NotReady("this model instance is restarting; retry in a moment")

    def _read(self, conn: multiprocessing.connection.Connection) -> None:
        while True:
            try:
                kind, (rid, payload) = conn.recv()
            except (EOFError, OSError):
                break
            self._deliver(kind, rid, payload)
        if self._stopping or conn is not self._conn:
            return  # stopped on purpose, or this pipe was already replaced
        self._up.clear()
        failure = self._kill_reason
        calls = self._take_calls()
        crashed = [self._crashed(call.what) for call in calls]  # reads the exit code first
        self._restart()
        for call, crash in zip(calls, crashed, strict=True):
            call.put("failed", failure or crash)
        self._up.set()

    async def _timed_out(self) -> None:
        """Kill the silent worker; the reader restarts it and fails the other calls."""
        if self._conn is None:
            return
        self._kill_reason = InferenceTimeout(
            "the model stopped answering and its worker was restarted; retry the request"
        )
        with self._send_lock:
            if self._process is not None and self._process.is_alive():
                self._process.kill()
        await asyncio.to_thread(self._wait_for_restart)

    def _wait_for_restart(self) -> None:
        deadline = time.monotonic() + self._start_timeout_s + 10
        while self._up.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)  # the reader has not seen the pipe break yet
        self._up.wait(max(0.0, deadline - time.monotonic()))

    def _crashed(self, what: str) -> WorkerCrashed:
        code = None
        if self._process is not None:
            self._process.join(timeout=1)  # reap it, so the exit code is known
            code = self._process.exitcode
        return WorkerCrashed(
            f"the model's worker process died while {what} (exit code {code}); it is "
            "being restarted. Check the model with a smaller input",
            details={"exit_code": code},
        )

    def _restart(self) -> None:
        self._kill()
        try:
            self._start_blocking(self._start_timeout_s)
        except Exception:  # a load error or no process at all: either way it cannot serve
            self._kill()
            self.broken = True
            logger.warning(
                "the worker of %s could not restart; the instance is out of service",
                self.request.path,
                exc_info=True,
            )

    def _kill(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
            self._process.join(timeout=10)
        if self._conn is not None:
            self._conn.close()
        self._process, self._conn = None, None

    def _stop_blocking(self) -> None:
        self._stopping = True
        if self._conn is not None and self._process is not None:
            try:
                with self._send_lock:
                    self._conn.send(("stop", None))
                self._process.join(timeout=10)
            except (OSError, BrokenPipeError):
                pass  # already gone; _kill below cleans up
        self._kill()
