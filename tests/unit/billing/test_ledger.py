from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from modelmart.billing import wal_checkpoints
from modelmart.billing.ledger import Ledger, StoredResponse, UsageEntry
from modelmart.billing.ledger_audit import totals
from modelmart.billing.ledger_writers import CoreRows
from modelmart.billing.wal_checkpoints import WalCheckpoints
from modelmart.errors import AlreadyExists, IdempotencyKeyReused
from modelmart.store.db import create_engine_for, migrate, session_factory
from modelmart.store.tables import OrganizationRow, UsageRow


@pytest.fixture
def org_id(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        org = OrganizationRow(slug="acme", name="Acme", plan="free")
        session.add(org)
        session.commit()
        return org.id


def _entry(
    org_id: int, index: int, key: str | None = None, request_hash: str = "request-a"
) -> UsageEntry:
    response = StoredResponse(200, "application/json", b"{}") if key else None
    return UsageEntry(
        f"r{index}",
        org_id,
        None,
        "iris",
        1,
        {"requests": 1, "items": 2},
        1.0,
        key,
        response,
        request_hash if key else None,
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
    assert ledger.replay(org_id, "k", "request-a") == StoredResponse(200, "application/json", b"{}")
    assert ledger.replay(org_id, "unknown", "request-a") is None


async def test_records_are_stored_as_the_orm_stores_them(
    sessions: sessionmaker[Session], org_id: int
) -> None:
    """The ledger binds rows through the driver itself: its text must match the ORM's, or
    range queries and readers would see two formats."""
    ledger = Ledger(sessions, inline=True)
    await ledger.record(_entry(org_id, 1, "k"))
    await ledger.close()
    with sessions() as session:
        session.add(
            UsageRow(
                request_id="orm",
                org_id=org_id,
                key_id=None,
                model="iris",
                version=1,
                units={"requests": 1, "items": 2},
                latency_ms=1.0,
                created_at=datetime.now(UTC),
            )
        )
        session.commit()
        stored = session.execute(
            text("SELECT request_id, created_at, units FROM usage_records ORDER BY id")
        ).all()
    (_, ledger_at, ledger_units), (_, orm_at, orm_units) = stored
    assert len(ledger_at) == len(orm_at)
    assert ledger_at[:10] == orm_at[:10]
    assert ledger_units == orm_units
    now = datetime.now(UTC)
    rows = ledger.rows(org_id, now - timedelta(hours=1), now + timedelta(hours=1))
    (row,) = [row for row in rows if row.request_id == "r1"]
    assert row.created_at.tzinfo is not None
    assert row.response_body == b"{}"
    assert row.idempotency_key == "k"
    assert row.request_hash == "request-a"


@pytest.mark.parametrize("inline", [False, True], ids=["writer-thread", "inline"])
async def test_a_refused_row_fails_alone_with_its_own_error(
    sessions: sessionmaker[Session], org_id: int, inline: bool
) -> None:
    ledger = Ledger(sessions, inline=inline)
    unknown_org = UsageEntry("bad", org_id + 1000, None, "iris", 1, {"requests": 1}, 1.0)
    results = await asyncio.gather(
        ledger.record(unknown_org), ledger.record(_entry(org_id, 2)), return_exceptions=True
    )
    await ledger.record(_entry(org_id, 3))  # the connection is usable after the rollback
    await ledger.close()
    assert "FOREIGN KEY" in str(results[0])
    assert not isinstance(results[0], AlreadyExists)
    assert results[1] is None
    assert ledger.count() == 2


async def test_the_portable_path_used_beyond_sqlite_keeps_the_same_guarantees(
    sessions: sessionmaker[Session], org_id: int
) -> None:
    ledger = Ledger(sessions, inline=True)
    ledger._rows = CoreRows(sessions.kw["bind"])  # what PostgreSQL gets
    results = await asyncio.gather(
        ledger.record(_entry(org_id, 1, "k")),
        ledger.record(_entry(org_id, 2, "k")),
        ledger.record(_entry(org_id, 3)),
        return_exceptions=True,
    )
    await ledger.close()
    assert sum(isinstance(result, AlreadyExists) for result in results) == 1
    assert ledger.count(org_id) == 2
    assert ledger.replay(org_id, "k", "request-a") == StoredResponse(200, "application/json", b"{}")


@pytest.fixture
def ledger_file(tmp_path: Path) -> Iterator[tuple[sessionmaker[Session], int]]:
    """A database file with the ledger's engine settings (no fsync) and one organisation."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    migrate(create_engine_for(url))
    engine = create_engine_for(url, sqlite_fsync=False)
    sessions = session_factory(engine)
    with sessions() as session:
        org = OrganizationRow(slug="acme", name="Acme", plan="free")
        session.add(org)
        session.commit()
        yield sessions, org.id
    engine.dispose()


async def test_the_wal_is_checkpointed_off_the_commit_path(
    ledger_file: tuple[sessionmaker[Session], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer's connection never checkpoints (a checkpoint flushes to disk); the ledger's
    own checkpoints, on their thread, keep starting the WAL over."""
    monkeypatch.setattr(wal_checkpoints, "CHECKPOINT_EVERY", 20)
    monkeypatch.setattr(wal_checkpoints, "WAL_LIMIT_FRAMES", 200)
    sessions, org_id = ledger_file
    ledger = Ledger(sessions, inline=True)
    for index in range(1500):  # one commit each, a few WAL frames each
        await ledger.record(_entry(org_id, index))
        if index % 50 == 49:
            await asyncio.sleep(0.005)  # the pauses of real traffic
    await ledger.close()
    assert ledger.count() == 1500
    with sessions() as session:
        frames = session.execute(text("PRAGMA wal_checkpoint(PASSIVE)")).one()[1]
    assert 0 <= frames < 2000  # over 6,000 if it had never started over


def test_a_wal_grown_past_its_limit_gets_a_pass_with_no_commit_beside_it(
    ledger_file: tuple[sessionmaker[Session], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Passes that race unbroken commits never leave the WAL empty, so it would never start
    over: past the limit, the ledger awaits one pass before its next group."""
    monkeypatch.setattr(wal_checkpoints, "CHECKPOINT_EVERY", 3)
    monkeypatch.setattr(wal_checkpoints, "WAL_LIMIT_FRAMES", 1)
    sessions, _ = ledger_file
    checkpoints = WalCheckpoints(sessions.kw["bind"])
    assert checkpoints.finishing() is None  # no pass has measured the WAL yet
    for _ in range(3):
        checkpoints.committed()  # the third starts a pass beside the commits
    deadline = time.monotonic() + 30
    while (final := checkpoints.finishing()) is None and time.monotonic() < deadline:
        time.sleep(0.01)  # until that pass has measured the WAL: past the limit
    assert final is not None
    final.result(timeout=30)
    assert checkpoints.finishing() is None  # once per overflow, not before every group
    checkpoints.close()


@pytest.mark.parametrize("size", [1, 37, 200])
async def test_a_group_of_any_size_is_written_value_for_value(
    sessions: sessionmaker[Session], org_id: int, size: int
) -> None:
    """Groups go in multi-row statements of 64, 32, ... rows: every row keeps its own values."""
    ledger = Ledger(sessions, inline=True)
    entries = [
        UsageEntry(
            f"r{i}",
            org_id,
            i,
            "iris",
            i % 3,
            {"requests": 1, "items": i},
            i / 4,
            idempotency_key=f"k{i}" if i % 2 else None,
            request_hash=f"h{i}" if i % 2 else None,
        )
        for i in range(size)
    ]
    await asyncio.gather(*(ledger.record(entry) for entry in entries))
    await ledger.close()
    now = datetime.now(UTC)
    stored = {
        row.request_id: (
            row.key_id,
            row.version,
            row.units,
            row.latency_ms,
            row.idempotency_key,
            row.request_hash,
        )
        for row in ledger.rows(org_id, now - timedelta(hours=1), now + timedelta(hours=1))
    }
    assert stored == {
        entry.request_id: (
            entry.key_id,
            entry.version,
            entry.units,
            entry.latency_ms,
            entry.idempotency_key,
            entry.request_hash,
        )
        for entry in entries
    }


@pytest.mark.parametrize("portable", [False, True], ids=["sqlite", "portable"])
async def test_an_idempotency_key_replays_only_the_request_it_was_served_for(
    sessions: sessionmaker[Session], org_id: int, portable: bool
) -> None:
    ledger = Ledger(sessions, inline=True)
    if portable:
        ledger._rows = CoreRows(sessions.kw["bind"])
    await ledger.record(_entry(org_id, 1, "k", "request-a"))
    await ledger.close()
    assert ledger.replay(org_id, "k", "request-a") == StoredResponse(200, "application/json", b"{}")
    with pytest.raises(IdempotencyKeyReused, match="use a new key for a new request") as reused:
        ledger.replay(org_id, "k", "request-b")
    assert (reused.value.status, reused.value.code) == (422, "idempotency_key_reused")
    assert ledger.replay(org_id + 1, "k", "request-b") is None  # keys are per organisation


@pytest.mark.parametrize("portable", [False, True], ids=["sqlite", "portable"])
async def test_a_different_request_racing_for_a_key_is_refused_as_a_reused_key(
    sessions: sessionmaker[Session], org_id: int, portable: bool
) -> None:
    """Two requests in flight with one key, neither served yet when they checked it: the
    one written second learns why it lost, a repeat (409) or another request (422)."""
    ledger = Ledger(sessions, inline=True)
    if portable:
        ledger._rows = CoreRows(sessions.kw["bind"])
    results = await asyncio.gather(
        ledger.record(_entry(org_id, 1, "k", "request-a")),
        ledger.record(_entry(org_id, 2, "k", "request-b")),
        ledger.record(_entry(org_id, 3, "k", "request-a")),
        return_exceptions=True,
    )
    await ledger.close()
    assert results[0] is None
    assert type(results[1]) is IdempotencyKeyReused
    assert type(results[2]) is AlreadyExists
    assert ledger.count(org_id) == 1


async def test_a_served_request_whose_response_was_not_kept_is_not_run_again(
    sessions: sessionmaker[Session], org_id: int
) -> None:
    ledger = Ledger(sessions, inline=True)
    too_large = _entry(org_id, 1, "k")._replace(response=None)
    await ledger.record(too_large)
    await ledger.close()
    with pytest.raises(AlreadyExists, match="too large to keep"):
        ledger.replay(org_id, "k", "request-a")


async def test_a_record_from_before_fingerprints_replays_unchecked(
    sessions: sessionmaker[Session], org_id: int
) -> None:
    """Rows written before migration 0004 have no request hash: their key replays as it did."""
    with sessions() as session:
        session.add(
            UsageRow(
                request_id="old",
                org_id=org_id,
                key_id=None,
                model="iris",
                version=1,
                units={"requests": 1},
                latency_ms=1.0,
                idempotency_key="k",
                response_status=200,
                response_type="application/json",
                response_body=b"[]",
            )
        )
        session.commit()
    ledger = Ledger(sessions)
    assert ledger.replay(org_id, "k", "any") == StoredResponse(200, "application/json", b"[]")
    await ledger.close()
