"""How a group of usage records reaches the database: one transaction holding the records and
what they add to the hourly rollups (:mod:`modelmart.billing.rollups`), so the two commit or
roll back together.

On a SQLite file the rows go through the sqlite3 driver itself (:class:`SqliteRows`) and the
WAL is checkpointed on a thread of its own
(:class:`~modelmart.billing.wal_checkpoints.WalCheckpoints`); other databases take SQLAlchemy
Core's ``executemany`` (:class:`CoreRows`).
"""

from __future__ import annotations

import contextlib
import sqlite3
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Column, Engine, insert
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import PoolProxiedConnection

from modelmart.billing.rollups import (
    ROLLUP_COLUMNS,
    ROLLUPS,
    RollupDeltas,
    add_to_rollups,
    hour_of,
    upsert_statement,
)
from modelmart.billing.usage_records import UsageEntry
from modelmart.billing.wal_checkpoints import WalCheckpoints, own_connection
from modelmart.store.tables import Base, UsageRow

_TABLE = Base.metadata.tables[UsageRow.__tablename__]
_INSERT = insert(_TABLE)
_COLUMNS = (
    "request_id",
    "org_id",
    "key_id",
    "model",
    "version",
    "units",
    "latency_ms",
    "created_at",
    "idempotency_key",
    "response_status",
    "response_type",
    "response_body",
    "request_hash",
    "energy_uj",
)
_UNITS_CACHE_SIZE = 256
MAX_CHUNK = 64


class Refused(Exception):
    """The database refused a row of the group (a constraint), so it wrote none of them."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def rows_writer(engine: Engine, clock: Clock = utc_now) -> RowsWriter:
    """The sqlite3 path for a SQLite file; an in-memory database lives in one connection of
    its pool, which that path (on connections of its own) would not see. ``clock`` stamps
    each group."""
    url = engine.url
    in_memory = url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    if url.get_backend_name() == "sqlite" and url.get_driver_name() == "pysqlite" and not in_memory:
        return SqliteRows(engine, clock)
    return CoreRows(engine, clock)


class RowsWriter(ABC):
    """Inserts one group of records, and adds them to the rollups, in one transaction, on a
    connection it keeps open (checking one out of the pool per group costs as much as the
    write)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._deltas = RollupDeltas()

    @abstractmethod
    def insert(self, entries: Sequence[UsageEntry]) -> None:
        """All of ``entries`` or none; :class:`Refused` if a constraint refused one."""

    @abstractmethod
    def close(self) -> None: ...

    def checkpoint_to_finish(self) -> Future[None] | None:
        """Work to wait for before the next group commits; the loop serves meanwhile."""
        return None

    def _rollup_rows(
        self, entries: Sequence[UsageEntry], now: datetime
    ) -> list[tuple[int, datetime, str, int, str, int]]:
        """What ``entries``, all stamped ``now``, add to the rollups."""
        deltas = self._deltas
        deltas.clear()
        hour = hour_of(now)
        for entry in entries:
            deltas.add(
                entry.org_id, hour, entry.model, entry.key_id, entry.units, 1, entry.energy_uj
            )
        return deltas.rows()


