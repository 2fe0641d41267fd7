"""The chat series of /metrics: token timings and counts from the endpoint, sequence and
KV-cache gauges read from the endpoints' engines at scrape time."""

from __future__ import annotations

import asyncio
import contextlib

from modelmart.gateway.observability import Metrics
from modelmart.runtimes.generation import GenerationDone
from modelmart.serving.local import LocalEndpoint
from modelmart.serving.placement import Endpoint
from tests.unit.serving.generation_fakes import ask
from tests.unit.serving.test_concurrent_generation import spec, toy_instance


def sample(exposition: bytes, name: str) -> float:
    for line in exposition.decode().splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} is not in the exposition")


async def test_generation_series_are_fed_and_scraped() -> None:
    endpoints: dict[str, Endpoint] = {}
    metrics = Metrics(lambda: endpoints)
    endpoint = LocalEndpoint(spec(), instance_factory=toy_instance, generation_observer=metrics)
    await endpoint.start()
    endpoints["toy"] = endpoint
    try:
        for _ in range(2):
            events = endpoint.generate(ask("the same prompt", max_tokens=4, temperature=0))
            async with contextlib.aclosing(events):
                done = [event async for event in events][-1]
        assert isinstance(done, GenerationDone)
        async with asyncio.timeout(5):  # the engine reports after its last step
            while endpoint.generation_stats().running:
                await asyncio.sleep(0.01)
        text = metrics.exposition(["toy"])
        assert sample(text, "modelmart_generated_tokens_total") == 8
        assert sample(text, "modelmart_prompt_tokens_total") == 2 * done.prompt_tokens
        assert sample(text, "modelmart_prompt_cached_tokens_total") == done.prompt_tokens - 1
        assert sample(text, "modelmart_time_to_first_token_seconds_count") == 2
        assert sample(text, "modelmart_inter_token_seconds_count") == 6
        assert sample(text, "modelmart_kv_cache_capacity_tokens") == 512
        assert sample(text, "modelmart_running_sequences") == 0
        assert b"modelmart_waiting_sequences" in text
    finally:
        await endpoint.close()
