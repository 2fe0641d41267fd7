"""Usage reports and invoices read from the hourly rollups equal, to the last millionth, what
the usage records themselves add up to: random traffic (organisations, models, keys, units,
fractional amounts, records spread over days and a month's end, repeated idempotency keys that
roll their group back), then every report and invoice computed both ways, on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import get_args

import pytest
from alembic import command
from sqlalchemy import JSON, DateTime, column, insert, table
from sqlalchemy.orm import Session, sessionmaker

from modelmart.accounts.service import AccountService
from modelmart.billing.invoices import Period, build_invoice
from modelmart.billing.ledger import Ledger, StoredResponse, UsageEntry
from modelmart.billing.ledger_audit import rollup_discrepancies, totals, usage_from_records
from modelmart.billing.money import quantity_text
from modelmart.billing.prices import Price, PriceBook
from modelmart.billing.service import Billing
from modelmart.billing.usage_records import ENERGY_UNIT
from modelmart.billing.usage_reports import GroupBy, UsageReports
from modelmart.errors import AlreadyExists, IdempotencyKeyReused
from modelmart.store.db import alembic_config, create_engine_for, migrate, session_factory
from modelmart.store.tables import OrganizationRow, UsageRow
from tests.unit.accounts.tenants import caller, make_org

START = datetime(2026, 11, 29, 21, 17, 3, 250_000, tzinfo=UTC)  # across November's end
SPAN = timedelta(days=3, hours=5)
RECORDS_OF_0005 = table(
    "usage_records",
    *(column(name) for name in ("request_id", "org_id", "key_id", "model", "version")),
    column("units", JSON()),
    column("latency_ms"),
    column("created_at", DateTime(timezone=True)),
)
"""The usage records' columns as revision 0005 knew them (the ORM's table has more)."""
MODELS = ("chat", "acme:iris", "whisper")
SEEDS = (7, 2026)


@dataclass
class FakeClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = create_engine_for(database_url)
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


def _units(rng: random.Random, model: str) -> dict[str, float]:
    units = {"requests": 1.0}
    if model == "chat":
        units["tokens"] = float(rng.randrange(0, 5000))
    elif model == "whisper":
        units["audio_seconds"] = round(rng.uniform(0, 90), 3)
        if rng.random() < 0.2:  # more digits than billed: rounded to a millionth, both ways
            units["audio_seconds"] = rng.uniform(0, 1)
    else:
        units["items"] = float(rng.randrange(1, 64))
    return units


def _entry(rng: random.Random, index: int, org_ids: list[int], keys: list[str]) -> UsageEntry:
    model = rng.choice(MODELS)
    key = rng.choice(keys) if keys and rng.random() < 0.3 else None
    return UsageEntry(
        request_id=f"r{index}",
        org_id=rng.choice(org_ids),
        key_id=rng.choice([None, 1, 2, 3]),
        model=model,
        version=1,
        units=_units(rng, model),
        latency_ms=1.0,
        idempotency_key=key,
        response=StoredResponse(200, "application/json", b"{}") if key else None,
        request_hash=rng.choice(["same", "other"]) if key else None,
        energy_uj=rng.choice([0, rng.randrange(1, 10**7), rng.randrange(1, 10**13)]),
    )


async def _random_traffic(
    rng: random.Random, sessions: sessionmaker[Session], org_ids: list[int]
) -> tuple[int, int]:
    """Groups of concurrent records at random moments; (written, refused)."""
    clock = FakeClock(START)
    ledger = Ledger(sessions, inline=rng.random() < 0.5, clock=clock)
    keys = [f"idem-{n}" for n in range(25)]  # few: many repeats, within and across groups
    written = refused = index = 0
    for moment in sorted(START + SPAN * rng.random() for _ in range(60)):
        clock.now = moment
        entries = [_entry(rng, index + n, org_ids, keys) for n in range(rng.randrange(1, 20))]
        index += len(entries)
        results = await asyncio.gather(
            *(ledger.record(entry) for entry in entries), return_exceptions=True
        )
        for result in results:
            if isinstance(result, AlreadyExists | IdempotencyKeyReused):
                refused += 1
            elif result is None:
                written += 1
            else:
                raise result
    with sessions() as session:  # a record written by hand, as a tool would: counted too
        session.add(
            UsageRow(
                request_id="by-hand",
                org_id=org_ids[0],
                key_id=None,
                model="chat",
                version=1,
                units={"requests": 1, "tokens": 12.5},
                energy_uj=1_234_567,
                latency_ms=1.0,
                created_at=START + timedelta(hours=7, minutes=59, seconds=59),
            )
        )
        session.commit()
    await ledger.close()
    return written + 1, refused


def _ranges(rng: random.Random) -> list[tuple[datetime, datetime]]:
    """Whole months, whole hours, ranges inside one hour and ranges cut anywhere."""
    november, december = Period(2026, 11), Period(2026, 12)
    spans = [(november.start, november.end), (december.start, december.end), (START, START)]
    hour = START.replace(minute=0, second=0, microsecond=0)
    spans += [
        (hour, hour + timedelta(hours=5)),
        (hour + timedelta(minutes=5), hour + timedelta(minutes=50)),
    ]
    for _ in range(12):
        start = START - timedelta(hours=2) + (SPAN + timedelta(hours=4)) * rng.random()
        spans.append((start, start + timedelta(seconds=rng.uniform(1, 40 * 3600))))
    return spans


def _ledger_rows(
    sessions: sessionmaker[Session], org_id: int | None, span: tuple[datetime, datetime]
) -> list[UsageRow]:
    return list(Ledger(sessions).rows(org_id, *span))


@pytest.mark.parametrize("seed", SEEDS)
async def test_reports_and_invoices_from_rollups_equal_the_records(
    sessions: sessionmaker[Session], seed: int
) -> None:
    rng = random.Random(seed)
    accounts = AccountService(sessions)
    orgs = [
        make_org(accounts, slug, plan)
        for slug, plan in (("acme", "pay-as-you-go"), ("beta", "pro"), ("gamma", "free"))
    ]
    billing = Billing(sessions)
    billing.start()
    billing.put_price(Price(model="chat", unit="tokens", amount=Decimal("0.002"), per=1000), None)
    billing.put_price(Price(model="*", unit="requests", amount=Decimal("0.0001")), None)
    billing.put_price(Price(model="whisper", unit="audio_seconds", amount=Decimal("0.0003")), None)

    written, refused = await _random_traffic(rng, sessions, [org.id for org in orgs])
    assert refused > 0, "the traffic repeats idempotency keys"
    assert Ledger(sessions).count() == written
    assert rollup_discrepancies(sessions) == []

    for org_id in [*(org.id for org in orgs), None]:
        for span in _ranges(rng):
            records = _ledger_rows(sessions, org_id, span)
            for group_by in get_args(GroupBy):
                expected = usage_from_records(records, group_by)
                assert billing.reports.sums(org_id, *span, group_by) == expected, (
                    org_id,
                    span,
                    group_by,
                )

    for org in orgs:
        for period in (Period(2026, 11), Period(2026, 12)):
            draft = billing.statements.invoice(caller(org), org.slug, period)
            used = totals(_ledger_rows(sessions, org.id, (period.start, period.end)))
            prices = PriceBook(billing.prices())
            expected = build_invoice(org.slug, billing.plan(org.plan), period, used, prices)
            assert draft == {**expected, "status": "draft"}
            usage_lines = [line for line in draft["lines"] if line["kind"] == "usage"]
            charged = {group: amount for group, amount in used.items() if group[1] != ENERGY_UNIT}
            assert {
                (line["model"], line["unit"]): Decimal(line["quantity"]) for line in usage_lines
            } == charged
            # Energy is listed, exact, and never charged.
            joules = {
                model: amount for (model, unit), amount in used.items() if unit == ENERGY_UNIT
            }
            assert {row["model"]: Decimal(row["joules"]) for row in draft["energy"]} == joules
            assert Decimal(draft["energy_joules"]) == sum(joules.values(), Decimal(0))
            rows = _ledger_rows(sessions, org.id, (period.start, period.end))
            energy_uj = sum(row.energy_uj for row in rows)
            assert Decimal(draft["energy_joules"]) == Decimal(energy_uj).scaleb(-6)
    await billing.close()


async def test_quantities_are_written_as_exact_decimals(sessions: sessionmaker[Session]) -> None:
    accounts = AccountService(sessions)
    org = make_org(accounts, "acme", "pay-as-you-go")
    billing = Billing(sessions)
    billing.start()
    clock = FakeClock(START)
    billing.ledger = Ledger(sessions, clock=clock)
    for index, seconds in enumerate((0.25, 0.25, 1000.0)):
        units = {"requests": 1.0, "audio_seconds": seconds}
        await billing.ledger.record(UsageEntry(f"r{index}", org.id, 1, "whisper", 1, units, 1.0))
    month = Period.of(START)
    usage = billing.statements.usage(
        caller(org), None, start=month.start, end=month.end, group_by="model"
    )
    assert usage == [
        {"model": "whisper", "unit": "audio_seconds", "quantity": "1000.5"},
        {"model": "whisper", "unit": "requests", "quantity": "3"},
    ]
    (line,) = [
        line
        for line in billing.statements.invoice(caller(org), "acme", month)["lines"]
        if line["unit"] == "requests"
    ]
    assert (line["quantity"], line["included"], line["billable"]) == ("3", "0", "3")
    assert quantity_text(Decimal("706245.0")) == "706245"
    assert quantity_text(Decimal("7.0E+5")) == "700000"
    await billing.close()


def test_the_migration_fills_the_rollups_from_the_records_already_written(
    database_url: str,
) -> None:
    engine = create_engine_for(database_url)
    try:
        command.upgrade(alembic_config(engine), "0005")
        rng = random.Random(5)
        with engine.begin() as connection:  # Core: the schema of 0005 has no rollups yet
            org_ids = [
                connection.execute(
                    insert(OrganizationRow.__table__).returning(OrganizationRow.__table__.c.id),
                    {"slug": slug, "name": slug, "plan": "free", "is_operator": False,
                     "data_sharing_consent": False, "budget_action": "stop", "created_at": START},
                ).scalar_one()
                for slug in ("acme", "beta")
            ]  # fmt: skip
            records = []
            for index in range(400):
                entry = _entry(rng, index, org_ids, [])
                records.append(
                    {"request_id": entry.request_id, "org_id": entry.org_id,
                     "key_id": entry.key_id, "model": entry.model, "version": 1,
                     "units": entry.units, "latency_ms": 1.0,
                     "created_at": START + SPAN * rng.random()}
                )  # fmt: skip
            connection.execute(insert(RECORDS_OF_0005), records)
        migrate(engine)
        sessions = session_factory(engine)
        assert rollup_discrepancies(sessions) == []
        reports = UsageReports(sessions)
        for org_id in (*org_ids, None):
            span = (START, START + SPAN)
            expected = usage_from_records(_ledger_rows(sessions, org_id, span), "model")
            assert reports.sums(org_id, *span, "model") == expected
    finally:
        engine.dispose()
