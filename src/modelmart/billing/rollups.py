"""Hourly usage rollups, kept in step with the ledger.

Every transaction that writes usage records also adds them to the rollups
(:class:`~modelmart.store.tables.UsageRollupRow`: one row per organisation, hour, model, API
key and unit), with an upsert the database itself adds up::

    INSERT INTO usage_rollups (...) VALUES (...)
    ON CONFLICT (org_id, hour, model, key_id, unit)
    DO UPDATE SET quantity = usage_rollups.quantity + excluded.quantity

so two writers never lose each other's counts, and a transaction that rolls back (a repeated
idempotency key, a broken connection) takes its rollups with it: the rollups and the ledger
cannot disagree. The ledger's own writers (:mod:`modelmart.billing.ledger_writers`) add a
group's :class:`RollupDeltas`; records written through the ORM instead (tools, tests) are
added, and removed when deleted, by the mapper events at the end of this module. Records are
never updated (``store.tables`` refuses it).

Quantities are whole millionths of a unit (:func:`~modelmart.billing.money.micro_units`):
integers, exact on SQLite as on PostgreSQL. A record's energy is added as the unit
``energy_joules``, its microjoules as they are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import Mapper
from sqlalchemy.sql.dml import Insert

from modelmart.billing.money import micro_units
from modelmart.billing.usage_records import ENERGY_UNIT
from modelmart.store.tables import NO_KEY, Base, UsageRollupRow, UsageRow

ROLLUPS: Table = Base.metadata.tables[UsageRollupRow.__tablename__]
ROLLUP_KEY = ("org_id", "hour", "model", "key_id", "unit")
ROLLUP_COLUMNS = (*ROLLUP_KEY, "quantity")
_MICROS_KEPT = 256

RollupKey = tuple[int, datetime, str, int, str]


def hour_of(moment: datetime) -> datetime:
    """The start of ``moment``'s hour (UTC): the bucket its usage is added to."""
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def key_column(key_id: int | None) -> int:
    return NO_KEY if key_id is None else key_id


def key_of(key_column_value: int) -> int | None:
    return None if key_column_value == NO_KEY else key_column_value


class RollupDeltas:
    """What a group of records adds to the rollups, one amount per rollup row (a statement
    may not update one row twice on PostgreSQL, and fewer rows are fewer upserts)."""

    def __init__(self) -> None:
        self._deltas: defaultdict[RollupKey, int] = defaultdict(int)
        self._micros: dict[tuple[tuple[str, Any], ...], tuple[tuple[str, int], ...]] = {}

    def add(
        self,
        org_id: int,
        hour: datetime,
        model: str,
        key_id: int | None,
        units: Mapping[str, Any],
        sign: int = 1,
        energy_uj: int = 0,
    ) -> None:
        key = key_column(key_id)
        for unit, micros in self._units_in_micros(units):
            self._deltas[(org_id, hour, model, key, unit)] += sign * micros
        if energy_uj:  # joules' millionths are microjoules
            self._deltas[(org_id, hour, model, key, ENERGY_UNIT)] += sign * energy_uj

    def _units_in_micros(self, units: Mapping[str, Any]) -> tuple[tuple[str, int], ...]:
        # A model's requests mostly report the same units: convert each distinct set once.
        key = tuple(units.items())
        micros = self._micros.get(key)
        if micros is None:
            if len(self._micros) >= _MICROS_KEPT:
                self._micros.clear()
            micros = self._micros[key] = tuple((unit, micro_units(v)) for unit, v in key)
        return micros

    def rows(self) -> list[tuple[int, datetime, str, int, str, int]]:
        """(org_id, hour, model, key_id, unit, quantity), in :data:`ROLLUP_COLUMNS` order and
        in key order: concurrent transactions lock the rows they add to in the same order, so
        two server processes on PostgreSQL cannot deadlock on them. A zero amount adds nothing
        (reports leave out groups that add up to zero)."""
        return sorted((*key, quantity) for key, quantity in self._deltas.items() if quantity)

    def clear(self) -> None:
        self._deltas.clear()


def upsert_statement(dialect: Dialect) -> Insert:
    """The rollups' add-up-on-conflict ``INSERT`` for SQLite or PostgreSQL."""
    statement: Any
    if dialect.name == "sqlite":
        statement = sqlite.insert(ROLLUPS)
    elif dialect.name == "postgresql":
        statement = postgresql.insert(ROLLUPS)
    else:  # store.db accepts no other database
        raise NotImplementedError(f"usage rollups need SQLite or PostgreSQL, not {dialect.name}")
    upsert: Insert = statement.on_conflict_do_update(
        index_elements=list(ROLLUP_KEY),
        set_={"quantity": ROLLUPS.c.quantity + statement.excluded.quantity},
    )
    return upsert


def add_to_rollups(connection: Connection, rows: Iterable[tuple[Any, ...]]) -> None:
    """Add ``rows`` (see :meth:`RollupDeltas.rows`) in ``connection``'s transaction."""
    parameters = [dict(zip(ROLLUP_COLUMNS, row, strict=True)) for row in rows]
    if parameters:
        connection.execute(upsert_statement(connection.dialect), parameters)


# --- records written through the ORM ----------------------------------------------------------


def _record_delta(target: UsageRow, sign: int) -> RollupDeltas:
    deltas = RollupDeltas()
    deltas.add(
        target.org_id,
        hour_of(target.created_at),
        target.model,
        target.key_id,
        target.units if isinstance(target.units, Mapping) else {},
        sign,
        target.energy_uj or 0,
    )
    return deltas


@event.listens_for(UsageRow, "after_insert")
def _count_inserted(_mapper: Mapper[Any], connection: Connection, target: UsageRow) -> None:
    add_to_rollups(connection, _record_delta(target, 1).rows())


@event.listens_for(UsageRow, "after_delete")
def _uncount_deleted(_mapper: Mapper[Any], connection: Connection, target: UsageRow) -> None:
    add_to_rollups(connection, _record_delta(target, -1).rows())
