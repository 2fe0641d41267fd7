"""Two organisations on one server with accounts on, each holding one of everything: a model
with a version and an alias, its deployment, a private deployment of a catalogue model, a
dataset, a training job, a member, a key of every role and a price."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.integration.billing.conftest import (
    OPERATOR_KEY,
    client_for,
    make_org,
    secure_settings,
    serve_iris,
)
from tests.integration.models import iris_skops
from tests.integration.servers import LiveServer, live_server

ROLES = ("owner", "admin", "developer", "viewer", "inference")
SLUGS = ("acme", "globex")
POINTS_CSV = b"x,y,label\n" + b"".join(
    f"{i},{i % 7},{'a' if i % 2 else 'b'}\n".encode() for i in range(40)
)


@dataclass
class Tenant:
    slug: str
    keys: dict[str, str] = field(default_factory=dict)
    key_ids: dict[str, int] = field(default_factory=dict)
    member_id: int = 0
    job_id: str = ""

    @property
    def model(self) -> str:
        return f"{self.slug}-model"

    @property
    def vader(self) -> str:
        return f"{self.slug}-vader"

    @property
    def dataset(self) -> str:
        return f"{self.slug}-data"

    def client(self, server: LiveServer, role: str = "owner") -> httpx.Client:
        return client_for(server, self.keys[role])


@dataclass(frozen=True)
class World:
    server: LiveServer
    tenants: dict[str, Tenant]


def _furnish(server: LiveServer, tenant: Tenant, iris_file: Path) -> None:
    with tenant.client(server) as owner:
        for role in ROLES[1:]:
            made = owner.post(f"/v1/orgs/{tenant.slug}/keys", json={"name": role, "role": role})
            assert made.status_code == 201, made.text
            tenant.keys[role] = made.json()["key"]
            tenant.key_ids[role] = made.json()["id"]
        tenant.key_ids["owner"] = owner.get("/v1/me").json()["key_id"]
        serve_iris(owner, tenant.model, iris_file)
        alias = owner.put(
            f"/v1/registry/models/{tenant.model}/aliases/production", json={"version": 1}
        )
        assert alias.status_code == 200, alias.text
        vader = owner.post(
            "/v1/deployments",
            json={"model": "vader-sentiment", "name": tenant.vader, "isolation": "thread"},
        )
        assert vader.status_code == 201, vader.text
        pushed = owner.post(
            f"/v1/datasets/{tenant.dataset}/versions",
            files={"file": ("points.csv", POINTS_CSV)},
            data={"metadata": '{"target": "label"}'},
        )
        assert pushed.status_code == 201, pushed.text
        member = owner.post(
            f"/v1/orgs/{tenant.slug}/members",
            json={"email": f"dev@{tenant.slug}.example", "role": "viewer"},
        )
        assert member.status_code == 201, member.text
        tenant.member_id = member.json()["id"]
        price = owner.put(
            "/v1/prices", json={"model": tenant.model, "unit": "requests", "amount": "0.01"}
        )
        assert price.status_code in (200, 201), price.text
        job = owner.post(
            "/v1/jobs",
            json={
                "dataset": tenant.dataset,
                "model": f"{tenant.slug}-trained",
                "spec": {"task": "classification"},
            },
        )
        assert job.status_code == 201, job.text
        tenant.job_id = job.json()["id"]
        _wait_for_job(owner, tenant.job_id)


def _wait_for_job(client: httpx.Client, job_id: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        state = client.get(f"/v1/jobs/{job_id}").json()["state"]
        if state in ("succeeded", "failed", "cancelled"):
            assert state == "succeeded", client.get(f"/v1/jobs/{job_id}/logs").text
            return
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish in 120 s")


@pytest.fixture(scope="package")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    iris_file = iris_skops(tmp_path_factory.mktemp("iris") / "iris.skops")
    settings = secure_settings(tmp_path_factory.mktemp("tenancy") / "data")
    with live_server(settings) as server, client_for(server, OPERATOR_KEY) as operator:
        tenants = {}
        for slug in SLUGS:
            tenant = Tenant(slug)
            tenant.keys["owner"] = make_org(operator, slug).key
            _furnish(server, tenant, iris_file)
            tenants[slug] = tenant
        yield World(server, tenants)
