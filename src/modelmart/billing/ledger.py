"""The usage ledger: one row per served request, written before its response completes.

Writes are grouped (group commit): requests that finish while a transaction is being written
wait for the next one, so the database sees one commit per batch instead of one per request,
yet each request still learns that *its* row is durable before its last byte is sent. A row
that cannot be written (a repeated idempotency key) fails alone, not its batch.

A row written with an idempotency key keeps the request's fingerprint (``request_hash``: its
API key, method, path and body, hashed by the gateway), so the key replays that request's
response and refuses any other request (:class:`~modelmart.errors.IdempotencyKeyReused`).

On a SQLite file the rows go through the sqlite3 driver itself and the WAL is checkpointed
on a thread of its own (:class:`_SqliteRows`, :class:`_Checkpoints`); other databases take
SQLAlchemy Core's ``executemany``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple, cast

from sqlalchemy import Column, Engine, func, insert, select
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import PoolProxiedConnection

from modelmart.billing.money import quantity
from modelmart.errors import AlreadyExists, IdempotencyKeyReused, ModelMartError
from modelmart.store.tables import Base, UsageRow

logger = logging.getLogger("modelmart.billing")

MAX_BATCH = 512
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
)
_UNITS_CACHE_SIZE = 256
MAX_CHUNK = 64
CHECKPOINT_EVERY = 100
"""Ledger commits between two WAL checkpoints: about SQLite's own default of 1000 pages, at
the 4 to 12 pages a commit writes (the last page of the table and of each index)."""
WAL_LIMIT_FRAMES = 8192
"""32 MiB of 4 KiB pages: past this, a checkpoint runs between two commits (see below)."""


@dataclass(frozen=True)
class StoredResponse:
    status: int
    media_type: str
    body: bytes


class UsageEntry(NamedTuple):
    """One served request as the ledger records it (a named tuple: one is built per request,
    in about half the time of a frozen dataclass)."""

    request_id: str
    org_id: int
    key_id: int | None
    model: str
    version: int
    units: dict[str, float]
    latency_ms: float
    idempotency_key: str | None = None
    response: StoredResponse | None = None
    request_hash: str | None = None  # with an idempotency key: the request it belongs to


@dataclass
class _Pending:
    entries: list[tuple[UsageEntry, asyncio.Future[None]]] = field(default_factory=list)


class _Refused(Exception):
    """The database refused a row of the group (a constraint), so it wrote none of them."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class Ledger:
    def __init__(self, sessions: sessionmaker[Session], *, inline: bool = False) -> None:
        """``inline`` writes each group on the event loop itself: right for a local SQLite
        file without fsync, where a commit is a short local write and a thread would cost
        more in GIL hand-offs than the write; a networked or flushing database keeps the
        writer thread, so the loop never waits on it."""
        self._sessions = sessions
        self._inline = inline
        self._pending = _Pending()
        self._writer: asyncio.Task[None] | None = None
        # One thread: batches commit in order, and SQLite sees a single writer.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="modelmart-ledger")
        self._rows = _rows_writer(sessions.kw["bind"])

    async def record(self, entry: UsageEntry) -> None:
        """Returns once ``entry`` is committed; raises if it could not be."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.entries.append((entry, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_pending())
        await future

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer
        if self._inline:
            self._rows.close()
        else:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._rows.close)
        self._executor.shutdown(wait=True)

    async def _write_pending(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending.entries:
            if self._inline:
                await asyncio.sleep(0)  # requests finishing in this loop turn join the group
            checkpoint = self._rows.checkpoint_to_finish()
            if checkpoint is not None:  # a WAL grown too long: one pass with no commit beside
                await asyncio.wrap_future(checkpoint)
            batch = self._pending.entries[:MAX_BATCH]
            del self._pending.entries[:MAX_BATCH]
            entries = [entry for entry, _ in batch]
            try:
                if self._inline:
                    errors = self._write(entries)
                else:
                    errors = await loop.run_in_executor(self._executor, self._write, entries)
            except Exception as exc:  # the database is down: every waiting request fails
                logger.exception("usage ledger write failed for %d records", len(batch))
                errors = [exc] * len(batch)
            for (_, future), error in zip(batch, errors, strict=True):
                if future.done():
                    continue
                if error is None:
                    future.set_result(None)
                else:
                    future.set_exception(error)

    def _write(self, entries: list[UsageEntry]) -> list[Exception | None]:
        try:
            self._rows.insert(entries)
            return [None] * len(entries)
        except _Refused:
            # Some row was refused (a key used before): one by one, so only its request fails.
            return [self._write_one(entry) for entry in entries]

    def _write_one(self, entry: UsageEntry) -> Exception | None:
        try:
            self._rows.insert([entry])
        except _Refused as refused:
            if not _is_duplicate(refused.error):
                return refused.error
            return self._duplicate(entry)
        return None

    def _duplicate(self, entry: UsageEntry) -> ModelMartError:
        """Why ``entry`` lost the race for its idempotency key to a request served meanwhile."""
        key = entry.idempotency_key or ""
        with self._sessions() as session:
            served = session.scalar(
                select(UsageRow.request_hash).where(
                    UsageRow.org_id == entry.org_id, UsageRow.idempotency_key == key
                )
            )
        if served is not None and served != entry.request_hash:
            return idempotency_key_reused(key)
        return AlreadyExists(
            f"a request with Idempotency-Key {key!r} was already served; retry it to get the "
            "stored response, or use a new key for a new request"
        )

    # --- reading ------------------------------------------------------------------------

    def replay(self, org_id: int, idempotency_key: str, request_hash: str) -> StoredResponse | None:
        """The response stored with ``idempotency_key``, or ``None`` when no request was
        served with it yet.

        Raises :class:`~modelmart.errors.IdempotencyKeyReused` when the key was used for a
        request with another fingerprint than ``request_hash``, and
        :class:`~modelmart.errors.AlreadyExists` when the request was served but its response
        was too large to keep (running it again would bill it twice).
        """
        with self._sessions() as session:
            row = session.scalar(
                select(UsageRow).where(
                    UsageRow.org_id == org_id, UsageRow.idempotency_key == idempotency_key
                )
            )
            if row is None:
                return None
            # Rows written before fingerprints were kept (migration 0004) have none to compare.
            if row.request_hash is not None and row.request_hash != request_hash:
                raise idempotency_key_reused(idempotency_key)
            if row.response_status is None or row.response_body is None:
                raise AlreadyExists(
                    f"the request with Idempotency-Key {idempotency_key!r} was already served "
                    "and its response was too large to keep for a replay; use a new key to "
                    "run it again",
                    details={"idempotency_key": idempotency_key},
                )
            return StoredResponse(row.response_status, row.response_type or "", row.response_body)

    def rows(self, org_id: int | None, start: datetime, end: datetime) -> Iterator[UsageRow]:
        """Every record in [start, end), for one organisation or (``None``) all of them."""
        query = (
            select(UsageRow)
            .where(UsageRow.created_at >= start, UsageRow.created_at < end)
            .order_by(UsageRow.id)
            .execution_options(yield_per=2000)
        )
        if org_id is not None:
            query = query.where(UsageRow.org_id == org_id)
        with self._sessions() as session:
            yield from session.scalars(query)

    def count(self, org_id: int | None = None) -> int:
        query = select(func.count(UsageRow.id))
        if org_id is not None:
            query = query.where(UsageRow.org_id == org_id)
        with self._sessions() as session:
            return int(session.scalar(query) or 0)


def idempotency_key_reused(key: str) -> IdempotencyKeyReused:
    return IdempotencyKeyReused(
        f"Idempotency-Key {key!r} was already used for a different request (another body, "
        "route, method or API key); a retry must repeat its request exactly: use a new key "
        "for a new request",
        details={"idempotency_key": key},
    )


def totals(rows: Iterable[UsageRow]) -> dict[tuple[str, str], Decimal]:
    """Units used per (model, unit)."""
    summed: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in rows:
        for unit, amount in row.units.items():
            summed[(row.model, unit)] += quantity(amount)
    return dict(summed)


def _rows_writer(engine: Engine) -> _RowsWriter:
    """The sqlite3 path for a SQLite file; an in-memory database lives in one connection of
    its pool, which that path (on connections of its own) would not see."""
    url = engine.url
    in_memory = url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    if url.get_backend_name() == "sqlite" and url.get_driver_name() == "pysqlite" and not in_memory:
        return _SqliteRows(engine)
    return _CoreRows(engine)


class _RowsWriter(ABC):
    """Inserts one group of records in one transaction, on a connection it keeps open
    (checking one out of the pool per group costs as much as the write)."""

    @abstractmethod
    def insert(self, entries: Sequence[UsageEntry]) -> None:
        """All of ``entries`` or none; :class:`_Refused` if a constraint refused one."""

    @abstractmethod
    def close(self) -> None: ...

    def checkpoint_to_finish(self) -> Future[None] | None:
        """Work to wait for before the next group commits; the loop serves meanwhile."""
        return None


class _CoreRows(_RowsWriter):
    """Any database: a Core ``executemany`` (the ORM's bulk path costs more than the write)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._connection: Connection | None = None

    def insert(self, entries: Sequence[UsageEntry]) -> None:
        now = datetime.now(UTC)
        rows = [
            dict(zip(_COLUMNS, _values(entry, entry.units, now), strict=True)) for entry in entries
        ]
        if self._connection is None:
            self._connection = self._engine.connect()
        try:
            with self._connection.begin():
                self._connection.execute(_INSERT, rows)
        except IntegrityError as exc:
            raise _Refused(exc.orig if isinstance(exc.orig, Exception) else exc) from exc
        except Exception:
            self.close()  # a broken connection: the next group opens a new one
            raise

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class _SqliteRows(_RowsWriter):
    """SQLite through the sqlite3 driver directly, a group in a few multi-row ``INSERT``s
    (chunks of 64, 32, ... 1 rows: one statement each, compiled once; SQLite's time per row
    drops by a quarter from an ``executemany``, which steps a statement once per row), with
    the two typed
    columns converted the way SQLAlchemy would (one timestamp per group, and the JSON of a
    units mapping reused while it repeats, as it does for every request of a model), so a
    group costs little more than SQLite's own insert.

    Its connection does not checkpoint: SQLite's automatic checkpoint runs inside the commit
    that crosses 1000 WAL pages and flushes the WAL and the database file to disk, stalling
    whoever committed (the event loop, for an inline ledger) for milliseconds to tens of
    milliseconds on a busy disk. :class:`_Checkpoints` does it on a thread of its own instead.
    A committed row is in the WAL either way; checkpoints only move it into the main file."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._stamp = _bind_processor(_TABLE.c.created_at, engine.dialect)
        self._to_json = _bind_processor(_TABLE.c.units, engine.dialect)
        self._units_json: dict[tuple[tuple[str, float], ...], Any] = {}
        self._integrity_error: type[Exception] = engine.dialect.loaded_dbapi.IntegrityError
        self._statements: dict[int, str] = {}
        self._largest_chunk = 1
        self._connection: PoolProxiedConnection | None = None
        self._cursor: Any = None
        self._checkpoints = _Checkpoints(engine)

    def insert(self, entries: Sequence[UsageEntry]) -> None:
        now = self._stamp(datetime.now(UTC))
        rows = [_values(entry, self._units(entry.units), now) for entry in entries]
        cursor = self._open()
        try:
            # The connection runs in autocommit mode (see store.db): the transaction is ours.
            cursor.execute("BEGIN IMMEDIATE")
            try:
                for start, count in _chunks(len(rows), self._largest_chunk):
                    values = [value for row in rows[start : start + count] for value in row]
                    cursor.execute(self._statement(count), values)
                cursor.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):
                    cursor.execute("ROLLBACK")
                raise
        except self._integrity_error as exc:
            raise _Refused(exc) from exc
        except Exception:
            self._disconnect()  # a broken connection: the next group opens a new one
            raise
        self._checkpoints.committed()

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
            connection = self._connection = _own_connection(self._engine)
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


class _Checkpoints:
    """WAL checkpoints for the ledger, on a thread and a connection of their own (SQLite
    releases the GIL while it copies pages and flushes the files, so the loop goes on serving).

    Every :data:`CHECKPOINT_EVERY` commits a ``PASSIVE`` pass (never waiting for nor blocking
    a reader or a writer) copies the WAL into the database while commits go on. The WAL starts
    over only at a commit that finds every frame copied; any lull in traffic leaves it so, but
    under unbroken load the frames committed while a pass flushes remain and the WAL grows. So
    once it has outgrown :data:`WAL_LIMIT_FRAMES`, the ledger lets one pass run with no commit
    beside it (awaited before its next group; the loop serves meanwhile): a stall of a few
    milliseconds every few seconds of full load rather than one per checkpoint.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="modelmart-ledger-checkpoint")
        self._running: Future[None] | None = None
        self._connection: PoolProxiedConnection | None = None
        self._commits = 0
        self._frames = 0  # the WAL's length at the last pass that ran beside commits

    def committed(self) -> None:
        self._commits += 1
        if self._commits >= CHECKPOINT_EVERY and not self._busy():
            self._commits = 0
            self._running = self._executor.submit(self._checkpoint, True)

    def finishing(self) -> Future[None] | None:
        """A pass to await before the next commit, once the WAL is too long; else None."""
        if self._frames < WAL_LIMIT_FRAMES or self._busy():
            return None
        self._frames = 0
        self._running = self._executor.submit(self._checkpoint, False)
        return self._running

    def _busy(self) -> bool:
        return self._running is not None and not self._running.done()

    def _checkpoint(self, beside_commits: bool) -> None:
        try:
            if self._connection is None:
                self._connection = _own_connection(self._engine)
            cursor = self._connection.cursor()
            try:
                _, frames, _ = cursor.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            finally:
                cursor.close()
            if beside_commits:
                self._frames = frames
        except Exception:  # the next one retries; the WAL only grows meanwhile
            logger.exception("usage ledger checkpoint failed")
            self._close_connection()

    def _close_connection(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None

    def close(self) -> None:
        if self._running is not None or self._connection is not None:
            self._executor.submit(self._close_connection)
        self._executor.shutdown(wait=True)


def _own_connection(engine: Engine) -> PoolProxiedConnection:
    """A connection with the engine's set-up (WAL, busy timeout, synchronous) that leaves
    the pool for good, so the settings it is given here never reach another user."""
    connection = engine.raw_connection()
    connection.detach()
    return connection


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


def _is_duplicate(error: BaseException) -> bool:
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
    )
