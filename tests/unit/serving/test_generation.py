"""Streaming generation through instances and the local endpoint, with a fake chat runtime."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncGenerator, AsyncIterator

import pytest

from modelmart.errors import ContextLengthExceeded, InferenceError, InvalidRequest, WorkerCrashed
from modelmart.runtimes.generation import GenerationDone, GenerationEvent, TextDelta
from modelmart.schemas.deployments import Isolation
from modelmart.serving.instances import Instance, ProcessInstance, ThreadInstance
from modelmart.serving.local import LocalEndpoint
from modelmart.serving.placement import EndpointSpec
from tests.unit.serving.fakes import fake_instance, served
from tests.unit.serving.generation_fakes import (
    BROKEN,
    CRASH_MIDWAY,
    ENDLESS,
    TOO_LONG,
    EchoGenerator,
    ask,
    chat_target,
    generator_instance,
    make_generator,
)


async def collect(events: AsyncGenerator[GenerationEvent, None]) -> tuple[str, GenerationDone]:
    """The whole answer; closes ``events``, as every caller must, to free the instance."""
    text: list[str] = []
    async with contextlib.aclosing(events):
        async for event in events:
            if isinstance(event, TextDelta):
                text.append(event.text)
            else:
                return "".join(text), event
    raise AssertionError("the generation ended without GenerationDone")


async def take(events: AsyncGenerator[GenerationEvent, None], count: int) -> list[GenerationEvent]:
    taken = []
    async for event in events:
        taken.append(event)
        if len(taken) == count:
            break
    return taken


@pytest.fixture(params=[Isolation.THREAD, Isolation.PROCESS])
async def instance(request: pytest.FixtureRequest) -> AsyncIterator[Instance]:
    started = generator_instance(chat_target(), request.param)
    await started.start(30)
    yield started
    await started.stop()


async def test_instance_streams_every_word_then_done(instance: Instance) -> None:
    assert instance.generative
    text, done = await collect(instance.generate(ask("one two three"), 10))
    assert text == "one two three "
    assert done is not None
    assert done.energy_uj > 0  # measured by the engine loop, in the thread or the worker
    expected = GenerationDone(prompt_tokens=3, completion_tokens=3, finish_reason="stop")
    assert dataclasses.replace(done, energy_uj=0) == expected


async def test_leaving_early_stops_the_model_and_frees_the_instance(instance: Instance) -> None:
    # An endless generation that was not stopped would hold the instance forever, and the
    # next generation would never start.
    events = instance.generate(ask(ENDLESS), 10)
    assert len(await take(events, 3)) == 3
    await events.aclose()
    text, _ = await collect(instance.generate(ask("still here"), 10))
    assert text == "still here "
    if isinstance(instance, ThreadInstance):
        runtime = instance._runtime
        assert isinstance(runtime, EchoGenerator)
        assert runtime.stopped == 1


async def test_request_errors_come_before_any_event(instance: Instance) -> None:
    with pytest.raises(ContextLengthExceeded) as caught:
        await take(instance.generate(ask(TOO_LONG), 10), 1)
    assert caught.value.details == {"param": "x"}
    text, _ = await collect(instance.generate(ask("next one"), 10))
    assert text == "next one "


async def test_a_model_exception_fails_only_its_generation(instance: Instance) -> None:
    events = instance.generate(ask(BROKEN), 10)
    with pytest.raises(InferenceError, match="KeyError"):
        await collect(events)
    text, _ = await collect(instance.generate(ask("fine again"), 10))
    assert text == "fine again "


async def test_a_crash_mid_answer_is_reported_and_the_worker_restarts() -> None:
    instance = ProcessInstance(chat_target().runtime, chat_target().load, make_generator)
    await instance.start(30)
    try:
        events = instance.generate(ask(CRASH_MIDWAY), 10)
        assert await take(events, 1) == [TextDelta("crash ")]
        with pytest.raises(WorkerCrashed, match="generating text"):
            await take(events, 1)
        text, _ = await collect(instance.generate(ask("after the crash"), 10))
        assert text == "after the crash "
    finally:
        await instance.stop()


async def test_a_predict_only_model_refuses_to_generate() -> None:
    instance = fake_instance(served(), Isolation.THREAD)
    await instance.start(30)
    try:
        assert not instance.generative
        with pytest.raises(InvalidRequest, match="does not generate text"):
            await take(instance.generate(ask("hello"), 10), 1)
    finally:
        await instance.stop()


def spec(instances: int = 1, isolation: Isolation = Isolation.THREAD) -> EndpointSpec:
    return EndpointSpec(name="chat", target=chat_target(), instances=instances, isolation=isolation)


async def test_endpoint_spreads_generations_over_idle_instances() -> None:
    endpoint = LocalEndpoint(spec(instances=2), instance_factory=generator_instance)
    await endpoint.start()
    try:
        assert endpoint.generative
        first, second = endpoint.generate(ask(ENDLESS)), endpoint.generate(ask(ENDLESS))
        await take(first, 1)
        await take(second, 1)  # would wait forever if both were sent to the same instance
        third = asyncio.create_task(collect(endpoint.generate(ask("queued"))))
        await asyncio.sleep(0.05)
        assert not third.done()
        assert endpoint.status().queue_depth == 1
        await first.aclose()
        assert (await third)[0] == "queued "
        await second.aclose()
    finally:
        await endpoint.close()


async def test_a_waiting_request_that_gives_up_leaves_the_queue() -> None:
    endpoint = LocalEndpoint(spec(), instance_factory=generator_instance)
    await endpoint.start()
    try:
        busy = endpoint.generate(ask(ENDLESS))
        await take(busy, 1)
        waiting = asyncio.create_task(collect(endpoint.generate(ask("never"))))
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert endpoint.status().queue_depth == 0
        await busy.aclose()
        assert (await collect(endpoint.generate(ask("served"))))[0] == "served "
    finally:
        await endpoint.close()


async def test_endpoint_of_a_predict_only_model_refuses() -> None:
    endpoint = LocalEndpoint(spec(), instance_factory=fake_instance)
    endpoint.spec = EndpointSpec(name="plain", target=served(), isolation=Isolation.THREAD)
    await endpoint.start()
    try:
        assert not endpoint.generative
        with pytest.raises(InvalidRequest, match="'plain' serves a model that does not"):
            await take(endpoint.generate(ask("hello")), 1)
    finally:
        await endpoint.close()


async def test_a_closed_endpoint_refuses_new_generations() -> None:
    endpoint = LocalEndpoint(spec(), instance_factory=generator_instance)
    await endpoint.start()
    await endpoint.close()
    with pytest.raises(Exception, match="shutting down"):
        await take(endpoint.generate(ask("late")), 1)


async def test_scaling_down_retires_an_instance_after_its_generation() -> None:
    endpoint = LocalEndpoint(spec(instances=2), instance_factory=generator_instance)
    await endpoint.start()
    try:
        running = endpoint.generate(ask("one two"))
        assert await take(running, 1) == [TextDelta("one ")]
        await endpoint.apply(spec(instances=1))
        assert endpoint.status().ready_instances == 1
        assert (await collect(running))[0] == "two "
        assert (await collect(endpoint.generate(ask("after scaling"))))[0] == "after scaling "
    finally:
        await endpoint.close()
