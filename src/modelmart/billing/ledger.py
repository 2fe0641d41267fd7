"""The usage ledger: one row per served request, written before its response completes.

Writes are grouped (group commit): requests that finish while a transaction is being written
wait for the next one, so the database sees one commit per batch instead of one per request,
yet each request still learns that *its* row is durable before its last byte is sent. A row
that cannot be written (a repeated idempotency key) fails alone, not its batch.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from modelmart.billing.money import quantity
from modelmart.errors import AlreadyExists
from modelmart.store.tables import Base, UsageRow

logger = logging.getLogger("modelmart.billing")

MAX_BATCH = 512
_INSERT = insert(Base.metadata.tables[UsageRow.__tablename__])


@dataclass(frozen=True)
class StoredResponse:
    status: int
    media_type: str
    body: bytes


@dataclass(frozen=True)
class UsageEntry:
    request_id: str
    org_id: int
    key_id: int | None
    model: str
    version: int
    units: dict[str, float]
    latency_ms: float
    idempotency_key: str | None = None
    response: StoredResponse | None = None


@dataclass
class _Pending:
    entries: list[tuple[UsageEntry, asyncio.Future[None]]] = field(default_factory=list)


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
        # One thread: batches commit in order, and SQLite sees a single writer. It keeps one
        # connection open: checking one out of the pool per batch costs as much as the write.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="modelmart-ledger")
        self._connection: Connection | None = None

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
            self._disconnect()
        else:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._disconnect)
        self._executor.shutdown(wait=True)

    async def _write_pending(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending.entries:
            if self._inline:
                await asyncio.sleep(0)  # requests finishing in this loop turn join the group
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
            self._insert([_values(entry) for entry in entries])
            return [None] * len(entries)
        except IntegrityError:
            # Some key was used before: write one by one, so only that request fails.
            return [self._write_one(entry) for entry in entries]

    def _insert(self, rows: list[dict[str, Any]]) -> None:
        """One transaction, on the writer's own connection (a Core executemany: the ORM's
        bulk path costs more than the write itself)."""
        if self._connection is None:
            engine = self._sessions.kw["bind"]
            self._connection = engine.connect()
        try:
            with self._connection.begin():
                self._connection.execute(_INSERT, rows)
        except IntegrityError:
            raise
        except Exception:
            self._disconnect()  # a broken connection: the next batch opens a new one
            raise

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _write_one(self, entry: UsageEntry) -> Exception | None:
        try:
            self._insert([_values(entry)])
        except IntegrityError:
            return AlreadyExists(
                f"a request with Idempotency-Key {entry.idempotency_key!r} was already served; "
                "retry it to get the stored response, or use a new key for a new request"
            )
        return None

    # --- reading ------------------------------------------------------------------------

    def replay(self, org_id: int, idempotency_key: str) -> StoredResponse | None:
        """The response stored with ``idempotency_key``, if that request was served."""
        with self._sessions() as session:
            row = session.scalar(
                select(UsageRow).where(
                    UsageRow.org_id == org_id, UsageRow.idempotency_key == idempotency_key
                )
            )
            if row is None or row.response_status is None or row.response_body is None:
                return None
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


def totals(rows: Iterable[UsageRow]) -> dict[tuple[str, str], Decimal]:
    """Units used per (model, unit)."""
    summed: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in rows:
        for unit, amount in row.units.items():
            summed[(row.model, unit)] += quantity(amount)
    return dict(summed)


def _values(entry: UsageEntry) -> dict[str, Any]:
    response = entry.response
    return {
        "request_id": entry.request_id,
        "org_id": entry.org_id,
        "key_id": entry.key_id,
        "model": entry.model,
        "version": entry.version,
        "units": entry.units,
        "latency_ms": entry.latency_ms,
        "created_at": datetime.now(UTC),
        "idempotency_key": entry.idempotency_key,
        "response_status": response.status if response else None,
        "response_type": response.media_type if response else None,
        "response_body": response.body if response else None,
    }
