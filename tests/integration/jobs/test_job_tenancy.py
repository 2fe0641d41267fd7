"""Training across organisations on a real server with accounts on: a job never writes into
another organisation's model, and another organisation's model, dataset or job answers
exactly as a missing one.

The hole this closes: organisation B's developer key submitted ``{"dataset": "iris", "model":
"a-iris"}`` and the job registered a new version of A's ``a-iris``, with nothing in A's audit
log, because names were global and the submission check swallowed ``ModelNotFound``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.billing.conftest import (
    OPERATOR_KEY,
    Org,
    client_for,
    make_org,
    secure_settings,
)
from tests.integration.servers import LiveServer, live_server

IRIS_JOB = {"dataset": "iris", "spec": {"task": "classification", "family": "logistic"}}
JOB_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = secure_settings(tmp_path_factory.mktemp("tenancy") / "data", training_workers=2)
    with live_server(settings) as running:
        yield running


@pytest.fixture(scope="module")
def orgs(server: LiveServer) -> tuple[Org, Org]:
    with client_for(server, OPERATOR_KEY) as operator:
        return make_org(operator, "acorp"), make_org(operator, "bcorp")


@pytest.fixture(scope="module")
def developer_of_b(server: LiveServer, orgs: tuple[Org, Org]) -> Iterator[httpx.Client]:
    with orgs[1].client(server) as owner:
        made = owner.post("/v1/orgs/bcorp/keys", json={"name": "dev", "role": "developer"})
        assert made.status_code == 201, made.text
    with client_for(server, made.json()["key"]) as developer:
        yield developer


@pytest.fixture(scope="module")
def a_iris_job(server: LiveServer, orgs: tuple[Org, Org]) -> dict[str, Any]:
    """A's own model ``a-iris``, version 1, trained by A's job."""
    with orgs[0].client(server) as a:
        submitted = a.post("/v1/jobs", json={**IRIS_JOB, "model": "a-iris"})
        assert submitted.status_code == 201, submitted.text
        job = _finished(a, submitted.json()["id"])
    assert job["state"] == "succeeded", job["failure_reason"]
    assert (job["model"], job["model_version"]) == ("acorp:a-iris", 1)
    return job


def _finished(client: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish in {JOB_TIMEOUT_S} s")


def _versions_of_a(server: LiveServer, a: Org) -> list[int]:
    with a.client(server) as client:
        listed = client.get("/v1/registry/models/a-iris/versions")
        assert listed.status_code == 200, listed.text
        return [version["version"] for version in listed.json()["versions"]]


def _audit_of_a(server: LiveServer, a: Org) -> list[dict[str, Any]]:
    with a.client(server) as client:
        entries: list[dict[str, Any]] = client.get("/v1/audit").json()["entries"]
        return entries


def test_b_naming_as_model_trains_its_own_and_leaves_as_untouched(
    server: LiveServer,
    orgs: tuple[Org, Org],
    developer_of_b: httpx.Client,
    a_iris_job: dict[str, Any],
) -> None:
    a = orgs[0]
    versions, audit = _versions_of_a(server, a), _audit_of_a(server, a)
    assert versions == [1]

    submitted = developer_of_b.post("/v1/jobs", json={**IRIS_JOB, "model": "a-iris"})
    assert submitted.status_code == 201, submitted.text
    assert (submitted.json()["model"], submitted.json()["owner"]) == ("bcorp:a-iris", "bcorp")
    job = _finished(developer_of_b, submitted.json()["id"])
    assert job["state"] == "succeeded", job["failure_reason"]
    assert (job["model"], job["model_version"]) == ("bcorp:a-iris", 1)

    assert _versions_of_a(server, a) == versions
    assert _audit_of_a(server, a) == audit
    own = developer_of_b.get("/v1/registry/models/a-iris").json()
    assert (own["name"], own["owner"], own["latest_version"]) == ("bcorp:a-iris", "bcorp", 1)
    with a.client(server) as client:
        assert client.get("/v1/registry/models/a-iris").json()["owner"] == "acorp"


def test_b_naming_as_model_by_its_full_name_is_refused_as_for_a_missing_one(
    server: LiveServer,
    orgs: tuple[Org, Org],
    developer_of_b: httpx.Client,
    a_iris_job: dict[str, Any],
) -> None:
    def answer(model: str) -> tuple[int, str]:
        response = developer_of_b.post("/v1/jobs", json={**IRIS_JOB, "model": model})
        return response.status_code, response.text.replace(model, "<model>")

    assert answer("acorp:a-iris") == answer("acorp:never-made")
    assert answer("acorp:a-iris")[0] == 400
    assert _versions_of_a(server, orgs[0]) == [1]


def test_as_model_dataset_and_job_answer_b_as_missing_ones(
    server: LiveServer,
    orgs: tuple[Org, Org],
    developer_of_b: httpx.Client,
    a_iris_job: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    table = tmp_path_factory.mktemp("a") / "mine.csv"
    table.write_text("x,label\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))
    with orgs[0].client(server) as a, table.open("rb") as file:
        pushed = a.post("/v1/datasets/mine/versions", files={"file": ("mine.csv", file)})
        assert pushed.status_code == 201, pushed.text
        assert pushed.json()["name"] == "acorp:mine"

    def answer(path: str, hidden: str, missing: str) -> None:
        foreign = developer_of_b.get(path.format(hidden))
        absent = developer_of_b.get(path.format(missing))
        assert foreign.status_code == absent.status_code == 404
        assert foreign.text.replace(hidden, missing) == absent.text

    answer("/v1/registry/models/{}", "acorp:a-iris", "acorp:b-iris")
    answer("/v1/registry/models/{}/versions/1/report", "acorp:a-iris", "acorp:b-iris")
    answer("/v1/datasets/{}", "acorp:mine", "acorp:yours")
    answer("/v1/jobs/{}", a_iris_job["id"], "f" * 32)
    answer("/v1/jobs/{}/logs", a_iris_job["id"], "f" * 32)
    listed = developer_of_b.get("/v1/datasets").json()["datasets"]
    assert "acorp:mine" not in [dataset["name"] for dataset in listed]
    assert a_iris_job["id"] not in [
        job["id"] for job in developer_of_b.get("/v1/jobs").json()["jobs"]
    ]
    refused = developer_of_b.post("/v1/jobs", json={**IRIS_JOB, "dataset": "acorp:mine"})
    assert refused.status_code == 404
    assert refused.json()["error"]["code"] == "dataset_not_found"
