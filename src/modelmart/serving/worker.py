"""The loop that runs inside a worker process: load one runtime, then answer batches.

Messages on the pipe are tuples. Parent → worker: ``("predict", batch)``, ``("generate",
request)`` (its exchange is described in :mod:`modelmart.serving.streaming`) or ``("stop",
None)``. Worker → parent: ``("ready", (signature, generative))``, ``("ok", outputs)`` or
``("error", error_dict)``. Errors travel as the JSON error body so the parent can re-raise the
same class.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from modelmart.arrays import Batch
from modelmart.errors import InferenceError, ModelMartError
from modelmart.runtimes.base import LoadRequest, Runtime
from modelmart.runtimes.generation import GenerationEvent, GenerationRequest, TextGenerator
from modelmart.serving.streaming import generate_here
from modelmart.types import RuntimeName


def error_payload(exc: BaseException) -> dict[str, Any]:
    """The error body of ``exc``; unexpected exceptions become ``model_error``."""
    if isinstance(exc, ModelMartError):
        return exc.to_dict()
    wrapped = InferenceError(
        f"the model raised {type(exc).__name__}: {exc}",
        details={"traceback": traceback.format_exception_only(exc)[-1].strip()},
    )
    return wrapped.to_dict()


def run_batch(runtime: Runtime, batch: Batch) -> tuple[str, Any]:
    """Predict one batch, turning any exception into an error message."""
    try:
        return "ok", runtime.predict(batch)
    except Exception as exc:  # a model may raise anything; it must fail only its batch
        return "error", error_payload(exc)


def generate_in_worker(conn: Connection, runtime: Runtime, request: GenerationRequest) -> None:
    """Send each event of one generation, stop early on a cancel, always end the exchange."""
    cancelled = threading.Event()

    def send(event: GenerationEvent) -> None:
        conn.send(("event", event))
        if conn.poll(0) and conn.recv()[0] == "cancel":  # nothing else arrives meanwhile
            cancelled.set()

    try:
        generate_here(runtime, request, send, cancelled)
    except Exception as exc:  # a model may raise anything; it must fail only this request
        conn.send(("error", error_payload(exc)))
        return
    conn.send(("end", None))


def worker_main(
    conn: Connection,
    runtime_factory: Callable[[RuntimeName], Runtime],
    runtime_name: RuntimeName,
    request: LoadRequest,
) -> None:
    """Entry point of a worker process (started with the ``spawn`` method)."""
    try:
        runtime = runtime_factory(runtime_name)
        runtime.load(request)
    except Exception as exc:  # report the load failure instead of dying silently
        conn.send(("error", error_payload(exc)))
        return
    conn.send(("ready", (runtime.signature, isinstance(runtime, TextGenerator))))
    while True:
        try:
            kind, payload = conn.recv()
        except EOFError:  # the server went away; nothing left to answer
            break
        if kind == "stop":
            break
        if kind == "generate":
            generate_in_worker(conn, runtime, payload)
        elif kind == "predict":
            conn.send(run_batch(runtime, payload))
        # else a cancel that came after its generation had ended: nothing left to stop
    runtime.unload()
