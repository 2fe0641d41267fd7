"""Deployments on a real Ray cluster, reached over HTTP through two servers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr
from ray._private.node import Node

from modelmart.config import Settings
from tests.cluster.conftest import RayTestCluster
from tests.cluster.helpers import Load, actor_nodes, named_actors, predict, push_and_deploy
from tests.integration.models import iris_skops
from tests.integration.servers import LiveServer, live_server


@pytest.fixture(scope="session")
def iris_artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return iris_skops(tmp_path_factory.mktemp("iris") / "iris.skops")


@pytest.fixture
def first_server(cluster_settings: Settings) -> Iterator[LiveServer]:
    with live_server(cluster_settings) as server:
        yield server


def test_two_servers_share_one_set_of_instances(
    cluster_settings: Settings,
    first_server: LiveServer,
    iris_artifact: Path,
    ray_cluster: RayTestCluster,
    ray_namespace: str,
) -> None:
    with httpx.Client(base_url=first_server.url, timeout=120) as first:
        push_and_deploy(first, "iris", iris_artifact, instances=2)
        assert predict(first, "iris").status_code == 200
        assert len(named_actors(ray_namespace)) == 2
        with (
            live_server(cluster_settings) as second_server,
            httpx.Client(base_url=second_server.url, timeout=120) as second,
        ):
            # The second server restores the deployment from the shared database.
            ready = _wait_ready(second, "iris")
            assert ready == 2
            assert predict(second, "iris").status_code == 200
            assert len(named_actors(ray_namespace)) == 2  # attached, not started twice
        # The second server shut down: the first still serves on the same actors.
        assert len(named_actors(ray_namespace)) == 2
        assert predict(first, "iris").status_code == 200
        assert first.delete("/v1/deployments/iris").status_code in (200, 204)
        assert named_actors(ray_namespace) == []


def _wait_ready(http: httpx.Client, deployment: str, timeout_s: float = 60) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = http.get(f"/v1/deployments/{deployment}")
        if response.status_code == 200 and response.json()["state"] == "ready":
            return int(response.json()["ready_instances"])
        time.sleep(0.1)
    raise AssertionError(f"deployment {deployment} did not get ready")


def test_scale_and_swap_under_load_fail_no_request(
    first_server: LiveServer, iris_artifact: Path, tmp_path: Path, ray_namespace: str
) -> None:
    """One server: carrying a change to the other servers is the deployment sync's work."""
    with httpx.Client(base_url=first_server.url, timeout=120) as http:
        push_and_deploy(http, "iris", iris_artifact, instances=1)
        v2 = iris_skops(tmp_path / "iris-v2.skops", regularisation=0.001)
        with v2.open("rb") as file:
            pushed = http.post(
                "/v1/registry/models/iris/versions",
                files={"artifact": (v2.name, file)},
                data={"metadata": "{}"},
            )
        assert pushed.status_code == 201
        with Load([first_server.url], "iris", clients=4) as load:
            load.wait_for(20)
            assert http.patch("/v1/deployments/iris", json={"instances": 3}).status_code == 200
            assert len(named_actors(ray_namespace)) == 3
            load.wait_for(20)
            swapped = http.patch("/v1/deployments/iris", json={"version": 2})
            assert swapped.status_code == 200, swapped.text
            load.wait_for(20)
            assert http.patch("/v1/deployments/iris", json={"instances": 1}).status_code == 200
            load.wait_for(20)
        assert load.failures == []
        assert load.statuses[200] >= 80
        assert [name.split(".")[1] for name in named_actors(ray_namespace)] == ["v2"]


