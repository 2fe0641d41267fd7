"""The Ray placement against an in-memory cluster: shared named actors, who stops them, a lost
actor's batch retried once, readiness while it restarts, and chat models kept local."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import numpy as np
import pytest

from modelmart.errors import InstanceLost
from modelmart.schemas.deployments import Isolation
from modelmart.serving.local import Backoff, LocalPlacement
from modelmart.serving.placement import Endpoint, EndpointSpec
from modelmart.serving.ray import instance as ray_instance
from modelmart.serving.ray.placement import RayPlacement, with_threads
from tests.unit.serving.fakes import fake_instance, rows, served
from tests.unit.serving.ray.fake_cluster import BATCH_UJ, FakeCluster

QUICK = Backoff(attempts=3, first_delay_s=0.01, max_delay_s=0.02)


@pytest.fixture(autouse=True)
def quick_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ray_instance, "WATCH_INTERVAL_S", 0.01)
    monkeypatch.setattr(ray_instance, "RETRY_START_S", 0.01)


def spec(instances: int = 2, version: int = 1, **parameters: float) -> EndpointSpec:
    return EndpointSpec(
        name="acme/iris",
        target=served(version, **parameters),
        instances=instances,
        max_delay_ms=1,
        start_timeout_s=0.5,
        isolation=Isolation.THREAD,  # what the local placement starts for chat models
    )


def placement(cluster: FakeCluster) -> RayPlacement:
    return RayPlacement(cluster, LocalPlacement(instance_factory=fake_instance), backoff=QUICK)


async def wait_until(condition: object, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_two_servers_attach_to_the_same_actors() -> None:
    cluster = FakeCluster()
    first = await placement(cluster).start(spec())
    second = await placement(cluster).start(spec())
    assert len(cluster.started) == 2  # started once, attached once
    assert len(cluster.stored) == 2  # only the starting server stored the artifact
    assert all(name.startswith("acme_iris.v1.") for name in cluster.started)
    result = await second.predict(rows(1.0))
    np.testing.assert_array_equal(result.outputs["y"], [[2.0, 2.0]])
    assert result.energy_uj == BATCH_UJ  # measured in the actor, carried back with the batch
    await first.close()
    await second.close()


async def test_shutdown_detaches_and_undeploy_kills() -> None:
    cluster = FakeCluster()
    shutting_down = placement(cluster)
    endpoint = await shutting_down.start(spec())
    shutting_down.detach()
    await endpoint.close()
    assert len(cluster.actors) == 2  # left serving the other servers
    assert cluster.stored == []  # its hold on the stored artifact is released all the same

    again = placement(cluster)
    endpoint = await again.start(spec())
    assert len(cluster.started) == 2  # the next start attaches
    await endpoint.close()
    assert cluster.actors == {}


async def test_scale_and_swap_name_actors_by_generation() -> None:
    cluster = FakeCluster()
    endpoint = await placement(cluster).start(spec(instances=1))
    await endpoint.apply(spec(instances=3))
    assert sorted(name.rsplit(".", 1)[1] for name in cluster.actors) == ["0", "1", "2"]
    await endpoint.apply(spec(instances=1, version=2, factor=3.0))
    assert [name.split(".")[1] for name in cluster.actors] == ["v2"]
    result = await endpoint.predict(rows(1.0))
    assert (result.version, float(result.outputs["y"][0, 0])) == (2, 3.0)
    await endpoint.close()


async def test_a_batch_lost_with_its_actor_runs_again_on_another() -> None:
    cluster = FakeCluster()
    endpoint = await placement(cluster).start(spec(instances=2))
    for name in list(cluster.actors):
        cluster.lose(name)
        break
    results = await asyncio.gather(*(endpoint.predict(rows(float(n))) for n in range(8)))
    assert [float(r.outputs["y"][0, 0]) for r in results] == [2.0 * n for n in range(8)]
    await wait_until(lambda: endpoint.status().ready_instances == 2)
    assert len(cluster.started) == 3  # the lost one started again, under its own name
    await endpoint.close()


async def test_readiness_counts_a_lost_actor_out_until_it_is_back() -> None:
    cluster = FakeCluster()
    cluster.restarts_fail = True
    endpoint = await placement(cluster).start(spec(instances=2))
    cluster.lose(next(iter(cluster.actors)))
    await wait_until(lambda: endpoint.status().ready_instances == 1)  # noticed while idle
    assert endpoint.status().starting_instances >= 1 or endpoint.status().ready_instances == 1
    cluster.restarts_fail = False
    await endpoint.predict(rows(1.0))  # the broken instance leaves; the endpoint replaces it
    await wait_until(lambda: endpoint.status().ready_instances == 2)
    await endpoint.close()


async def test_lost_everywhere_answers_a_retryable_503() -> None:
    cluster = FakeCluster()
    cluster.restarts_fail = True
    endpoint = await placement(cluster).start(spec(instances=1))
    cluster.lose(next(iter(cluster.actors)))
    with pytest.raises(InstanceLost) as lost:
        await endpoint.predict(rows(1.0))
    assert lost.value.status == 503
    assert lost.value.headers() == {"Retry-After": "1"}
    await endpoint.close()


async def test_chat_models_stay_on_the_local_placement() -> None:
    cluster = FakeCluster(generative=True)
    endpoint: Endpoint = await placement(cluster).start(spec(instances=1))
    assert type(endpoint).__name__ == "LocalEndpoint"
    assert cluster.actors == {}  # the cluster's copy was stopped
    await endpoint.close()


def test_instances_run_as_many_threads_as_cpus_they_reserve() -> None:
    assert with_threads(spec(), 2.0).target.load.parameters["threads"] == 2
    pinned = spec(threads=4)
    assert with_threads(pinned, 2.0) == pinned
    assert dataclasses.replace(with_threads(spec(), 0.5)).target.load.parameters["threads"] == 1
