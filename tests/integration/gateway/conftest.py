from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelmart.config import Settings
from tests.integration.models import iris_skops
from tests.integration.servers import LiveServer, live_server


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", json_logs=False)


@pytest.fixture
def server(settings: Settings) -> Iterator[LiveServer]:
    with live_server(settings) as running:
        yield running


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=120) as client:
        yield client


@pytest.fixture(scope="session")
def iris_artifacts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two iris versions with visibly different weights."""
    directory = tmp_path_factory.mktemp("iris")
    return (
        iris_skops(directory / "iris-v1.skops", regularisation=1.0),
        iris_skops(directory / "iris-v2.skops", regularisation=0.001),
    )


def push(http: httpx.Client, model: str, artifact: Path, metadata: str = "{}") -> httpx.Response:
    with artifact.open("rb") as file:
        return http.post(
            f"/v1/registry/models/{model}/versions",
            files={"artifact": (artifact.name, file)},
            data={"metadata": metadata},
        )


def deploy(http: httpx.Client, **body: object) -> httpx.Response:
    return http.post("/v1/deployments", json=body)
