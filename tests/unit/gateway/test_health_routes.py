"""The probes are open to anyone and name nothing; the metrics are the operator's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from modelmart.registry.service import Registry
from tests.unit.gateway.accounts_app import Platform, build_platform, client_for


@pytest.fixture
async def platform(
    sessions: sessionmaker[Session], registry: Registry, tmp_path: Path
) -> AsyncIterator[Platform]:
    built = build_platform(sessions, registry, tmp_path / "data")
    yield built
    await built.billing.close()


@pytest.mark.parametrize("path", ["/livez", "/healthz"])
async def test_liveness_needs_no_key(platform: Platform, path: str) -> None:
    async with client_for(platform.app) as anonymous:
        answer = await anonymous.get(path)
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})


async def test_readiness_needs_no_key_and_names_no_deployment(platform: Platform) -> None:
    async with client_for(platform.app) as anonymous:
        ready = await anonymous.get("/readyz")
        platform.deployments.states_by_name["beta:loading-one"] = "loading"
        loading = await anonymous.get("/readyz")
        platform.deployments.states_by_name["beta:loading-one"] = "failed"
        failed = await anonymous.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    assert (loading.status_code, loading.json()) == (503, {"status": "loading"})
    assert (failed.status_code, failed.json()) == (200, {"status": "ready"})  # not waited on


@pytest.mark.parametrize(
    ("key", "status"),
    [(None, 401), ("alpha", 403), ("beta", 403), ("alpha-viewer", 403), ("operator", 200)],
)
async def test_metrics_are_the_operators_alone(
    platform: Platform, key: str | None, status: int
) -> None:
    async with client_for(platform.app, key) as client:
        answer = await client.get("/metrics")
    assert answer.status_code == status
    # The series are labelled by deployment: only the operator may read them.
    assert ("alpha:secret-deployment" in answer.text) is (status == 200)


async def test_with_accounts_off_metrics_scrape_without_a_key(
    sessions: sessionmaker[Session], registry: Registry, tmp_path: Path
) -> None:
    platform = build_platform(sessions, registry, tmp_path / "data", auth=False)
    async with client_for(platform.app) as anonymous:
        answer = await anonymous.get("/metrics")
    await platform.billing.close()
    assert answer.status_code == 200
    assert "modelmart_batch_size" in answer.text


async def test_the_console_files_need_no_key(platform: Platform) -> None:
    async with client_for(platform.app) as anonymous:
        page = await anonymous.get("/console/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