@pytest.mark.postgres
def test_a_lost_node_fails_only_retryable_requests_and_recovers(
    cluster_settings: Settings,
    iris_artifact: Path,
    ray_cluster: RayTestCluster,
    ray_namespace: str,
    shared_database: str,
    redis_url: str,
) -> None:
    """Two servers with accounts on, sharing PostgreSQL and Redis as in production; the
    ledger bills exactly the requests answered 2xx."""
    settings = cluster_settings.model_copy(
        update={
            "auth_enabled": True,
            "bootstrap_api_key": SecretStr(OPERATOR_KEY),
            "database_url": shared_database,
            "redis_url": redis_url,
        }
    )
    with live_server(settings) as first_server:
        with httpx.Client(
            base_url=first_server.url, timeout=120, headers=_bearer(OPERATOR_KEY)
        ) as operator:
            key = _customer_key(operator)
        with httpx.Client(base_url=first_server.url, timeout=120, headers=_bearer(key)) as http:
            push_and_deploy(http, "iris", iris_artifact, instances=2)
        with (
            live_server(settings) as second_server,
            httpx.Client(base_url=first_server.url, timeout=120, headers=_bearer(key)) as http,
            httpx.Client(base_url=second_server.url, timeout=120, headers=_bearer(key)) as second,
        ):
            assert _wait_ready(second, "iris") == 2
            victim = _node_of_an_instance(ray_cluster, ray_namespace)
            urls = [first_server.url, second_server.url]
            with Load(urls, "iris", clients=4, headers=_bearer(key)) as load:
                load.wait_for(20)
                with ray_cluster.worker_removed(victim):
                    lost_at = time.monotonic()
                    recovered_s = _wait_until_ready(http, "iris", 2, since=lost_at)
                    load.wait_for(20)
            # PostgreSQL's ledger writer may still be committing the last records.
            billed = _billed_requests(http, expected=load.statuses[200])
    # Every failure is a retryable 503 with a Retry-After; most requests never see one.
    assert all(status == 503 and retry for _, status, _, retry in load.failures), load.failures
    assert load.statuses[200] >= 40
    assert recovered_s < 30
    assert len(named_actors(ray_namespace)) == 2
    assert billed == load.statuses[200]


def _billed_requests(http: httpx.Client, expected: int, timeout_s: float = 30) -> float:
    """The requests the ledger holds, once they reach ``expected`` (or at the deadline)."""
    deadline = time.monotonic() + timeout_s
    while True:
        usage = http.get("/v1/usage", params={"group_by": "model"}).json()["usage"]
        billed = sum(float(row["quantity"]) for row in usage if row["unit"] == "requests")
        if billed >= expected or time.monotonic() > deadline:
            return billed
        time.sleep(0.2)


OPERATOR_KEY = "mm_0123456789ab_operator-secret-for-tests"


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _customer_key(operator: httpx.Client) -> str:
    # A plan whose per-minute limit the load never reaches: only the lost node may fail it.
    plan = {"name": "unhurried", "kind": "pay-as-you-go", "requests_per_minute": 10_000_000}
    assert operator.put("/v1/plans/unhurried", json=plan).status_code in (200, 201)
    org = {"slug": "acme", "name": "Acme", "plan": "unhurried", "owner_email": "o@acme.test"}
    response = operator.post("/v1/orgs", json=org)
    assert response.status_code == 201, response.text
    return str(response.json()["owner_key"]["key"])


def _wait_until_ready(
    http: httpx.Client, deployment: str, instances: int, *, since: float, timeout_s: float = 60
) -> float:
    """Seconds from ``since`` until ``deployment`` reports ``instances`` ready again, having
    first reported fewer (readiness must notice the loss)."""
    deadline = time.monotonic() + timeout_s
    seen_fewer = False
    while time.monotonic() < deadline:
        ready = http.get(f"/v1/deployments/{deployment}").json()["ready_instances"]
        seen_fewer = seen_fewer or ready < instances
        if seen_fewer and ready == instances:
            return time.monotonic() - since
        time.sleep(0.05)
    raise AssertionError(f"{deployment} did not get back to {instances} ready instances")


def _node_of_an_instance(cluster: RayTestCluster, namespace: str) -> Node:
    node_id = next(iter(actor_nodes(namespace).values()))
    return next(node for node in cluster.workers if node.node_id == node_id)
