"""A server with accounts on, an operator key chosen by the test, and iris deployed by a
customer organisation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
import pytest

from modelmart.config import Settings
from tests.integration.models import iris_skops
from tests.integration.servers import LiveServer, live_server

OPERATOR_KEY = "mm_0123456789ab_operator-secret-for-tests"
IRIS_ROW = {"instances": [[5.1, 3.5, 1.4, 0.2]]}


@dataclass(frozen=True)
class Org:
    slug: str
    key: str

    def client(self, server: HasUrl) -> httpx.Client:
        return client_for(server, self.key)


class HasUrl(Protocol):
    @property
    def url(self) -> str: ...


def client_for(server: HasUrl, key: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.Client(base_url=server.url, headers=headers, timeout=60)


def secure_settings(data_dir: Path, **overrides: object) -> Settings:
    return Settings(
        data_dir=data_dir,
        json_logs=False,
        auth_enabled=True,
        bootstrap_api_key=OPERATOR_KEY,
        **overrides,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def iris_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return iris_skops(tmp_path_factory.mktemp("iris") / "iris.skops")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(secure_settings(tmp_path_factory.mktemp("secure") / "data")) as running:
        yield running


@pytest.fixture(scope="module")
def operator(server: LiveServer) -> Iterator[httpx.Client]:
    with client_for(server, OPERATOR_KEY) as client:
        yield client


def make_org(operator: httpx.Client, slug: str, plan: str = "pay-as-you-go") -> Org:
    response = operator.post(
        "/v1/orgs",
        json={
            "slug": slug,
            "name": slug.title(),
            "plan": plan,
            "owner_email": f"owner@{slug}.example",
        },
    )
    assert response.status_code == 201, response.text
    return Org(slug, response.json()["owner_key"]["key"])


def serve_iris(client: httpx.Client, model: str, iris_file: Path) -> None:
    assert (
        client.post(
            "/v1/registry/models", json={"name": model, "task": "classification"}
        ).status_code
        == 201
    )
    with iris_file.open("rb") as file:
        pushed = client.post(
            f"/v1/registry/models/{model}/versions",
            files={"artifact": (iris_file.name, file)},
            data={"metadata": "{}"},
        )
    assert pushed.status_code == 201, pushed.text
    deployed = client.post("/v1/deployments", json={"model": model, "isolation": "thread"})
    assert deployed.status_code == 201, deployed.text
