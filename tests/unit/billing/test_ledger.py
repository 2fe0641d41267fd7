from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from modelmart.billing.ledger import Ledger, StoredResponse, UsageEntry, totals
from modelmart.errors import AlreadyExists
from modelmart.store.tables import OrganizationRow


@pytest.fixture
def org_id(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        org = OrganizationRow(slug="acme", name="Acme", plan="free")
        session.add(org)
        session.commit()
        return org.id


def _entry(org_id: int, index: int, key: str | None = None) -> UsageEntry:
    response = StoredResponse(200, "application/json", b"{}") if key else None
    return UsageEntry(
        f"r{index}", org_id, None, "iris", 1, {"requests": 1, "items": 2}, 1.0, key, response
    )


@pytest.mark.parametrize("inline", [False, True], ids=["writer-thread", "inline"])
async def test_concurrent_records_are_all_written_in_few_commits(
    sessions: sessionmaker[Session], org_id: int, inline: bool
) -> None:
    ledger = Ledger(sessions, inline=inline)
    await asyncio.gather(*(ledger.record(_entry(org_id, i)) for i in range(200)))
    await ledger.close()
    assert ledger.count(org_id) == 200
    now = datetime.now(UTC)
    used = totals(ledger.rows(org_id, now - timedelta(hours=1), now + timedelta(hours=1)))
    assert used == {("iris", "requests"): 200, ("iris", "items"): 400}


async def test_a_repeated_idempotency_key_fails_alone(
    sessions: sessionmaker[Session], org_id: int
) -> None:
    ledger = Ledger(sessions)
    results = await asyncio.gather(
        ledger.record(_entry(org_id, 1, "k")),
        ledger.record(_entry(org_id, 2, "k")),
        ledger.record(_entry(org_id, 3)),
        return_exceptions=True,
    )
    await ledger.close()
    assert sum(isinstance(result, AlreadyExists) for result in results) == 1
    assert ledger.count(org_id) == 2
    assert ledger.replay(org_id, "k") == StoredResponse(200, "application/json", b"{}")
    assert ledger.replay(org_id, "unknown") is None
