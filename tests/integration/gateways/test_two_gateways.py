"""Two gateways on one PostgreSQL database and one Redis: they serve the same deployments,
share rate limits and quotas, and write one ledger.

Each gateway runs its own instances of a deployment (the local placement); what they share is
the deployments table, which each reads every ``deployment_sync_interval_s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.integration.billing.conftest import (
    IRIS_ROW,
    OPERATOR_KEY,
    client_for,
    make_org,
    secure_settings,
    serve_iris,
)
from tests.integration.servers import LiveServer, live_server

pytestmark = pytest.mark.postgres

SYNC_S = 0.2


@pytest.fixture
def gateways(
    tmp_path: Path, shared_database: str, redis_url: str
) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Gateways A and B; started one after the other (the first one migrates)."""
    settings = secure_settings(
        tmp_path / "data",  # one machine here: the artifacts folder is shared too
        database_url=shared_database,
        redis_url=redis_url,
        deployment_sync_interval_s=SYNC_S,
    )
    with ExitStack() as stack:
        first = stack.enter_context(live_server(settings))
        second = stack.enter_context(live_server(settings))
        yield first, second


def eventually(check: Callable[[], bool], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "the gateways never agreed"
        time.sleep(0.05)


def state_on(server: LiveServer, key: str, name: str) -> str | None:
    with client_for(server, key) as client:
        response = client.get(f"/v1/deployments/{name}")
        return response.json()["state"] if response.status_code == 200 else None


def ledger_rows(database_url: str) -> int:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(sa.text("SELECT count(*) FROM usage_records")) or 0)
    finally:
        engine.dispose()


def test_deploy_on_one_gateway_serve_on_both_undeploy_on_the_other(
    gateways: tuple[LiveServer, LiveServer], iris_file: Path, shared_database: str
) -> None:
    a, b = gateways
    served_2xx = 0
    with client_for(a, OPERATOR_KEY) as operator:
        org = make_org(operator, "twin")
    with client_for(a, org.key) as on_a, client_for(b, org.key) as on_b:
        serve_iris(on_a, "twin-iris", iris_file)
        eventually(lambda: state_on(a, org.key, "twin-iris") == "ready")
        eventually(lambda: state_on(b, org.key, "twin-iris") == "ready")  # B learnt of it
        for client in (on_a, on_b, on_b):
            assert client.post("/v1/models/twin-iris:predict", json=IRIS_ROW).status_code == 200
            served_2xx += 1

        # A change through A reaches B.
        assert on_a.patch("/v1/deployments/twin-iris", json={"instances": 2}).status_code == 200
        eventually(lambda: on_b.get("/v1/deployments/twin-iris").json()["ready_instances"] == 2)

        # An undeploy through B stops A serving it.
        assert on_b.delete("/v1/deployments/twin-iris").status_code in (200, 204)
        eventually(lambda: state_on(a, org.key, "twin-iris") is None)
        gone = on_a.post("/v1/models/twin-iris:predict", json=IRIS_ROW)
        assert gone.status_code == 404, gone.text
    # Both gateways wrote to one ledger: one record per 2xx response, none for the 404.
    eventually(lambda: ledger_rows(shared_database) == served_2xx, timeout_s=30)


def test_rate_limits_and_monthly_quotas_are_shared_and_the_ledger_counts_both(
    gateways: tuple[LiveServer, LiveServer], iris_file: Path, shared_database: str
) -> None:
    a, b = gateways
    with client_for(a, OPERATOR_KEY) as operator:
        limited = {"name": "limited", "kind": "pay-as-you-go", "requests_per_minute": 4}
        quota = {"name": "quota", "kind": "free", "included_units": {"requests": "3"},
                 "monthly_quota": {"requests": "3"}}  # fmt: skip
        for plan in (limited, quota):
            assert operator.put(f"/v1/plans/{plan['name']}", json=plan).status_code == 200
        fast, frugal = make_org(operator, "fast", "limited"), make_org(operator, "frugal", "quota")
    codes: dict[str, list[int]] = {"fast": [], "frugal": []}
    for org in (fast, frugal):
        with client_for(a, org.key) as client:
            serve_iris(client, f"{org.slug}-iris", iris_file)
        eventually(lambda org=org: state_on(b, org.key, f"{org.slug}-iris") == "ready")
        for index in range(6):
            with client_for(a if index % 2 == 0 else b, org.key) as caller:
                reply = caller.post(f"/v1/models/{org.slug}-iris:predict", json=IRIS_ROW)
                codes[org.slug].append(reply.status_code)
            # A quota counts a request once its ledger record is durable, which the ledger
            # writer does in the background on PostgreSQL: give it that moment.
            time.sleep(0.3)
    assert codes["fast"] == [200, 200, 200, 200, 429, 429]  # 4 a minute, across both
    assert codes["frugal"] == [200, 200, 200, 402, 402, 402]  # 3 a month, across both
    eventually(lambda: ledger_rows(shared_database) == 7, timeout_s=30)