class CoreRows(RowsWriter):
    """Any database: a Core ``executemany`` (the ORM's bulk path costs more than the write)."""

    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        super().__init__(clock)
        self._engine = engine
        self._connection: Connection | None = None

    def insert(self, entries: Sequence[UsageEntry]) -> None:
        now = self._clock()
        rows = [
            dict(zip(_COLUMNS, _values(entry, entry.units, now), strict=True)) for entry in entries
        ]
        rollups = self._rollup_rows(entries, now)
        if self._connection is None:
            self._connection = self._engine.connect()
        try:
            with self._connection.begin():
                self._connection.execute(_INSERT, rows)
                add_to_rollups(self._connection, rollups)
        except IntegrityError as exc:
            raise Refused(exc.orig if isinstance(exc.orig, Exception) else exc) from exc
        except Exception:
            self.close()  # a broken connection: the next group opens a new one
            raise

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class SqliteRows(RowsWriter):
    """SQLite through the sqlite3 driver directly, a group in a few multi-row ``INSERT``s
    (chunks of 64, 32, ... 1 rows: one statement each, compiled once; SQLite's time per row
    drops by a quarter from an ``executemany``, which steps a statement once per row), with
    the two typed columns converted the way SQLAlchemy would (one timestamp per group, and the
    JSON of a units mapping reused while it repeats, as it does for every request of a model),
    so a group costs little more than SQLite's own insert. The group's rollups follow in one
    ``executemany`` of the upsert (a row per organisation, model, key and unit of the group).

    Its connection does not checkpoint: SQLite's automatic checkpoint runs inside the commit
    that crosses 1000 WAL pages and flushes the WAL and the database file to disk, stalling
    whoever committed (the event loop, for an inline ledger) for milliseconds to tens of
    milliseconds on a busy disk. :class:`WalCheckpoints` does it on a thread of its own instead.
    A committed row is in the WAL either way; checkpoints only move it into the main file."""

    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        super().__init__(clock)
        self._engine = engine
        self._stamp = _bind_processor(_TABLE.c.created_at, engine.dialect)
        self._hour_stamp = _bind_processor(ROLLUPS.c.hour, engine.dialect)
        self._last_hour: datetime | None = None
        self._last_hour_text: Any = None
        self._to_json = _bind_processor(_TABLE.c.units, engine.dialect)
        self._units_json: dict[tuple[tuple[str, float], ...], Any] = {}
        self._integrity_error: type[Exception] = engine.dialect.loaded_dbapi.IntegrityError
        self._statements: dict[int, str] = {}
        self._upsert = _compiled_upsert(engine.dialect)
        self._largest_chunk = 1
        self._connection: PoolProxiedConnection | None = None
        self._cursor: Any = None
        self._checkpoints = WalCheckpoints(engine)

    def insert(self, entries: Sequence[UsageEntry]) -> None:
        moment = self._clock()
        now = self._stamp(moment)
        rows = [_values(entry, self._units(entry.units), now) for entry in entries]
        rollups = self._rollup_rows(entries, moment)
        if rollups:
            hour = self._stamped_hour(rollups[0][1])  # one hour for the whole group
            rollups = [(org, hour, *rest) for org, _, *rest in rollups]
        cursor = self._open()
        try:
            # The connection runs in autocommit mode (see store.db): the transaction is ours.
            cursor.execute("BEGIN IMMEDIATE")
            try:
                for start, count in _chunks(len(rows), self._largest_chunk):
                    values = [value for row in rows[start : start + count] for value in row]
                    cursor.execute(self._statement(count), values)
                cursor.executemany(self._upsert, rollups)
                cursor.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):
                    cursor.execute("ROLLBACK")
                raise
        except self._integrity_error as exc:
            raise Refused(exc) from exc
        except Exception:
            self._disconnect()  # a broken connection: the next group opens a new one
            raise
        self._checkpoints.committed()

    def _stamped_hour(self, hour: datetime) -> Any:
        """``hour`` as SQLite stores it, converted once an hour rather than once a group."""
        if hour != self._last_hour:
            self._last_hour, self._last_hour_text = hour, self._hour_stamp(hour)
        return self._last_hour_text

    def _statement(self, rows: int) -> str:
        statement = self._statements.get(rows)
        if statement is None:
            compiled = (
                insert(_TABLE)
                .values([dict.fromkeys(_COLUMNS)] * rows)
                .compile(dialect=self._engine.dialect)
            )
            expected = [f"{column}_m{row}" for row in range(rows) for column in _COLUMNS]
            assert compiled.positiontup == expected, "values are bound row by row in order"
            statement = self._statements[rows] = str(compiled)
        return statement

    def _units(self, units: dict[str, float]) -> Any:
        key = tuple(units.items())
        text = self._units_json.get(key)
        if text is None:
            if len(self._units_json) >= _UNITS_CACHE_SIZE:
                self._units_json.clear()
            text = self._units_json[key] = self._to_json(units)
        return text

    def _open(self) -> Any:
        if self._cursor is None:
            connection = self._connection = own_connection(self._engine)
            self._cursor = connection.cursor()
            self._cursor.execute("PRAGMA wal_autocheckpoint=0")
            driver = cast(sqlite3.Connection, connection.dbapi_connection)
            variables = driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
            self._largest_chunk = _largest_chunk(variables // len(_COLUMNS))
        return self._cursor

    def _disconnect(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._cursor.close()
            self._connection.close()
        self._connection = self._cursor = None

    def checkpoint_to_finish(self) -> Future[None] | None:
        return self._checkpoints.finishing()

    def close(self) -> None:
        self._disconnect()
        self._checkpoints.close()


def _compiled_upsert(dialect: Dialect) -> str:
    """The rollup upsert as SQL for the sqlite3 driver, its values bound in column order."""
    compiled = (
        upsert_statement(dialect).values(dict.fromkeys(ROLLUP_COLUMNS)).compile(dialect=dialect)
    )
    assert compiled.positiontup == list(ROLLUP_COLUMNS), "values are bound in column order"
    return str(compiled)


def _largest_chunk(most_rows: int) -> int:
    """The largest power of two up to :data:`MAX_CHUNK` and ``most_rows`` (SQLite's limit on
    the bound values of one statement, in rows)."""
    chunk = 1
    while chunk * 2 <= min(MAX_CHUNK, most_rows):
        chunk *= 2
    return chunk


def _chunks(rows: int, largest: int) -> Iterator[tuple[int, int]]:
    """(start, count) covering ``rows`` in powers of two from ``largest`` down: 37 rows are 32,
    4 and 1, so a handful of statements serve every group size."""
    start, chunk = 0, largest
    while start < rows:
        while chunk > rows - start:
            chunk //= 2
        yield start, chunk
        start += chunk


def is_duplicate(error: BaseException) -> bool:
    """Whether the driver's integrity error is the unique idempotency key (rather than, say, a
    foreign key): SQLite and PostgreSQL name it; another driver's is taken to be the key."""
    name = getattr(error, "sqlite_errorname", None)
    if name is not None:
        return bool(name == "SQLITE_CONSTRAINT_UNIQUE")
    state = getattr(error, "sqlstate", None)
    return state is None or state == "23505"


def _bind_processor(column: Column[Any], dialect: Dialect) -> Callable[[Any], Any]:
    """What SQLAlchemy does to a value of ``column`` before the driver sees it (the dialect's
    own type: SQLite's text timestamp format and JSON serialiser)."""
    processor = column.type.dialect_impl(dialect).bind_processor(dialect)
    return processor if processor is not None else _unchanged


def _unchanged(value: Any) -> Any:
    return value


def _values(entry: UsageEntry, units: Any, now: Any) -> tuple[Any, ...]:
    """A record's columns in :data:`_COLUMNS` order."""
    response = entry.response
    return (
        entry.request_id,
        entry.org_id,
        entry.key_id,
        entry.model,
        entry.version,
        units,
        entry.latency_ms,
        now,
        entry.idempotency_key,
        response.status if response else None,
        response.media_type if response else None,
        response.body if response else None,
        entry.request_hash,
        entry.energy_uj,
    )
