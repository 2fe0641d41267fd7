"""A batch's energy is split among its requests: by rows for batches, by tokens for
generation. Fake meters make the amounts exact."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import numpy as np

from modelmart.energy.meters import EnergyMethod, Meter
from modelmart.runtimes.base import LoadRequest
from modelmart.runtimes.generation import GenerationDone, TextDelta, TextGenerator
from modelmart.serving.batcher import Batcher
from modelmart.serving.local import LocalEndpoint
from modelmart.serving.placement import EndpointSpec
from modelmart.serving.streaming import EngineLoop
from modelmart.types import ArtifactFormat, RuntimeName
from tests.unit.runtimes.toy_backend import make_toy
from tests.unit.serving.generation_fakes import ask

from .fakes import fake_instance, rows, served

STEP_UJ = 60


def loaded_toy() -> TextGenerator:
    runtime = make_toy(RuntimeName.LLAMA_CPP)
    runtime.load(LoadRequest(Path("/nonexistent"), ArtifactFormat.GGUF))
    assert isinstance(runtime, TextGenerator)
    return runtime


class FixedMeter(Meter):
    """Every engine call costs ``STEP_UJ``; counts its readings."""

    method = EnergyMethod.CPU_TIME

    def __init__(self) -> None:
        self.readings = 0

    def start(self) -> object:
        return None

    def stop(self, started: object) -> int:
        self.readings += 1
        return STEP_UJ


async def test_a_batch_is_split_among_its_requests_by_rows() -> None:
    batcher = Batcher(max_batch_size=16, max_delay_s=0)
    inputs = [rows(*range(count)) for count in (1, 2, 3)]
    tasks = [asyncio.create_task(batcher.submit(batch)) for batch in inputs]
    await asyncio.sleep(0)
    gathered = await batcher.next_batch()
    assert gathered.size == 6
    gathered.deliver({"y": gathered.merged_inputs()["x"]}, served_by=1, energy_uj=601)
    served_ = await asyncio.gather(*tasks)
    assert [result.energy_uj for result in served_] == [100, 200, 301]


class Collected:
    """The engine loop's sink: every message, and an event once ``expected`` ended."""

    def __init__(self, expected: int) -> None:
        self.messages: list[tuple[str, str, Any]] = []
        self.expected = expected
        self.finished = threading.Event()

    def __call__(self, kind: str, rid: str, payload: Any) -> None:
        self.messages.append((kind, rid, payload))
        if kind in {"end", "ok"} and sum(k in {"end", "ok"} for k, _, _ in self.messages) == (
            self.expected
        ):
            self.finished.set()

    def dones(self) -> dict[str, GenerationDone]:
        return {
            rid: payload
            for kind, rid, payload in self.messages
            if kind == "event" and isinstance(payload, GenerationDone)
        }


def test_generation_energy_is_split_by_tokens_and_adds_up() -> None:
    meter = FixedMeter()
    sink = Collected(expected=2)
    loop = EngineLoop(loaded_toy(), sink, meter)
    try:
        loop.submit("short", ask("one two", max_tokens=2, temperature=0.0))
        loop.submit("long", ask("one two", max_tokens=12, temperature=0.0))
        assert sink.finished.wait(30)
    finally:
        loop.stop()
    dones = sink.dones()
    assert set(dones) == {"short", "long"}
    assert dones["long"].completion_tokens > dones["short"].completion_tokens
    assert dones["short"].energy_uj > 0
    assert dones["long"].energy_uj > dones["short"].energy_uj  # more tokens, more energy
    # Nothing lost or counted twice: every reading went to one of the two.
    assert dones["short"].energy_uj + dones["long"].energy_uj == meter.readings * STEP_UJ


def test_a_batch_through_the_engine_carries_its_energy() -> None:
    meter = FixedMeter()
    sink = Collected(expected=1)
    loop = EngineLoop(loaded_toy(), sink, meter)
    try:
        loop.predict("batch", {"text": np.array(["one", "two three"], dtype=object)})
        assert sink.finished.wait(30)
    finally:
        loop.stop()
    ((_, _, (outputs, energy_uj)),) = [m for m in sink.messages if m[0] == "ok"]
    assert len(outputs["completion"]) == 2
    assert energy_uj == meter.readings * STEP_UJ > 0
    assert not any(isinstance(m[2], TextDelta) for m in sink.messages)


async def test_an_endpoints_requests_add_up_to_what_its_batches_used() -> None:
    spec = EndpointSpec(name="energy", target=served(delay_s=0.001), max_delay_ms=5)
    endpoint = LocalEndpoint(spec, instance_factory=fake_instance)
    await endpoint.start()
    try:
        predictions = await asyncio.gather(*(endpoint.predict(rows(i, i)) for i in range(24)))
    finally:
        await endpoint.close()
    total = sum(prediction.energy_uj for prediction in predictions)
    assert total > 0
    assert total == endpoint.status().energy_uj
