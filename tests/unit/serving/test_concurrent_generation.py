"""Many generations at once on one instance: the toy batching engine behind a thread or a
worker process, and the local endpoint's slots, queue limit and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from modelmart.errors import Overloaded, WorkerCrashed
from modelmart.runtimes.base import LoadRequest
from modelmart.runtimes.generation import GenerationDone, GenerationEvent, TextDelta
from modelmart.schemas.deployments import Isolation
from modelmart.serving.instances import Instance, ProcessInstance, ThreadInstance
from modelmart.serving.local import LocalEndpoint
from modelmart.serving.placement import EndpointSpec, ServedVersion
from modelmart.types import ArtifactFormat, RuntimeName
from tests.unit.runtimes.toy_backend import CRASH, make_toy
from tests.unit.serving.generation_fakes import ask


def toy_target(**parameters: object) -> ServedVersion:
    load = LoadRequest(Path("/nonexistent"), ArtifactFormat.GGUF, parameters=dict(parameters))
    return ServedVersion(model="toy", version=1, runtime=RuntimeName.LLAMA_CPP, load=load)


def toy_instance(target: ServedVersion, isolation: Isolation) -> Instance:
    kind = ProcessInstance if isolation is Isolation.PROCESS else ThreadInstance
    return kind(target.runtime, target.load, make_toy)


async def collect(events: AsyncGenerator[GenerationEvent, None]) -> tuple[str, GenerationDone]:
    text = ""
    async with contextlib.aclosing(events):
        async for event in events:
            if isinstance(event, TextDelta):
                text += event.text
            else:
                return text, event
    raise AssertionError("no GenerationDone")


@pytest.fixture(params=[Isolation.THREAD, Isolation.PROCESS])
async def instance(request: pytest.FixtureRequest) -> AsyncIterator[Instance]:
    started = toy_instance(toy_target(), request.param)
    await started.start(30)
    yield started
    await started.stop()


PROMPTS = [f"question number {n}" for n in range(8)]


async def test_generations_run_together_and_each_equals_its_answer_alone(
    instance: Instance,
) -> None:
    assert (instance.generative, instance.parallel) == (True, 4)
    alone = [
        await collect(instance.generate(ask(p, max_tokens=30, temperature=0), 10)) for p in PROMPTS
    ]
    together = await asyncio.gather(
        *(collect(instance.generate(ask(p, max_tokens=30, temperature=0), 10)) for p in PROMPTS)
    )
    assert [text for text, _ in together] == [text for text, _ in alone]
    assert all(done.completion_tokens == 30 for _, done in together)


async def test_leaving_early_cancels_only_that_generation(instance: Instance) -> None:
    endless = instance.generate(ask("go on and on", max_tokens=400, temperature=0), 10)
    assert isinstance(await anext(endless), TextDelta)
    other = asyncio.create_task(
        collect(instance.generate(ask("short", max_tokens=5, temperature=0), 10))
    )
    await endless.aclose()
    text, done = await other
    assert (len(text), done.completion_tokens) == (5, 5)
    async with asyncio.timeout(5):
        while instance.stats.running:
            await asyncio.sleep(0.01)


async def test_a_chat_model_answers_batches_through_its_engine(instance: Instance) -> None:
    outputs = await instance.predict({"text": np.array(PROMPTS[:3], dtype=object)}, 10)
    alone, _ = await collect(instance.generate(ask(PROMPTS[1], temperature=0), 10))
    assert outputs["completion"].shape == (3,)
    assert outputs["completion"][1] == alone


async def test_a_crash_fails_every_generation_in_flight_and_the_worker_restarts() -> None:
    instance = toy_instance(toy_target(delay_s=0.05), Isolation.PROCESS)
    await instance.start(30)
    try:
        # Both fit the toy's 512 KV cells at once, so both are running when the crash comes.
        running = [
            instance.generate(ask(p, max_tokens=200, temperature=0), 10) for p in PROMPTS[:2]
        ]
        for events in running:
            assert isinstance(await anext(events), TextDelta)
        with pytest.raises(WorkerCrashed, match="exit code 7"):
            await collect(instance.generate(ask(CRASH), 10))
        for events in running:
            with pytest.raises(WorkerCrashed):
                await collect(events)
        assert not instance.broken
        assert (await collect(instance.generate(ask("after", max_tokens=3, temperature=0), 10)))[
            1
        ].completion_tokens == 3
    finally:
        await instance.stop()


class Timings:
    def __init__(self) -> None:
        self.first: list[float] = []
        self.next: list[float] = []
        self.done: list[GenerationDone] = []

    def first_token(self, deployment: str, seconds: float) -> None:
        self.first.append(seconds)

    def next_token(self, deployment: str, seconds: float) -> None:
        self.next.append(seconds)

    def finished(self, deployment: str, done: GenerationDone) -> None:
        self.done.append(done)


def spec(**parameters: object) -> EndpointSpec:
    """A toy deployment whose four running answers (parallel 4) fit its 512 KV cells and
    take a few seconds, so they are all in flight while a test looks."""
    target = toy_target(delay_s=0.02, **parameters)
    return EndpointSpec(name="toy", target=target, isolation=Isolation.THREAD)


async def test_an_endpoint_runs_parallel_generations_per_instance_then_queues() -> None:
    timings = Timings()
    endpoint = LocalEndpoint(spec(), instance_factory=toy_instance, generation_observer=timings)
    await endpoint.start()
    try:
        running = [endpoint.generate(ask(p, max_tokens=100, temperature=0)) for p in PROMPTS[:4]]
        for events in running:  # all four start: one instance takes parallel = 4
            await anext(events)
        fifth = asyncio.create_task(
            collect(endpoint.generate(ask("fifth", max_tokens=3, temperature=0)))
        )
        await asyncio.sleep(0.05)
        assert not fifth.done()
        assert endpoint.status().queue_depth == 1
        await running[0].aclose()
        assert (await fifth)[1].completion_tokens == 3
        for events in running[1:]:
            await events.aclose()
        assert len(timings.first) == 5
        assert timings.next
        assert len(timings.done) == 1
        stats = endpoint.generation_stats()
        assert stats.kv_capacity == 512
        assert stats.kv_tokens <= 512
    finally:
        await endpoint.close()


@pytest.mark.parametrize(
    "limited",
    [
        spec(queue_limit=1),  # the version's parameter
        dataclasses.replace(spec(queue_limit=8), max_queued=1),  # the deployment's own first
    ],
    ids=["version", "deployment"],
)
async def test_a_full_endpoint_queue_is_refused_with_overloaded(limited: EndpointSpec) -> None:
    endpoint = LocalEndpoint(limited, instance_factory=toy_instance)
    await endpoint.start()
    try:
        assert endpoint.status().queue_limit == 1
        running = [endpoint.generate(ask(p, max_tokens=100, temperature=0)) for p in PROMPTS[:4]]
        for events in running:
            await anext(events)
        waiting = asyncio.create_task(
            collect(endpoint.generate(ask("waits", max_tokens=2, temperature=0)))
        )
        await asyncio.sleep(0.05)
        with pytest.raises(Overloaded):
            await anext(endpoint.generate(ask("refused")))
        for events in running:
            await events.aclose()
        assert (await waiting)[1].completion_tokens == 2
    finally:
        await endpoint.close()
