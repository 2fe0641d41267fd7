"""The embedded placement: instances run on this machine, fed by one batcher per endpoint.

Generations go to the generative instance with the fewest running, up to ``parallel`` each
(the deployment parameter the llama.cpp runtime reads); beyond that they wait here, in a
queue bounded by the deployment's ``max_queued_requests``, else its version's ``queue_limit``
parameter (default 64), and are refused with :class:`~modelmart.errors.Overloaded` when it is
full.

An instance that breaks for good (its restart after a crash failed) leaves service at once and
is replaced in the background, with a bounded :class:`Backoff`; while no instance is up, the
endpoint refuses requests instead of queueing them for nobody.

An endpoint the autoscaler scaled to zero instances is different: it still takes requests,
queues them (each waits at most the queue's deadline) and wakes the autoscaler, which starts
an instance for them (a cold start).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Protocol

from modelmart.arrays import Batch
from modelmart.energy.meters import EnergySetup
from modelmart.errors import InferenceError, ModelMartError, NotReady, Overloaded
from modelmart.runtimes.generation import (
    EngineStats,
    GenerationDone,
    GenerationEvent,
    GenerationRequest,
)
from modelmart.runtimes.parameters import positive_int_parameter
from modelmart.schemas.deployments import Isolation
from modelmart.serving.batcher import Admission, Batcher, ClientGone, GatheredBatch
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
DEFAULT_QUEUE_LIMIT = 64

logger = logging.getLogger("modelmart.serving")


@dataclass(eq=False)
class _Worker:
    """An instance and the task that feeds it batches."""

    instance: Instance
    version: int
    task: asyncio.Task[None] | None = None
    idle: bool = True
    retiring: bool = False
    generating: int = 0
    slots: list[_Slot] = dataclasses.field(default_factory=list)


@dataclass(eq=False)
class _Slot:
    """One of the ``parallel`` generations an instance takes at once."""

    worker: _Worker


class _SlotLeases(Leases[_Slot]):
    """Lends the slot of the least busy instance, so generations spread evenly."""

    @property
    def has_idle(self) -> bool:
        return bool(self._idle)

    async def acquire(self) -> _Slot:
        if self._idle:
            slot = min(self._idle, key=lambda s: s.worker.generating)
            self._idle.remove(slot)
            self.lent += 1
            return slot
        return await super().acquire()


class GenerationObserver(Protocol):
    """Told the timing of every generation's tokens, for the deployment's metrics."""

    def first_token(self, deployment: str, seconds: float) -> None: ...

    def next_token(self, deployment: str, seconds: float) -> None: ...

    def finished(self, deployment: str, done: GenerationDone) -> None: ...


InstanceFactory = Callable[[ServedVersion, Isolation], Instance]


@dataclass(frozen=True)
class Backoff:
    """How a broken instance is replaced: up to ``attempts`` starts, the first after
    ``first_delay_s``, each later one after twice the previous wait but at most
    ``max_delay_s``. Bounded, so a model that no longer loads is not retried forever."""

    attempts: int = 6
    first_delay_s: float = 1.0
    max_delay_s: float = 60.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or not 0 <= self.first_delay_s <= self.max_delay_s:
            raise ValueError(
                f"a backoff of {self.attempts} attempts waiting {self.first_delay_s} s up to "
                f"{self.max_delay_s} s; expected at least 1 attempt and "
                "0 <= first_delay_s <= max_delay_s"
            )

    def delays(self) -> list[float]:
        """The wait before each attempt: [1, 2, 4, 8, 16, 32] seconds by default."""
        return [min(self.first_delay_s * 2**n, self.max_delay_s) for n in range(self.attempts)]


DEFAULT_BACKOFF = Backoff()


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def share_of_cores(
    target: ServedVersion, instances: int, cpus: tuple[int, ...] = ()
) -> ServedVersion:
    """``target`` pinned to ``cpus``, with a ``threads`` parameter of its cores (``cpus``, else
    this machine's) divided among the deployment's ``instances``, unless its version sets one.
    Each runtime otherwise sizes its thread pool to the whole machine, and two instances of a
    model on two cores would run four spinning threads that wait for each other at every
    layer."""
    pinned = dataclasses.replace(target, load=dataclasses.replace(target.load, cpus=cpus))
    return with_thread_count(pinned, max(1, (len(cpus) or usable_cores()) // max(1, instances)))


def with_thread_count(target: ServedVersion, threads: int) -> ServedVersion:
    """``target`` with a ``threads`` parameter of ``threads``, unless its version sets one."""
    load = target.load
    if "threads" in load.parameters:
        return target
    parameters = {**load.parameters, "threads": threads}
    return dataclasses.replace(target, load=dataclasses.replace(load, parameters=parameters))


def new_instance(
    target: ServedVersion, isolation: Isolation, energy: EnergySetup | None = None
) -> Instance:
    """The default factory: a worker process, or a thread in this process. The server
    binds ``energy`` (how batches are measured) with ``functools.partial``."""
    instance_class = ProcessInstance if isolation is Isolation.PROCESS else ThreadInstance
    return instance_class(target.runtime, target.load, energy=energy)


class LocalEndpoint(Endpoint):
    """One deployment served by local instances.

    Batches reach instances through the batcher; generations each lease one of an
    instance's ``parallel`` slots for as long as they stream
    (:class:`~modelmart.serving.leases.Leases`), and the instance's engine decodes them
    together.
    """

    def __init__(
        self,
        spec: EndpointSpec,
        observer: BatchObserver | None = None,
        instance_factory: InstanceFactory = new_instance,
        backoff: Backoff = DEFAULT_BACKOFF,
        admission: Admission | None = None,
        generation_observer: GenerationObserver | None = None,
    ) -> None:
        self.spec = spec
        self._observer = observer
        self._generation_observer = generation_observer
        self._new_instance = instance_factory
        self._backoff = backoff
        self._default_admission = admission or Admission()
        self._batcher = Batcher(
            spec.max_batch_size,
            spec.max_delay_ms / 1000,
            self._admission_of(spec),
            name=f"deployment {spec.name!r}",
        )
        self._workers: list[_Worker] = []
        self._leases = _SlotLeases()
        self._replacing: set[asyncio.Task[None]] = set()
        self._starting = 0
        self._running_requests = 0  # requests in batches an instance is running
        self._cold_starting = False  # starting the first instance after scaling to zero
        self._wake: Callable[[], None] | None = None  # the autoscaler, for a cold start
        self._closing = asyncio.Event()  # an event, so a replacement's backoff ends early
        # Serialises every change of instances: an apply and a replacement must not both
        # count the same missing instance and start one each.
        self._apply_lock = asyncio.Lock()
        self._energy_uj = 0  # what every batch and generation used, for the metrics

    async def start(self) -> None:
        # At least one instance: its signature is what requests are validated against.
        self.spec = dataclasses.replace(self.spec, instances=max(1, self.spec.instances))
        workers = await self._start_workers(self.spec.target, self.spec.instances)
        self._activate(workers)

    def on_cold_demand(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    def _admission_of(self, spec: EndpointSpec) -> Admission:
        """The server's admission, with the deployment's own queue limit where it has one."""
        if spec.max_queued is None:
            return self._default_admission
        return dataclasses.replace(self._default_admission, max_queued=spec.max_queued)

    def admit(self) -> None:
        self._batcher.admit()

    async def predict(self, inputs: Batch, gone: ClientGone | None = None) -> Prediction:
        self._check_serving()
        served = await self._batcher.submit(inputs, gone)
        return Prediction(served.outputs, self.spec.target.model, served.version, served.energy_uj)

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationEvent, None]:
        self._check_serving()
        if not self.generative:
            raise not_generative(self.spec.name)
        if not self._leases.has_idle and self._leases.waiting >= self._queue_limit():
            raise Overloaded(
                f"deployment {self.spec.name!r} already has {self._leases.waiting} generations "
                "waiting; retry shortly, or scale it (instances, parallel, queue_limit)",
                retry_after_s=1,
            )
        slot = await self._lease_slot()
        worker = slot.worker
        worker.generating += 1
        try:
            events = worker.instance.generate(request, self.spec.timeout_s)
            async for event in self._observed(events):
                yield event
        finally:
            worker.generating -= 1
            self._leases.release(slot)
            if worker.instance.broken:
                self._lose(worker)

    async def _observed(
        self, events: AsyncGenerator[GenerationEvent, None]
    ) -> AsyncGenerator[GenerationEvent, None]:
        """``events``, timed for the metrics: the first token, the gaps between the next."""
        observer = self._generation_observer
        started = last = time.perf_counter()
        first = True
        async with contextlib.aclosing(events):
            async for event in events:
                now = time.perf_counter()
                if isinstance(event, GenerationDone):
                    self._energy_uj += event.energy_uj
                if observer is not None:
                    if isinstance(event, GenerationDone):
                        observer.finished(self.spec.name, event)
                    elif first:
                        observer.first_token(self.spec.name, now - started)
                    else:
                        observer.next_token(self.spec.name, now - last)
                first, last = False, now
                yield event

    async def _lease_slot(self) -> _Slot:
        if self._active_workers():
            return await self._leases.acquire()
        # A cold start: wait for its instance no longer than a batch request would.
        limit = self._batcher.admission.max_wait_s
        try:
            return await asyncio.wait_for(self._leases.acquire(), limit)
        except TimeoutError:
            raise Overloaded(
                f"deployment {self.spec.name!r} was scaled to zero and its instance did not "
                f"start within {limit:g} s; retry shortly",
                retry_after_s=max(1, round(limit)),
            ) from None

    def _queue_limit(self) -> int:
        """Generations that may wait: the deployment's own limit, else its version's
        ``queue_limit`` parameter, else the default."""
        parameters = self.spec.target.load.parameters
        return (
            self.spec.max_queued
            or positive_int_parameter(parameters, "queue_limit")
            or DEFAULT_QUEUE_LIMIT
        )

    def generation_stats(self) -> EngineStats:
        """What the engines of the active instances last reported, added up."""
        stats = [worker.instance.stats for worker in self._active_workers()]
        return EngineStats(
            running=sum(s.running for s in stats),
            waiting=sum(s.waiting for s in stats) + self._leases.waiting,
            kv_tokens=sum(s.kv_tokens for s in stats),
            kv_capacity=sum(s.kv_capacity for s in stats),
        )

    async def apply(self, spec: EndpointSpec) -> None:
        async with self._apply_lock:
            old = self.spec
            self._batcher.max_batch_size = spec.max_batch_size
            self._batcher.max_delay_s = spec.max_delay_ms / 1000
            self._batcher.admission = self._admission_of(spec)
            if (spec.target, spec.isolation, spec.cpus) != (old.target, old.isolation, old.cpus):
                # A new version loads at least once, even scaled to zero: to prove it loads
                # and learn its signature (the autoscaler takes it down again when idle).
                spec = dataclasses.replace(spec, instances=max(1, spec.instances))
                replacements = await self._start_workers(spec.target, spec.instances, spec)
                self.spec = spec
                retiring = self._active_workers()
                self._activate(replacements)
                await self._retire(retiring)
                return
            self.spec = spec
            active = self._active_workers()
            if spec.instances > len(active):
                cold = not active and old.instances == 0
                self._cold_starting = cold
                try:
                    extra = await self._start_workers(spec.target, spec.instances - len(active))
                except Exception as exc:
                    if cold:  # tell the requests waiting for it why it failed
                        self._fail_cold_start(old, exc)
                    raise
                finally:
                    self._cold_starting = False
                self._activate(extra)
            elif spec.instances < len(active):
                await self._retire(active[spec.instances :])

    def _fail_cold_start(self, old: EndpointSpec, error: Exception) -> None:
        """Back to zero instances: the requests that waited fail with the load error, and the
        next request tries another start."""
        self.spec = old
        failure = error if isinstance(error, ModelMartError) else InferenceError(repr(error))
        self._batcher.fail_queued(failure)
        self._leases.fail_waiters(failure)

    def status(self) -> EndpointStatus:
        return EndpointStatus(
            ready_instances=len(self._active_workers()),
            starting_instances=self._starting,
            version=self.spec.target.version,
            queue_depth=self._batcher.queue_depth + self._leases.waiting,
            queue_limit=self._queue_limit()
            if self.generative
            else self._batcher.admission.max_queued,
            rejected=self._batcher.counts.rejected,
            dropped=self._batcher.counts.expired + self._batcher.counts.abandoned,
            running=self._running_requests + self._leases.lent,
            energy_uj=self._energy_uj,
        )

    async def close(self) -> None:
        self._closing.set()
        if not self._active_workers() and not self._starting:
            # Scaled to zero: nothing would ever take what is queued.
            error = NotReady(f"deployment {self.spec.name!r} is shutting down")
            self._batcher.fail_queued(error)
            self._leases.fail_waiters(error)
        while (
            self._batcher.queue_depth
            or self._batcher.running
            or self._leases.lent
            or self._leases.waiting
        ):
            await asyncio.sleep(_DRAIN_POLL_S)
        # A replacement that is loading finishes first, so its instance is stopped below.
        await asyncio.gather(*list(self._replacing), return_exceptions=True)
        await self._retire(list(self._workers))

    def _check_serving(self) -> None:
        if self._closing.is_set():
            raise NotReady(f"deployment {self.spec.name!r} is shutting down")
        if self._active_workers() or self._cold_starting:
            return
        if self.spec.instances == 0:  # scaled to zero: queue it and ask for a cold start
            if self._wake is not None:
                self._wake()
            return
        raise self._no_instance_up()

    def _no_instance_up(self) -> NotReady:
        if self._replacing:
            return NotReady(
                f"deployment {self.spec.name!r} has no instance up: its model failed and a "
                "replacement is starting; retry in a moment"
            )
        return NotReady(
            f"deployment {self.spec.name!r} has no instance up: its model failed and could "
            "not be started again; the server's log has the load error. Fix the model, then "
            "deploy it again"
        )

    async def _start_workers(
        self, target: ServedVersion, count: int, spec: EndpointSpec | None = None
    ) -> list[_Worker]:
        spec = spec or self.spec
        shared = share_of_cores(target, spec.instances, spec.cpus)
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
            if worker.instance.generative:
                worker.slots = [_Slot(worker) for _ in range(max(1, worker.instance.parallel))]
            for slot in worker.slots:
                self._leases.add(slot)

    def _active_workers(self) -> list[_Worker]:
        return [worker for worker in self._workers if not worker.retiring]

    async def _retire(self, workers: list[_Worker]) -> None:
        """Stop feeding ``workers``; each finishes its current batch, then unloads."""
        for worker in workers:
            worker.retiring = True
            for slot in worker.slots:
                self._leases.remove(slot)
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
            if worker.instance.broken:
                self._lose(worker)

    def _lose(self, worker: _Worker) -> None:
        """Take ``worker``, whose instance broke for good, out of service and replace it."""
        if worker.retiring:
            return  # already on its way out: scaled down, swapped or lost before
        worker.retiring = True
        for slot in worker.slots:
            self._leases.remove(slot)
        logger.warning("an instance of %s broke; starting a replacement", self.spec.name)
        task = asyncio.create_task(self._replace(worker), name=f"replace-{self.spec.name}")
        self._replacing.add(task)
        task.add_done_callback(self._replacing.discard)
        if not self._active_workers():
            # Nothing would ever take these: waiting for a replacement that may never load
            # would hang them, and a 503 tells their clients to retry.
            error = self._no_instance_up()
            self._batcher.fail_queued(error)
            self._leases.fail_waiters(error)

    async def _replace(self, broken: _Worker) -> None:
        """Stop ``broken``, then start an instance in its place, backing off between failed
        starts, until one is up, the endpoint has its instances again or it closes."""
        await self._retire([broken])
        for attempt, delay in enumerate(self._backoff.delays(), start=1):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), delay)
            async with self._apply_lock:
                if self._closing.is_set() or len(self._active_workers()) >= self.spec.instances:
                    return
                try:
                    self._activate(await self._start_workers(self.spec.target, 1))
                except Exception:  # any load failure: back off and try again
                    logger.warning(
                        "replacing an instance of %s: start %d of %d failed",
                        self.spec.name,
                        attempt,
                        self._backoff.attempts,
                        exc_info=True,
                    )
                else:
                    return
        logger.error(
            "gave up replacing an instance of %s after %d failed starts; it serves with %d of "
            "%d instances until it is deployed again",
            self.spec.name,
            self._backoff.attempts,
            len(self._active_workers()),
            self.spec.instances,
        )

    async def _run(self, worker: _Worker, gathered: GatheredBatch) -> None:
        started = time.perf_counter()
        self._running_requests += len(gathered.requests)
        try:
            measured = await worker.instance.predict_measured(
                gathered.merged_inputs(), self.spec.timeout_s
            )
        except ModelMartError as exc:
            gathered.fail(exc)
        except Exception as exc:  # a bug below must fail the batch, never the serving loop
            gathered.fail(InferenceError(f"serving the batch failed: {exc!r}"))
        else:
            gathered.deliver(measured.outputs, worker.version, measured.energy_uj)
            self._energy_uj += measured.energy_uj
            self._batcher.observe(gathered.size, time.perf_counter() - started)
        finally:
            self._running_requests -= len(gathered.requests)
        if self._observer is not None:
            self._observer(self.spec.name, gathered.size, time.perf_counter() - started)


class LocalPlacement(Placement):
    """Runs every endpoint on this machine."""

    def __init__(
        self,
        observer: BatchObserver | None = None,
        instance_factory: InstanceFactory = new_instance,
        backoff: Backoff = DEFAULT_BACKOFF,
        admission: Admission | None = None,
        generation_observer: GenerationObserver | None = None,
    ) -> None:
        self._observer = observer
        self._instance_factory = instance_factory
        self._backoff = backoff
        self._admission = admission
        self._generation_observer = generation_observer

    async def start(self, spec: EndpointSpec) -> Endpoint:
        endpoint = LocalEndpoint(
            spec,
            self._observer,
            self._instance_factory,
            self._backoff,
            admission=self._admission,
            generation_observer=self._generation_observer,
        )
        await endpoint.start()
        return endpoint
