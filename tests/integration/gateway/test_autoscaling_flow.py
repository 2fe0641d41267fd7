"""Autoscaling over HTTP: a deployment with min_instances 0 stops its instance when idle, and
the next request waits for a cold start and succeeds instead of failing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelmart.config import Settings
from tests.integration.gateway.conftest import deploy, push
from tests.integration.servers import live_server

SETOSA = [5.1, 3.5, 1.4, 0.2]


@pytest.fixture
def http(tmp_path: Path) -> Iterator[httpx.Client]:
    settings = Settings(
        data_dir=tmp_path / "data",
        json_logs=False,
        autoscale_interval_s=0.05,
        scale_to_zero_after_s=0.5,
    )
    with live_server(settings) as server, httpx.Client(base_url=server.url, timeout=120) as client:
        yield client


def view(http: httpx.Client) -> dict[str, object]:
    body: dict[str, object] = http.get("/v1/deployments/iris").json()
    return body


def test_an_idle_deployment_scales_to_zero_and_the_next_request_cold_starts_it(
    http: httpx.Client, iris_artifacts: tuple[Path, Path]
) -> None:
    created = http.post("/v1/registry/models", json={"name": "iris", "task": "classification"})
    assert created.status_code == 201, created.text
    assert push(http, "iris", iris_artifacts[0]).status_code == 201
    body = {"model": "iris", "min_instances": 0, "max_instances": 2}
    deployed = deploy(http, **body)
    assert deployed.status_code == 201, deployed.text
    assert (deployed.json()["ready_instances"], deployed.json()["max_instances"]) == (1, 2)

    deadline = time.monotonic() + 30
    while view(http)["ready_instances"] != 0:
        assert time.monotonic() < deadline, "the idle deployment kept its instance"
        time.sleep(0.05)
    idle = view(http)
    assert (idle["desired_instances"], idle["state"]) == (0, "ready")
    assert 'modelmart_desired_instances{deployment="iris"} 0.0' in http.get("/metrics").text

    answer = http.post("/v1/models/iris:predict", json={"instances": [SETOSA]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["label"] == 0  # setosa
    assert view(http)["ready_instances"] == 1
