"""Deployments on a real Ray cluster, reached over HTTP through two servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelmart.config import Settings
from tests.cluster.conftest import RayTestCluster
from tests.cluster.helpers import named_actors, predict, push_and_deploy
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
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        response = http.get(f"/v1/deployments/{deployment}")
        if response.status_code == 200 and response.json()["state"] == "ready":
            return int(response.json()["ready_instances"])
        time.sleep(0.1)
    raise AssertionError(f"deployment {deployment} did not get ready")
