"""Hourly rollups: written with the records or not at all, exact, and read back over any range."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from modelmart.billing.ledger import Ledger, StoredResponse, UsageEntry
from modelmart.billing.ledger_audit import RollupDiscrepancy, rollup_discrepancies
from modelmart.billing.ledger_writers import CoreRows
from modelmart.billing.money import micro_units, quantity, quantity_text
from modelmart.billing.usage_reports import UsageReports, partial_hours, whole_hours
from modelmart.errors import AlreadyExists, ModelMartError
from modelmart.store.tables import OrganizationRow, UsageRollupRow, UsageRow

AT = datetime(2026, 11, 30, 22, 40, 0, tzinfo=UTC)
HOUR = AT.replace(minute=0)


@pytest.fixture
def org_id(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        org = OrganizationRow(slug="acme", name="Acme", plan="free")
        session.add(org)
        session.commit()
        return org.id


def _entry(org_id: int, index: int, key: str | None = None, **units: float) -> UsageEntry:
    return UsageEntry(
        f"r{index}",
        org_id,
        7,
        "chat",
        1,
        {"requests": 1.0, **units},
        1.0,
        key,
        StoredResponse(200, "application/json", b"{}") if key else None,
        "same" if key else None,
    )


@pytest.mark.parametrize(
    ("amount", "micros", "text"),
    [
        (706245.0, 706_245_000_000, "706245"),
        (0.5, 500_000, "0.5"),
        (1, 1_000_000, "1"),
        (12.345, 12_345_000, "12.345"),
        (1 / 3, 333_333, "0.333333"),  # more digits than a millionth: rounded half to even
        (2.5e-7, 0, "0"),
        (1e20, 10**26, "100000000000000000000"),
    ],
)
def test_quantities_are_whole_millionths_written_without_float_noise(
    amount: float, micros: int, text: str
) -> None:
    assert micro_units(amount) == micros
    assert quantity_text(quantity(amount)) == text


def test_a_range_splits_into_whole_hours_and_partial_ones() -> None:
    start, end = HOUR + timedelta(minutes=5), HOUR + timedelta(hours=3, minutes=1)
    assert whole_hours(start, end) == (HOUR + timedelta(hours=1), HOUR + timedelta(hours=3))
    assert partial_hours(start, end) == [
        (start, HOUR + timedelta(hours=1)),
        (HOUR + timedelta(hours=3), end),
    ]
    aligned = (HOUR, HOUR + timedelta(days=1))
    assert whole_hours(*aligned) == aligned
    assert partial_hours(*aligned) == []
    inside = (HOUR + timedelta(minutes=1), HOUR + timedelta(minutes=59))
    assert whole_hours(*inside) is None
    assert partial_hours(*inside) == [inside]
    assert partial_hours(start, start) == []


@pytest.mark.parametrize("portable", [False, True], ids=["sqlite", "portable"])
async def test_a_group_refused_for_a_repeated_key_is_counted_once(
    sessions: sessionmaker[Session], org_id: int, portable: bool
) -> None:
    """The group rolls back and its records are written one by one: the rollups follow."""
    ledger = Ledger(sessions, inline=True, clock=lambda: AT)
    if portable:
        ledger._rows = CoreRows(sessions.kw["bind"], lambda: AT)
    results = await asyncio.gather(
        ledger.record(_entry(org_id, 1, "k", tokens=10)),
        ledger.record(_entry(org_id, 2, "k", tokens=10)),
        ledger.record(_entry(org_id, 3, tokens=0.25)),
        return_exceptions=True,
    )
    await ledger.close()
    assert sum(isinstance(result, AlreadyExists) for result in results) == 1
    with sessions() as session:
        rollups = {
            row.unit: row.quantity
            for row in session.scalars(select(UsageRollupRow).where(UsageRollupRow.hour == HOUR))
        }
    assert rollups == {"requests": 2_000_000, "tokens": 10_250_000}
    assert rollup_discrepancies(sessions) == []


async def test_reports_cut_inside_an_hour_add_that_hours_records_only(
    sessions: sessionmaker[Session], org_id: int
) -> None:
    moments = iter(
        [HOUR + timedelta(minutes=m) for m in (10, 30, 50)] + [HOUR + timedelta(hours=1, minutes=5)]
    )
    ledger = Ledger(sessions, inline=True, clock=lambda: next(moments))
    for index in range(4):
        await ledger.record(_entry(org_id, index, tokens=index + 0.5))
    await ledger.close()
    reports = UsageReports(sessions)
    start, end = HOUR + timedelta(minutes=20), HOUR + timedelta(hours=1, minutes=6)
    assert reports.sums(org_id, start, end, "model") == {
        ("chat", "requests"): Decimal(3),
        ("chat", "tokens"): Decimal("7.5"),  # 1.5 + 2.5 + 3.5, not the 0.5 at 22:10
    }
    assert reports.sums(org_id, start, start + timedelta(minutes=1), "day") == {}
    by_key = reports.sums(org_id, HOUR, HOUR + timedelta(hours=2), "key")
    assert by_key == {("7", "requests"): Decimal(4), ("7", "tokens"): Decimal(8)}


def test_records_written_and_deleted_through_the_orm_keep_the_rollups_in_step(
    sessions: sessionmaker[Session], org_id: int
) -> None:
    record = UsageRow(
        request_id="by-hand",
        org_id=org_id,
        key_id=None,
        model="chat",
        version=1,
        units={"requests": 1, "tokens": 2.5},
        latency_ms=1.0,
        created_at=AT.astimezone(),  # any zone: the hour is UTC's
    )
    with sessions() as session:
        session.add(record)
        session.commit()
    reports = UsageReports(sessions)
    day = (HOUR.replace(hour=0), HOUR.replace(hour=0) + timedelta(days=1))
    assert reports.sums(org_id, *day, "key") == {
        ("None", "requests"): Decimal(1),
        ("None", "tokens"): Decimal("2.5"),
    }
    assert rollup_discrepancies(sessions) == []
    with sessions() as session:
        session.delete(session.get_one(UsageRow, record.id))
        session.commit()
    assert reports.sums(org_id, *day, "key") == {}
    assert rollup_discrepancies(sessions) == []


def test_a_usage_record_is_never_updated(sessions: sessionmaker[Session], org_id: int) -> None:
    with sessions() as session:
        session.add(
            UsageRow(
                request_id="r", org_id=org_id, key_id=1, model="chat", version=1,
                units={"requests": 1}, latency_ms=1.0,
            )
        )  # fmt: skip
        session.commit()
        row = session.scalars(select(UsageRow)).one()
        row.units = {"requests": 2}
        with pytest.raises(ModelMartError, match="usage records are never changed"):
            session.flush()


def test_the_consistency_check_finds_a_record_written_behind_the_ledgers_back(
    sessions: sessionmaker[Session], org_id: int
) -> None:
    with sessions() as session:  # Core, not the ledger nor the ORM: no rollup follows
        session.execute(
            insert(UsageRow),
            [{"request_id": "r", "org_id": org_id, "key_id": 3, "model": "chat", "version": 1,
              "units": {"requests": 1}, "latency_ms": 1.0, "created_at": AT}],
        )  # fmt: skip
        session.commit()
    assert rollup_discrepancies(sessions) == [
        RollupDiscrepancy(org_id, HOUR, "chat", 3, "requests", stored=None, recorded=Decimal(1))
    ]
