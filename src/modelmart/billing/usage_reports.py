"""Usage added up over a time range, read from the hourly rollups.

A range's whole hours come from the rollups (a row per organisation, hour, model, key and unit:
the cost grows with the groups, not with the requests); a range that starts or ends inside an
hour takes that partial hour from the usage records themselves (an index on the organisation
and the time serves it), so any ``start`` and ``end`` give the exact figure the records add up
to. Ranges on hour boundaries, such as a month, read no record at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Select, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from modelmart.billing.money import from_micro_units
from modelmart.billing.rollups import hour_of, key_of
from modelmart.billing.usage_records import recorded_micros
from modelmart.store.tables import UsageRollupRow, UsageRow

GroupBy = Literal["day", "model", "key", "unit"]
"""What usage is added up by, besides its unit (``unit``: by unit alone)."""

HOUR = timedelta(hours=1)
Sums = dict[tuple[str, str], Decimal]
_Labeller = Callable[[datetime, int | None, str], str]


def day_label(moment: datetime) -> str:
    """The UTC day of ``moment`` (timestamps are read back in UTC)."""
    return moment.date().isoformat()


_LABELS: dict[GroupBy, _Labeller] = {
    "day": lambda moment, _key, _model: day_label(moment),
    "key": lambda _moment, key, _model: str(key),
    "model": lambda _moment, _key, model: model,
    "unit": lambda _moment, _key, _model: "",
}


def whole_hours(start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
    """The hours [first, last) that lie wholly inside [start, end), if any."""
    first = hour_of(start)
    if first < start:
        first += HOUR
    last = hour_of(end)
    return (first, last) if first < last else None


def partial_hours(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The parts of [start, end) outside its whole hours: none, one or two ranges."""
    whole = whole_hours(start, end)
    if whole is None:
        return [(start, end)] if start < end else []
    first, last = whole
    return [(a, b) for a, b in ((start, first), (last, end)) if a < b]


class UsageReports:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def sums(self, org_id: int | None, start: datetime, end: datetime, group_by: GroupBy) -> Sums:
        """Units used in [start, end) per (group, unit): one organisation's, or every one's
        (``None``). A group is a day (``2026-11-30``, UTC), a model, an API key's id
        (``None`` for records without a key), or ``""`` with ``group_by="unit"``; one that
        adds up to zero is left out."""
        micros: defaultdict[tuple[str, str], int] = defaultdict(int)
        with self._sessions() as session:
            whole = whole_hours(start, end)
            if whole is not None:
                for group, unit, quantity in self._rolled_up(session, org_id, whole, group_by):
                    micros[(group, unit)] += quantity
            label = _LABELS[group_by]
            for edge in partial_hours(start, end):
                for created_at, key_id, model, units, energy in _records(session, org_id, edge):
                    group = label(created_at, key_id, model)
                    for unit, amount in recorded_micros(units, energy):
                        micros[(group, unit)] += amount
        return {group: from_micro_units(total) for group, total in micros.items() if total}

    def _rolled_up(
        self,
        session: Session,
        org_id: int | None,
        hours: tuple[datetime, datetime],
        group_by: GroupBy,
    ) -> Iterable[tuple[str, str, int]]:
        group = _ROLLUP_GROUP[group_by]
        columns: list[InstrumentedAttribute[Any]] = [UsageRollupRow.unit]
        if group is not None:
            columns.insert(0, group)
        query: Select[Any] = (
            select(*columns, func.sum(UsageRollupRow.quantity))
            .where(UsageRollupRow.hour >= hours[0], UsageRollupRow.hour < hours[1])
            .group_by(*columns)
        )
        if org_id is not None:
            query = query.where(UsageRollupRow.org_id == org_id)
        for row in session.execute(query):
            if group is None:
                unit, quantity = row
                yield "", unit, int(quantity)
            else:
                value, unit, quantity = row
                yield _ROLLUP_LABELS[group_by](value), unit, int(quantity)


_ROLLUP_GROUP: dict[GroupBy, InstrumentedAttribute[Any] | None] = {
    "day": UsageRollupRow.hour,  # hours, added up into days here: SQL dates differ per dialect
    "key": UsageRollupRow.key_id,
    "model": UsageRollupRow.model,
    "unit": None,
}
_ROLLUP_LABELS: dict[GroupBy, Callable[[Any], str]] = {
    "day": day_label,
    "key": lambda key: str(key_of(key)),
    "model": str,
    "unit": lambda _: "",
}


def _records(
    session: Session, org_id: int | None, span: tuple[datetime, datetime]
) -> Iterable[tuple[datetime, int | None, str, dict[str, Any], int]]:
    query = select(
        UsageRow.created_at, UsageRow.key_id, UsageRow.model, UsageRow.units, UsageRow.energy_uj
    ).where(UsageRow.created_at >= span[0], UsageRow.created_at < span[1])
    if org_id is not None:
        query = query.where(UsageRow.org_id == org_id)
    for created_at, key_id, model, units, energy_uj in session.execute(query):
        yield created_at, key_id, model, units if isinstance(units, dict) else {}, energy_uj or 0
