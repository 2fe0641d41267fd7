"""Model instances: one loaded runtime each, in a worker process or a thread.

``ProcessInstance`` isolates the model: a crash (even a segfault) or a hang fails only the batch
(or generation) that caused it, and the instance restarts itself; if that restart fails, the
instance is ``broken`` for good and its endpoint replaces it. ``ThreadInstance`` runs the
runtime in the server process — faster to start, no isolation — and is what unit tests use
with fake runtimes.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import multiprocessing.connection
import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from modelmart.arrays import Batch
from modelmart.errors import (
    InferenceTimeout,
    NotReady,
    WorkerCrashed,
    error_class_for,
)
from modelmart.runtimes.base import LoadRequest, Runtime, create_runtime
from modelmart.runtimes.generation import GenerationEvent, GenerationRequest, TextGenerator
from modelmart.serving.streaming import Emit, generate_here, relay_from_worker
from modelmart.serving.worker import error_payload, run_batch, worker_main
from modelmart.types import RuntimeName, Signature

RuntimeFactory = Callable[[RuntimeName], Runtime]

logger = logging.getLogger("modelmart.serving")


def raise_error_payload(payload: dict[str, Any]) -> None:
    """Re-raise an error body that crossed a process boundary as its own class."""
    body = payload["error"]
    raise error_class_for(body["code"])(body["message"], details=body.get("details"))


class _Finished:
    """Marks the end of a generation's events on the queue that relays them."""


_FINISHED = _Finished()


