"""The loop that runs inside a worker process: load one runtime, then answer requests.

Messages on the pipe are tuples. Parent → worker: ``("predict", (rid, batch))``,
``("generate", (rid, request))``, ``("cancel", (rid, None))`` or ``("stop", None)``. Worker →
parent: first ``("ready", (signature, generative, parallel))`` or ``("error", error_dict)``
when the model does not load; then ``(kind, (rid, payload))`` for every outcome the
:class:`~modelmart.serving.streaming.EngineLoop` reports (``event``, ``end``, ``error``,
``ok``, ``stats``), and ``("ok", (rid, (outputs, microjoules)))`` /
``("error", (rid, error_dict))`` for the batches of a model that does not generate, which are
predicted here one at a time.

Every batch's energy is measured here, around the model call, by the meter of the server's
:class:`~modelmart.energy.meters.EnergySetup` (the CPU-time estimate reads this process's CPU
time: the model's own threads count too).

A generative model's requests all go to its engine loop, so new generations join the batch
that is running; the main thread only reads the pipe. Errors travel as the JSON error body
so the parent can re-raise the same class.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from modelmart.arrays import Batch
from modelmart.energy.meters import EnergySetup, Meter
from modelmart.runtimes.base import LoadRequest, Runtime
from modelmart.runtimes.generation import TextGenerator
from modelmart.serving.affinity import pin_process
from modelmart.serving.streaming import EngineLoop, error_payload, not_generative
from modelmart.types import RuntimeName

__all__ = ["error_payload", "run_batch", "worker_main"]


def run_batch(runtime: Runtime, batch: Batch, meter: Meter) -> tuple[str, Any]:
    """Predict one batch: ``("ok", (outputs, microjoules))``, or any exception turned into
    an error message."""
    started = meter.start()
    try:
        outputs = runtime.predict(batch)
    except Exception as exc:  # a model may raise anything; it must fail only its batch
        return "error", error_payload(exc)
    return "ok", (outputs, meter.stop(started))


class _Sender:
    """Sends on the pipe from the main thread and the engine loop's, one message at a time."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._lock = threading.Lock()

    def __call__(self, kind: str, rid: str, payload: Any) -> None:
        # The server may have gone away; the main loop then ends on its side of the pipe.
        with self._lock, contextlib.suppress(OSError, EOFError):
            self._conn.send((kind, (rid, payload)))


def serve(conn: Connection, runtime: Runtime, meter: Meter) -> None:
    """Answer the parent's messages until it says stop or goes away."""
    send = _Sender(conn)
    loop = EngineLoop(runtime, send, meter) if isinstance(runtime, TextGenerator) else None
    try:
        while True:
            try:
                kind, payload = conn.recv()
            except EOFError:  # the server went away; nothing left to answer
                break
            if kind == "stop":
                break
            rid, body = payload
            if loop is not None:
                loop.handle(kind, rid, body)
            else:
                _answer_here(send, runtime, meter, kind, rid, body)
    finally:
        if loop is not None:
            loop.stop()


def _answer_here(
    send: _Sender, runtime: Runtime, meter: Meter, kind: str, rid: str, body: Any
) -> None:
    """A model that does not generate: predict its batch now, in this thread."""
    if kind == "predict":
        result, payload = run_batch(runtime, body, meter)
        send(result, rid, payload)
    elif kind == "generate":
        send("error", rid, error_payload(not_generative(runtime)))


def worker_main(
    conn: Connection,
    runtime_factory: Callable[[RuntimeName], Runtime],
    runtime_name: RuntimeName,
    request: LoadRequest,
    energy: EnergySetup,
) -> None:
    """Entry point of a worker process (started with the ``spawn`` method). It pins itself to
    the deployment's CPUs before loading, so the runtime's threads inherit them."""
    try:
        pin_process(request.cpus)
        runtime = runtime_factory(runtime_name)
        runtime.load(request)
    except Exception as exc:  # report the load failure instead of dying silently
        conn.send(("error", error_payload(exc)))
        return
    generative = isinstance(runtime, TextGenerator)
    parallel = runtime.engine().parallel if isinstance(runtime, TextGenerator) else 1
    conn.send(("ready", (runtime.signature, generative, parallel)))
    serve(conn, runtime, energy.meter(time.process_time))
    runtime.unload()
