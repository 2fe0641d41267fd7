"""An endpoint scaled to zero instances: requests queue, wake the autoscaler, and are served
by the cold start, or dropped at the queue's deadline, or failed with the start's error."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from modelmart.errors import ModelMartError, NotReady, Overloaded
from modelmart.schemas.deployments import Isolation
from modelmart.serving.batcher import Admission
from modelmart.serving.local import LocalEndpoint, LocalPlacement
from modelmart.serving.placement import EndpointSpec

from .fakes import fake_instance, rows, served


async def scaled_to_zero(
    max_wait_s: float = 5.0, **parameters: float | str
) -> tuple[LocalEndpoint, list[str]]:
    target = served(**parameters)  # type: ignore[arg-type]
    spec = EndpointSpec(name="cold", target=target, isolation=Isolation.THREAD, timeout_s=5.0)
    placement = LocalPlacement(instance_factory=fake_instance, admission=Admission(8, max_wait_s))
    endpoint = await placement.start(spec)
    assert isinstance(endpoint, LocalEndpoint)
    wakes: list[str] = []
    endpoint.on_cold_demand(lambda: wakes.append("woken"))
    await endpoint.apply(dataclasses.replace(endpoint.spec, instances=0))
    assert endpoint.status().ready_instances == 0
    return endpoint, wakes


async def test_a_request_waits_for_the_cold_start_it_asked_for() -> None:
    endpoint, wakes = await scaled_to_zero()
    waiting = asyncio.create_task(endpoint.predict(rows(2.0)))
    await asyncio.sleep(0.05)
    assert wakes == ["woken"]
    assert endpoint.status().queue_depth == 1  # the autoscaler's signal: demand, no instance
    await endpoint.apply(dataclasses.replace(endpoint.spec, instances=1))
    assert (await waiting).outputs["y"].tolist() == [[4.0, 4.0]]
    await endpoint.close()


async def test_without_a_start_the_request_is_dropped_at_the_queue_deadline() -> None:
    endpoint, _ = await scaled_to_zero(max_wait_s=0.2)
    with pytest.raises(Overloaded, match=r"waited 0\.2 s"):
        await endpoint.predict(rows(1.0))
    await endpoint.close()


async def test_a_failed_cold_start_fails_the_waiting_requests_and_stays_at_zero(
    tmp_path: Path,
) -> None:
    marker = tmp_path / "broken"
    endpoint, _ = await scaled_to_zero(refuse_load_when=str(marker))
    waiting = asyncio.create_task(endpoint.predict(rows(1.0)))
    await asyncio.sleep(0.05)
    marker.touch()  # the model no longer loads
    with pytest.raises(ValueError, match="refuses to load"):  # the fake's own load error
        await endpoint.apply(dataclasses.replace(endpoint.spec, instances=1))
    with pytest.raises(ModelMartError, match="refuses to load"):
        await waiting
    assert endpoint.spec.instances == 0  # the next request asks for another start
    await endpoint.close()


async def test_closing_at_zero_fails_what_is_queued() -> None:
    endpoint, _ = await scaled_to_zero()
    waiting = asyncio.create_task(endpoint.predict(rows(1.0)))
    await asyncio.sleep(0.05)
    await endpoint.close()
    with pytest.raises(NotReady, match="shutting down"):
        await waiting
