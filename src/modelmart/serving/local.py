"""The embedded placement: instances run on this machine, fed by one batcher per endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

from modelmart.arrays import Batch
from modelmart.errors import InferenceError, ModelMartError, NotReady
from modelmart.runtimes.generation import GenerationEvent, GenerationRequest
from modelmart.schemas.deployments import Isolation
from modelmart.serving.batcher import Batcher, GatheredBatch
from modelmart.serving.instances import Instance, ProcessInstance, ThreadInstance
from modelmart.serving.leases import Leases
from modelmart.serving.placement import (
    BatchObserver,
    Endpoint,
    EndpointSpec,
    EndpointStatus,
    Placement,
    Prediction,
    ServedVersion,
    not_generative,
)
from modelmart.types import Signature

_DRAIN_POLL_S = 0.01


@dataclass(eq=False)
class _Worker:
    """An instance and the task that feeds it batches."""

    instance: Instance
    version: int
    task: asyncio.Task[None] | None = None
    idle: bool = True
    retiring: bool = False


InstanceFactory = Callable[[ServedVersion, Isolation], Instance]


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def share_of_cores(target: ServedVersion, instances: int) -> ServedVersion:
    """``target`` with a ``threads`` parameter of this machine's cores divided among the
    deployment's ``instances``, unless its version sets one. Each runtime otherwise sizes its
    thread pool to the whole machine, and two instances of a model on two cores would run four
    spinning threads that wait for each other at every layer."""
    if "threads" in target.load.parameters:
        return target
    share = max(1, usable_cores() // max(1, instances))
    parameters = {**target.load.parameters, "threads": share}
    return dataclasses.replace(target, load=dataclasses.replace(target.load, parameters=parameters))


def new_instance(target: ServedVersion, isolation: Isolation) -> Instance:
    """The default factory: a worker process, or a thread in this process."""
    instance_class = ProcessInstance if isolation is Isolation.PROCESS else ThreadInstance
    return instance_class(target.runtime, target.load)


class LocalEndpoint(Endpoint):
    """One deployment served by local instances.

    Batches reach instances through the batcher; generations each lease one idle instance
    for as long as they stream (:class:`~modelmart.serving.leases.Leases`). An instance runs
    one call at a time either way.
    """

    def __init__(
        self,
        spec: EndpointSpec,
        observer: BatchObserver | None = None,
        instance_factory: InstanceFactory = new_instance,
    ) -> None:
        self.spec = spec
        self._observer = observer
        self._new_instance = instance_factory
        self._batcher = Batcher(spec.max_batch_size, spec.max_delay_ms / 1000)
        self._workers: list[_Worker] = []
        self._leases: Leases[_Worker] = Leases()
        self._starting = 0
        self._closed = False
        self._apply_lock = asyncio.Lock()

    async def start(self) -> None:
        workers = await self._start_workers(self.spec.target, self.spec.instances)
        self._activate(workers)

    async def predict(self, inputs: Batch) -> Prediction:
        if self._closed:
            raise NotReady(f"deployment {self.spec.name!r} is shutting down")
        outputs, version = await self._batcher.submit(inputs)
        return Prediction(outputs, self.spec.target.model, version)

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationEvent, None]:
        if self._closed:
            raise NotReady(f"deployment {self.spec.name!r} is shutting down")
        if not self.generative:
            raise not_generative(self.spec.name)
        worker = await self._leases.acquire()
        try:
            async for event in worker.instance.generate(request, self.spec.timeout_s):
                yield event
        finally:
            self._leases.release(worker)

    async def apply(self, spec: EndpointSpec) -> None:
        async with self._apply_lock:
            old = self.spec
            self._batcher.max_batch_size = spec.max_batch_size
            self._batcher.max_delay_s = spec.max_delay_ms / 1000
            if spec.target != old.target or spec.isolation != old.isolation:
                replacements = await self._start_workers(spec.target, spec.instances, spec)
                self.spec = spec
                retiring = self._active_workers()
                self._activate(replacements)
                await self._retire(retiring)
                return
            self.spec = spec
            active = self._active_workers()
            if spec.instances > len(active):
                extra = await self._start_workers(spec.target, spec.instances - len(active))
                self._activate(extra)
            elif spec.instances < len(active):
                await self._retire(active[spec.instances :])

    def status(self) -> EndpointStatus:
        return EndpointStatus(
            ready_instances=len(self._active_workers()),
            starting_instances=self._starting,
            version=self.spec.target.version,
            queue_depth=self._batcher.queue_depth + self._leases.waiting,
        )

    async def close(self) -> None:
        self._closed = True
        while (
            self._batcher.queue_depth
            or self._batcher.running
            or self._leases.lent
            or self._leases.waiting
        ):
            await asyncio.sleep(_DRAIN_POLL_S)
        await self._retire(list(self._workers))

    async def _start_workers(
        self, target: ServedVersion, count: int, spec: EndpointSpec | None = None
    ) -> list[_Worker]:
        spec = spec or self.spec
        shared = share_of_cores(target, spec.instances)
        instances = [self._new_instance(shared, spec.isolation) for _ in range(count)]
        self._starting += count
        try:
            results = await asyncio.gather(
                *(instance.start(spec.start_timeout_s) for instance in instances),
                return_exceptions=True,
            )
        finally:
            self._starting -= count
        signatures = [result for result in results if isinstance(result, Signature)]
        failure = next((r for r in results if isinstance(r, BaseException)), None)
        if failure is not None:
            await asyncio.gather(*(instance.stop() for instance in instances))
            raise failure
        self.signature = signatures[0]
        self.generative = instances[0].generative
        return [_Worker(instance, target.version) for instance in instances]

    def _activate(self, workers: list[_Worker]) -> None:
        for worker in workers:
            worker.task = asyncio.create_task(self._serve(worker), name=f"serve-{self.spec.name}")
            self._workers.append(worker)
            self._leases.add(worker)

    def _active_workers(self) -> list[_Worker]:
        return [worker for worker in self._workers if not worker.retiring]

    async def _retire(self, workers: list[_Worker]) -> None:
        """Stop feeding ``workers``; each finishes its current batch, then unloads."""
        for worker in workers:
            worker.retiring = True
            self._leases.remove(worker)
            if worker.idle and worker.task is not None:
                worker.task.cancel()  # next_batch is cancel-safe: no request is lost
        for worker in workers:
            if worker.task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await worker.task
            await worker.instance.stop()
            self._workers.remove(worker)

    async def _serve(self, worker: _Worker) -> None:
        while not worker.retiring:
            worker.idle = True
            gathered = await self._batcher.next_batch()
            worker.idle = False
            try:
                await self._run(worker, gathered)
            finally:
                self._batcher.finished()

    async def _run(self, worker: _Worker, gathered: GatheredBatch) -> None:
        started = time.perf_counter()
        try:
            outputs = await worker.instance.predict(gathered.merged_inputs(), self.spec.timeout_s)
        except ModelMartError as exc:
            gathered.fail(exc)
        except Exception as exc:  # a bug below must fail the batch, never the serving loop
            gathered.fail(InferenceError(f"serving the batch failed: {exc!r}"))
        else:
            gathered.deliver(outputs, worker.version)
            self._batcher.observe(gathered.size, time.perf_counter() - started)
        if self._observer is not None:
            self._observer(self.spec.name, gathered.size, time.perf_counter() - started)


class LocalPlacement(Placement):
    """Runs every endpoint on this machine."""

    def __init__(
        self,
        observer: BatchObserver | None = None,
        instance_factory: InstanceFactory = new_instance,
    ) -> None:
        self._observer = observer
        self._instance_factory = instance_factory

    async def start(self, spec: EndpointSpec) -> Endpoint:
        endpoint = LocalEndpoint(spec, self._observer, self._instance_factory)
        await endpoint.start()
        return endpoint
