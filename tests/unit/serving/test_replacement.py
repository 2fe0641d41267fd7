"""An instance whose restart failed leaves service at once and is replaced in the background.

The fake instances run in threads and act out what a worker process does: a ``CRASH`` row (or
a ``CRASH_MIDWAY`` chat message) fails its call, and the restart after it works or not as their
``Fleet`` says.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import Any

import pytest

from modelmart.arrays import Batch
from modelmart.errors import InvalidArtifact, NotReady, WorkerCrashed
from modelmart.runtimes.generation import GenerationRequest, TextDelta
from modelmart.schemas.deployments import Isolation
from modelmart.serving.instances import RuntimeFactory, ThreadInstance
from modelmart.serving.local import Backoff, LocalEndpoint
from modelmart.serving.placement import EndpointSpec, ServedVersion
from modelmart.types import Signature

from .fakes import CRASH, make_runtime, rows, served
from .generation_fakes import CRASH_MIDWAY, ask, chat_target, make_generator

PATIENT = Backoff(attempts=2, first_delay_s=60, max_delay_s=60)  # no replacement within a test
QUICK = Backoff(attempts=3, first_delay_s=0.01, max_delay_s=0.02)


class Fleet:
    """Makes the fake instances and scripts them."""

    def __init__(self, runtime_factory: RuntimeFactory = make_runtime) -> None:
        self.runtime_factory = runtime_factory
        self.instances: list[FragileInstance] = []
        self.restarts_fail = True
        self.failing_starts = 0  # how many of the next starts fail to load
        self.starts_allowed = threading.Event()
        self.starts_allowed.set()

    def __call__(self, target: ServedVersion, isolation: Isolation) -> FragileInstance:
        instance = FragileInstance(self, target)
        self.instances.append(instance)
        return instance

    def loaded(self) -> list[FragileInstance]:
        return [instance for instance in self.instances if instance.loaded]


class FragileInstance(ThreadInstance):
    def __init__(self, fleet: Fleet, target: ServedVersion) -> None:
        super().__init__(target.runtime, target.load, fleet.runtime_factory)
        self.fleet = fleet
        self.loaded = False
        self.stopped = False
        self.rows_served = 0

    def _start_blocking(self, timeout_s: float) -> Signature:
        assert self.fleet.starts_allowed.wait(10), "the test never let the start go on"
        if self.fleet.failing_starts > 0:
            self.fleet.failing_starts -= 1
            raise InvalidArtifact("the fake model no longer loads")
        signature = super()._start_blocking(timeout_s)
        self.loaded = True
        return signature

    def _predict_blocking(self, batch: Batch, timeout_s: float) -> Batch:
        if self.broken:
            raise NotReady("this model instance is restarting; retry in a moment")
        if batch["x"][0, 0] == CRASH:
            self._crash()
        self.rows_served += len(batch["x"])
        return super()._predict_blocking(batch, timeout_s)

    def _send(self, kind: str, rid: str, payload: Any) -> None:
        if kind == "generate":
            if self.broken:
                raise NotReady("this model instance is restarting; retry in a moment")
            request: GenerationRequest = payload
            if request.messages[-1].content == CRASH_MIDWAY:
                self._crash()
        super()._send(kind, rid, payload)

    def _crash(self) -> None:
        self.broken = self.fleet.restarts_fail
        raise WorkerCrashed("the fake worker died; it is being restarted")

    def _stop_blocking(self) -> None:
        self.stopped = True
        super()._stop_blocking()


def spec(instances: int = 2, max_batch_size: int = 8) -> EndpointSpec:
    return EndpointSpec(
        name="fragile",
        target=served(),
        instances=instances,
        max_batch_size=max_batch_size,
        isolation=Isolation.THREAD,
        timeout_s=5.0,
    )


async def started(fleet: Fleet, backoff: Backoff, endpoint_spec: EndpointSpec) -> LocalEndpoint:
    endpoint = LocalEndpoint(endpoint_spec, instance_factory=fleet, backoff=backoff)
    await endpoint.start()
    return endpoint


async def eventually(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.005)


async def test_a_failed_restart_takes_the_instance_out_and_batches_go_elsewhere() -> None:
    fleet = Fleet()
    endpoint = await started(fleet, PATIENT, spec(instances=2))
    with pytest.raises(WorkerCrashed):
        await endpoint.predict(rows(CRASH))
    assert endpoint.status().ready_instances == 1
    [broken] = [instance for instance in fleet.instances if instance.broken]
    [healthy] = [instance for instance in fleet.instances if not instance.broken]
    served_before = broken.rows_served

    results = await asyncio.gather(*(endpoint.predict(rows(i)) for i in range(30)))

    assert [r.outputs["y"][0, 0] for r in results] == [2.0 * i for i in range(30)]
    assert broken.rows_served == served_before
    assert healthy.rows_served == 30
    await eventually(lambda: broken.stopped)
    await endpoint.close()
    assert all(instance.stopped for instance in fleet.instances)


async def test_a_replacement_brings_the_ready_count_back_after_failed_starts() -> None:
    fleet = Fleet()
    endpoint = await started(fleet, QUICK, spec(instances=2))
    fleet.failing_starts = 2
    with pytest.raises(WorkerCrashed):
        await endpoint.predict(rows(CRASH))
    assert endpoint.status().ready_instances == 1

    await eventually(lambda: endpoint.status().ready_instances == 2)

    assert len(fleet.instances) == 2 + 3  # two failed starts, then the one that loaded
    assert endpoint.status().starting_instances == 0
    replacement = fleet.instances[-1]
    assert replacement.loaded
    assert not replacement.stopped
    results = await asyncio.gather(*(endpoint.predict(rows(i)) for i in range(30)))
    assert len(results) == 30
    await endpoint.close()


async def test_a_model_that_never_loads_again_is_retried_a_bounded_number_of_times(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fleet = Fleet()
    endpoint = await started(fleet, QUICK, spec(instances=2))
    fleet.failing_starts = 1000
    with pytest.raises(WorkerCrashed):
        await endpoint.predict(rows(CRASH))

    await eventually(lambda: "gave up replacing an instance of fragile" in caplog.text)
    await asyncio.sleep(0.1)

    assert len(fleet.instances) == 2 + QUICK.attempts
    assert endpoint.status().ready_instances == 1
    assert endpoint.status().starting_instances == 0
    assert (await endpoint.predict(rows(1))).outputs["y"].tolist() == [[2.0, 2.0]]
    await endpoint.close()


async def test_with_no_instance_up_requests_fail_fast_until_the_replacement_loads() -> None:
    fleet = Fleet()
    endpoint = await started(fleet, QUICK, spec(instances=1, max_batch_size=1))
    fleet.starts_allowed.clear()
    crashing = asyncio.create_task(endpoint.predict(rows(CRASH)))
    await asyncio.sleep(0)  # the crash is taken first; the next ones queue behind it
    queued = [asyncio.create_task(endpoint.predict(rows(i))) for i in range(3)]
    with pytest.raises(WorkerCrashed):
        await crashing
    for request in queued:  # failed at once, not left waiting for an instance that may never load
        with pytest.raises(NotReady, match="replacement is starting"):
            await request

    with pytest.raises(NotReady, match="'fragile' has no instance up"):
        await endpoint.predict(rows(1))
    await eventually(lambda: endpoint.status().starting_instances == 1)
    assert endpoint.status().ready_instances == 0

    fleet.starts_allowed.set()
    await eventually(lambda: endpoint.status().ready_instances == 1)
    assert (await endpoint.predict(rows(1))).outputs["y"].tolist() == [[2.0, 2.0]]
    await endpoint.close()


async def test_once_replacing_gives_up_with_no_instance_the_refusal_says_so() -> None:
    fleet = Fleet()
    endpoint = await started(fleet, QUICK, spec(instances=1))
    fleet.failing_starts = 1000
    with pytest.raises(WorkerCrashed):
        await endpoint.predict(rows(CRASH))
    await eventually(lambda: len(fleet.instances) == 1 + QUICK.attempts)
    await asyncio.sleep(0.05)
    with pytest.raises(NotReady, match="could not be started again"):
        await endpoint.predict(rows(1))
    assert endpoint.status().ready_instances == 0
    await endpoint.close()


async def test_a_crash_whose_restart_works_keeps_the_instance() -> None:
    fleet = Fleet()
    fleet.restarts_fail = False
    endpoint = await started(fleet, QUICK, spec(instances=2))
    with pytest.raises(WorkerCrashed):
        await endpoint.predict(rows(CRASH))
    await asyncio.sleep(0.05)
    assert endpoint.status().ready_instances == 2
    assert len(fleet.instances) == 2
    await endpoint.close()


async def test_closing_ends_a_replacement_that_waits_and_stops_every_instance() -> None:
    fleet = Fleet()
    endpoint = await started(fleet, PATIENT, spec(instances=2))
    with pytest.raises(WorkerCrashed):
        await endpoint.predict(rows(CRASH))
    async with asyncio.timeout(5):  # the backoff's minute-long wait ends with the endpoint
        await endpoint.close()
    assert len(fleet.instances) == 2
    assert all(instance.stopped for instance in fleet.instances)


async def answer(endpoint: LocalEndpoint, text: str) -> str:
    """The whole text the endpoint generates for ``text``."""
    events = endpoint.generate(ask(text))
    async with contextlib.aclosing(events):
        return "".join([event.text async for event in events if isinstance(event, TextDelta)])


async def test_a_generation_that_breaks_its_instance_takes_it_out_of_service() -> None:
    fleet = Fleet(make_generator)
    chat = EndpointSpec(name="chat", target=chat_target(), instances=2, isolation=Isolation.THREAD)
    endpoint = await started(fleet, PATIENT, chat)
    with pytest.raises(WorkerCrashed):
        await answer(endpoint, CRASH_MIDWAY)
    assert endpoint.status().ready_instances == 1
    # Every later generation goes to the healthy instance: the broken one would refuse it.
    assert [await answer(endpoint, "still here") for _ in range(3)] == ["still here "] * 3
    await endpoint.close()
