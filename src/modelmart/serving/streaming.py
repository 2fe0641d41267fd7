"""Generation, relayed event by event from a runtime to the instance that asked for it.

Pipe messages for one generation (see :mod:`modelmart.serving.worker` for the rest). Parent
→ worker: ``("generate", request)``, then at most one ``("cancel", None)`` when the caller
went away. Worker → parent: ``("event", TextDelta | GenerationDone)`` any number of times,
then exactly one ``("end", None)`` or ``("error", error_dict)``. The worker checks for a
cancel between tokens, so a cancelled generation stops within one token; the parent reads on
until the end message so the pipe is clean for the next call. A cancel that arrives after
the end is ignored by the worker's main loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from modelmart.errors import InvalidRequest
from modelmart.runtimes.base import Runtime
from modelmart.runtimes.generation import GenerationEvent, GenerationRequest, TextGenerator

Emit = Callable[[GenerationEvent], None]
"""Hands one event to the waiting caller; called from the instance's thread."""

CANCEL_POLL_S = 0.05
"""How often the parent looks at its stop flag while it waits for the worker's next event."""


def not_generative(runtime: Runtime) -> InvalidRequest:
    return InvalidRequest(
        f"this {runtime.label} model does not generate text; chat completions need a chat "
        "model, such as the catalogue's smollm2-135m-instruct",
        details={"param": "model"},
    )


def generate_here(
    runtime: Runtime, request: GenerationRequest, emit: Emit, stop: threading.Event
) -> None:
    """Run a generation in this thread, emitting each event until done or ``stop`` is set."""
    if not isinstance(runtime, TextGenerator):
        raise not_generative(runtime)
    events = runtime.generate(request)
    try:
        for event in events:
            if stop.is_set():
                return
            emit(event)
    finally:
        events.close()


Receive = Callable[[float], tuple[str, Any] | None]
"""Waits up to the given seconds for the worker's next message; None when none came."""


def relay_from_worker(
    conn: Connection,
    receive: Receive,
    timeout_s: float,
    emit: Emit,
    stop: threading.Event,
) -> tuple[str, Any]:
    """The parent's half: pass events on until the worker ends; returns the final message,
    ``("end", None)``, ``("error", body)`` or ``("timeout", None)`` when the worker sent
    nothing for ``timeout_s``."""
    cancel_sent = False
    deadline = time.monotonic() + timeout_s
    while True:
        if stop.is_set() and not cancel_sent:
            conn.send(("cancel", None))
            cancel_sent = True
        message = receive(CANCEL_POLL_S)
        if message is None:
            if time.monotonic() > deadline:
                return "timeout", None
            continue
        deadline = time.monotonic() + timeout_s
        kind, payload = message
        if kind != "event":
            return kind, payload
        if not cancel_sent:
            emit(payload)
