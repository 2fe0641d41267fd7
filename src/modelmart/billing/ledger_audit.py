"""The usage ledger added up from its records alone, record by record: slow (it reads every
record of the range), and the reference the hourly rollups must always agree with.

:func:`rollup_discrepancies` is the operator's consistency check: the rollups as stored against
the rollups the records add up to. The tests compare every usage report and invoice built from
the rollups with :func:`usage_from_records` and :func:`totals` over the same records.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from modelmart.billing.money import from_micro_units
from modelmart.billing.rollups import hour_of, key_column, key_of
from modelmart.billing.usage_records import recorded_micros
from modelmart.billing.usage_reports import GroupBy, Sums
from modelmart.store.tables import UsageRollupRow, UsageRow

RollupKey = tuple[int, datetime, str, int | None, str]


def totals(rows: Iterable[UsageRow]) -> dict[tuple[str, str], Decimal]:
    """Units used per (model, unit), as invoices list them."""
    summed: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        for unit, micros in recorded_micros(row.units, row.energy_uj):
            summed[(row.model, unit)] += micros
    return {group: from_micro_units(micros) for group, micros in summed.items() if micros}


def usage_from_records(rows: Iterable[UsageRow], group_by: GroupBy) -> Sums:
    """Units used per (group, unit), as :meth:`UsageReports.sums` reports them."""
    summed: dict[tuple[str, str], int] = defaultdict(int)
    for row in rows:
        group = _group_of(row, group_by)
        for unit, micros in recorded_micros(row.units, row.energy_uj):
            summed[(group, unit)] += micros
    return {group: from_micro_units(micros) for group, micros in summed.items() if micros}


def _group_of(row: UsageRow, group_by: GroupBy) -> str:
    if group_by == "day":
        return row.created_at.date().isoformat()
    if group_by == "key":
        return str(row.key_id)
    if group_by == "model":
        return row.model
    return ""


@dataclass(frozen=True)
class RollupDiscrepancy:
    """A rollup row that is not what its records add up to (``None``: no such row)."""

    org_id: int
    hour: datetime
    model: str
    key_id: int | None
    unit: str
    stored: Decimal | None
    recorded: Decimal | None


def rollup_discrepancies(sessions: sessionmaker[Session]) -> list[RollupDiscrepancy]:
    """Every difference between the stored rollups and the usage records (none, unless a
    record was written or removed behind the ledger's back)."""
    with sessions() as session:
        recorded = _rollups_from_records(session)
        stored = _stored_rollups(session)
    return [
        RollupDiscrepancy(
            *key,
            stored=_decimal(stored.get(key)),
            recorded=_decimal(recorded.get(key)),
        )
        for key in sorted(recorded.keys() | stored.keys(), key=repr)
        if stored.get(key, 0) != recorded.get(key, 0)  # a zero row is no row
    ]


def _decimal(micros: int | None) -> Decimal | None:
    return None if micros is None else from_micro_units(micros)


def _rollups_from_records(session: Session) -> dict[RollupKey, int]:
    micros: defaultdict[RollupKey, int] = defaultdict(int)
    query = select(
        UsageRow.org_id,
        UsageRow.created_at,
        UsageRow.model,
        UsageRow.key_id,
        UsageRow.units,
        UsageRow.energy_uj,
    ).execution_options(yield_per=5000)
    for org_id, created_at, model, key_id, units, energy_uj in session.execute(query):
        for unit, amount in recorded_micros(units, energy_uj):
            key = (org_id, hour_of(created_at), model, key_of(key_column(key_id)), unit)
            micros[key] += amount
    return dict(micros)


def _stored_rollups(session: Session) -> dict[RollupKey, int]:
    rows = session.execute(
        select(
            UsageRollupRow.org_id,
            UsageRollupRow.hour,
            UsageRollupRow.model,
            UsageRollupRow.key_id,
            UsageRollupRow.unit,
            UsageRollupRow.quantity,
        )
    )
    return {
        (org_id, hour, model, key_of(key_id), unit): quantity
        for org_id, hour, model, key_id, unit, quantity in rows
    }