class Instance(ABC):
    """One loaded copy of a model version. Calls to ``predict`` and ``generate`` run one at a
    time, in the order they were made. ``generative`` says whether the loaded runtime can
    generate text (is a :class:`~modelmart.runtimes.generation.TextGenerator`). ``broken``
    turns true, for good, once the instance could not come back after a crash or a timeout:
    every later call fails, so it must receive none and be replaced."""

    generative: bool = False
    broken: bool = False

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
        # One thread per instance: the blocking half of every call runs there, in order.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="instance")

    @abstractmethod
    def _start_blocking(self, timeout_s: float) -> Signature: ...

    @abstractmethod
    def _predict_blocking(self, batch: Batch, timeout_s: float) -> Batch: ...

    @abstractmethod
    def _generate_blocking(
        self, request: GenerationRequest, timeout_s: float, emit: Emit, stop: threading.Event
    ) -> None: ...

    @abstractmethod
    def _stop_blocking(self) -> None: ...

    async def start(self, timeout_s: float) -> Signature:
        """Load the model; raise the load error (InvalidArtifact, ...) if it fails."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._start_blocking, timeout_s)

    async def predict(self, batch: Batch, timeout_s: float) -> Batch:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._predict_blocking, batch, timeout_s)

    async def generate(
        self, request: GenerationRequest, timeout_s: float
    ) -> AsyncGenerator[GenerationEvent, None]:
        """The generation's events as they come; raises the model's error, if any.

        ``timeout_s`` bounds the wait for each event. Leaving the loop early (or being
        cancelled) stops the generation; the instance is free again once it has stopped.
        """
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[GenerationEvent | _Finished] = asyncio.Queue()
        stop = threading.Event()

        def emit(item: GenerationEvent | _Finished) -> None:
            try:
                loop.call_soon_threadsafe(events.put_nowait, item)
            except RuntimeError:  # the event loop closed: nobody is listening any more
                stop.set()

        def run() -> None:
            try:
                self._generate_blocking(request, timeout_s, emit, stop)
            finally:
                emit(_FINISHED)

        finished = loop.run_in_executor(self._executor, run)
        try:
            while not isinstance(item := await events.get(), _Finished):
                yield item
            await finished  # re-raises the generation's error
        finally:
            # Only a flag: this may run inside a cancelled task, where awaiting is not allowed.
            stop.set()

    async def stop(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._stop_blocking)
        self._executor.shutdown(wait=False)


class ThreadInstance(Instance):
    """Runs the runtime in the server process. A hang is reported but cannot be killed."""

    _runtime: Runtime | None = None

    def _start_blocking(self, timeout_s: float) -> Signature:
        runtime = self.runtime_factory(self.runtime_name)
        runtime.load(self.request)
        self._runtime = runtime
        self.generative = isinstance(runtime, TextGenerator)
        return runtime.signature

    def _predict_blocking(self, batch: Batch, timeout_s: float) -> Batch:
        if self._runtime is None:
            raise NotReady("this model instance is not loaded; wait until the deployment is ready")
        kind, payload = run_batch(self._runtime, batch)
        if kind == "error":
            raise_error_payload(payload)
        result: Batch = payload
        return result

    def _generate_blocking(
        self, request: GenerationRequest, timeout_s: float, emit: Emit, stop: threading.Event
    ) -> None:
        if self._runtime is None:
            raise NotReady("this model instance is not loaded; wait until the deployment is ready")
        try:
            generate_here(self._runtime, request, emit, stop)
        except Exception as exc:  # as in a worker process: any model error, in ModelMart's terms
            raise_error_payload(error_payload(exc))

    def _stop_blocking(self) -> None:
        if self._runtime is not None:
            self._runtime.unload()
            self._runtime = None


class ProcessInstance(Instance):
    """Runs the runtime in its own process, restarted after a crash or a timeout."""

    _process: multiprocessing.process.BaseProcess | None = None
    _conn: multiprocessing.connection.Connection | None = None
    _start_timeout_s: float = 300.0

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
        kind, payload = self._receive(timeout_s, what="loading the model")
        if kind == "error":
            self._kill()
            raise_error_payload(payload)
        signature: Signature
        signature, self.generative = payload
        return signature

    def _predict_blocking(self, batch: Batch, timeout_s: float) -> Batch:
        if self._conn is None:
            raise NotReady("this model instance is restarting; retry in a moment")
        try:
            self._conn.send(("predict", batch))
            kind, payload = self._receive(timeout_s, what="running the batch")
        except (InferenceTimeout, WorkerCrashed):
            self._restart()
            raise
        if kind == "error":
            raise_error_payload(payload)
        outputs: Batch = payload
        return outputs

    def _generate_blocking(
        self, request: GenerationRequest, timeout_s: float, emit: Emit, stop: threading.Event
    ) -> None:
        if self._conn is None:
            raise NotReady("this model instance is restarting; retry in a moment")
        conn = self._conn
        what = "generating text"

        def receive(wait_s: float) -> tuple[str, Any] | None:
            try:
                return conn.recv() if conn.poll(wait_s) else None
            except (EOFError, OSError) as exc:
                raise self._crashed(what) from exc

        try:
            conn.send(("generate", request))
            kind, payload = relay_from_worker(conn, receive, timeout_s, emit, stop)
            if kind == "timeout":
                raise InferenceTimeout(
                    f"the model sent nothing for {timeout_s:g} s while {what}; its worker was "
                    "restarted. Raise the deployment's timeout_s or send a shorter prompt",
                    details={"timeout_s": timeout_s},
                )
        except (InferenceTimeout, WorkerCrashed):
            self._restart()
            raise
        if kind == "error":
            raise_error_payload(payload)

    def _receive(self, timeout_s: float, *, what: str) -> tuple[str, Any]:
        assert self._conn is not None
        try:
            if not self._conn.poll(timeout_s):
                raise InferenceTimeout(
                    f"the model took longer than {timeout_s:g} s {what}; its worker was "
                    "restarted. Raise the deployment's timeout_s or send smaller batches",
                    details={"timeout_s": timeout_s},
                )
            message: tuple[str, Any] = self._conn.recv()
        except (EOFError, OSError) as exc:
            raise self._crashed(what) from exc
        return message

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
        if self._conn is not None and self._process is not None:
            try:
                self._conn.send(("stop", None))
                self._process.join(timeout=10)
            except (OSError, BrokenPipeError):
                pass  # already gone; _kill below cleans up
        self._kill()
