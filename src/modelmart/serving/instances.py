"""Model instances: one loaded runtime each, in a worker process or a thread.

``ProcessInstance`` isolates the model: a crash (even a segfault) or a hang fails only the
calls in flight on it, and the instance restarts itself; if that restart fails, the
instance is ``broken`` for good and its endpoint replaces it. ``ThreadInstance`` runs the
runtime in the server process — faster to start, no isolation — and is what unit tests use
with fake runtimes.

A generative instance (its runtime is a
:class:`~modelmart.runtimes.generation.TextGenerator`) runs many generations at once: its
calls are multiplexed over one channel to the runtime's engine
(:mod:`modelmart.serving.multiplex`), which batches them. Other instances predict one batch at
a time, in order (a process instance sends those through the same channel too).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from modelmart.arrays import Batch
from modelmart.energy.meters import EnergySetup, Meter, NoMeter
from modelmart.errors import (
    InferenceTimeout,
    InvalidRequest,
    ModelMartError,
    NotReady,
    WorkerCrashed,
)
from modelmart.runtimes.base import LoadRequest, Runtime, create_runtime
from modelmart.runtimes.generation import (
    EngineStats,
    GenerationEvent,
    GenerationRequest,
    TextGenerator,
)
from modelmart.serving.multiplex import Calls, raise_error_payload
from modelmart.serving.streaming import EngineLoop
from modelmart.serving.worker import run_batch, worker_main
from modelmart.types import RuntimeName, Signature

__all__ = [
    "Instance",
    "Measured",
    "ProcessInstance",
    "RuntimeFactory",
    "ThreadInstance",
    "raise_error_payload",
]

RuntimeFactory = Callable[[RuntimeName], Runtime]

logger = logging.getLogger("modelmart.serving")


class Measured(NamedTuple):
    """A batch's outputs and the microjoules the model used computing them."""

    outputs: Batch
    energy_uj: int


def not_generative() -> InvalidRequest:
    return InvalidRequest(
        "this model does not generate text; chat completions need a chat model, such as the "
        "catalogue's smollm2-135m-instruct",
        details={"param": "model"},
    )


class Instance(ABC):
    """One loaded copy of a model version. ``generative`` says whether the loaded runtime
    can generate text; such an instance takes up to ``parallel`` generations at once (more
    wait in its engine). ``broken`` turns true, for good, once the instance could not come
    back after a crash or a timeout: every later call fails, so it must receive none and be
    replaced. ``stats`` is what its engine last reported. ``energy`` says how its worker
    measures the energy of each batch (see :mod:`modelmart.energy.meters`)."""

    generative: bool = False
    broken: bool = False
    parallel: int = 1

    def __init__(
        self,
        runtime_name: RuntimeName,
        request: LoadRequest,
        runtime_factory: RuntimeFactory = create_runtime,
        energy: EnergySetup | None = None,
    ) -> None:
        self.runtime_name = runtime_name
        self.request = request
        self.energy = energy or EnergySetup()
        # Must be a module-level function: a worker process receives it by reference.
        self.runtime_factory = runtime_factory
        # One thread for loading, unloading and the batches predicted in this process.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="instance")
        self._calls = Calls(self._send, self._timed_out)

    @abstractmethod
    def _start_blocking(self, timeout_s: float) -> Signature: ...

    @abstractmethod
    def _send(self, kind: str, rid: str, payload: Any) -> None:
        """Hand ``generate``, ``cancel`` or ``predict`` to the model's engine."""

    @abstractmethod
    def _stop_blocking(self) -> None: ...

    def _predicts_here(self) -> bool:
        """Whether batches run on this instance's own thread rather than through ``_send``."""
        return False

    def _predict_blocking(self, batch: Batch, timeout_s: float) -> Measured:
        """One batch of a model whose batches run here (see :meth:`_predicts_here`)."""
        raise NotImplementedError(f"{type(self).__name__} sends every batch to its engine")

    @property
    def stats(self) -> EngineStats:
        return self._calls.stats

    async def start(self, timeout_s: float) -> Signature:
        """Load the model; raise the load error (InvalidArtifact, ...) if it fails."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._start_blocking, timeout_s)

    async def predict(self, batch: Batch, timeout_s: float) -> Batch:
        return (await self.predict_measured(batch, timeout_s)).outputs

    async def predict_measured(self, batch: Batch, timeout_s: float) -> Measured:
        """One batch's outputs with the energy its model used."""
        if self._predicts_here():
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._executor, self._predict_blocking, batch, timeout_s
            )
        await self._wait_until_up()
        outputs, energy_uj = await self._calls.predict(batch, timeout_s)
        return Measured(outputs, energy_uj)

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
        events = self._calls.generate(request, timeout_s)
        async with contextlib.aclosing(events):
            async for event in events:
                yield event

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._stop_blocking)
        self._executor.shutdown(wait=False)

    @property
    def in_flight(self) -> int:
        return len(self._calls)

    async def _wait_until_up(self) -> None:
        """Nothing here; a process instance waits for a restart in progress."""
        if self.broken:
            raise NotReady("this model instance is out of service; retry in a moment")

    async def _timed_out(self) -> None:
        """Stop the silent model, if this kind of instance can."""
        return  # a thread cannot be stopped: the call gives up, the model keeps it


class ThreadInstance(Instance):
    """Runs the runtime in the server process. A hang is reported but cannot be killed."""

    _runtime: Runtime | None = None
    _loop: EngineLoop | None = None
    _meter: Meter = NoMeter()

    def _start_blocking(self, timeout_s: float) -> Signature:
        runtime = self.runtime_factory(self.runtime_name)
        runtime.load(self.request)
        self._runtime = runtime
        self._meter = self.energy.meter(time.thread_time)
        if isinstance(runtime, TextGenerator):
            # The engine loop's own thread: its CPU time is this model's alone.
            meter = self.energy.meter(time.thread_time)
            self._loop = EngineLoop(runtime, self._calls.deliver, meter)
            self.parallel = self._loop.parallel
            self.generative = True
        return runtime.signature

    def _predicts_here(self) -> bool:
        return not self.generative

    def _predict_blocking(self, batch: Batch, timeout_s: float) -> Measured:
        if self._runtime is None:
            raise NotReady("this model instance is not loaded; wait until the deployment is ready")
        # This thread's CPU time: the server's other threads serve other requests meanwhile.
        kind, payload = run_batch(self._runtime, batch, self._meter)
        if kind == "error":
            raise_error_payload(payload)
        outputs, energy_uj = payload
        return Measured(outputs, energy_uj)

    def _send(self, kind: str, rid: str, payload: Any) -> None:
        if self._loop is None:
            raise NotReady("this model instance is not loaded; wait until the deployment is ready")
        self._loop.handle(kind, rid, payload)

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
        energy: EnergySetup | None = None,
    ) -> None:
        super().__init__(runtime_name, request, runtime_factory, energy)
        self._up = threading.Event()
        self._send_lock = threading.Lock()
        self._kill_reason: ModelMartError | None = None

    def _start_blocking(self, timeout_s: float) -> Signature:
        self._start_timeout_s = timeout_s
        context = multiprocessing.get_context("spawn")
        parent_conn, child_conn = context.Pipe()
        process = context.Process(
            target=worker_main,
            args=(child_conn, self.runtime_factory, self.runtime_name, self.request, self.energy),
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
            self._calls.deliver(kind, rid, payload)
        if self._stopping or conn is not self._conn:
            return  # stopped on purpose, or this pipe was already replaced
        self._up.clear()
        failure = self._kill_reason
        calls = self._calls.take_all()
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
