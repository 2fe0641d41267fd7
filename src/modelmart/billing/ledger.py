"""The usage ledger: one row per served request, written before its response completes.

Writes are grouped (group commit): requests that finish while a transaction is being written
wait for the next one, so the database sees one commit per batch instead of one per request,
yet each request still learns that *its* row is durable before its last byte is sent. A row
that cannot be written (a repeated idempotency key) fails alone, not its batch. Each batch's
transaction also adds its rows to the hourly rollups that usage reports and invoices read
(:mod:`modelmart.billing.rollups`); how a batch is written is
:mod:`modelmart.billing.ledger_writers`'s.

A row written with an idempotency key keeps the request's fingerprint (``request_hash``: its
API key, method, path and body, hashed by the gateway), so the key replays that request's
response and refuses any other request (:class:`~modelmart.errors.IdempotencyKeyReused`).

Reading usage back: :mod:`modelmart.billing.usage_reports` (from the rollups) and
:mod:`modelmart.billing.ledger_audit` (from the rows themselves, to check the rollups).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from modelmart.billing.ledger_writers import Clock, Refused, is_duplicate, rows_writer, utc_now
from modelmart.billing.usage_records import StoredResponse, UsageEntry
from modelmart.errors import AlreadyExists, IdempotencyKeyReused, ModelMartError
from modelmart.store.tables import UsageRow

__all__ = ["MAX_BATCH", "Ledger", "StoredResponse", "UsageEntry", "idempotency_key_reused"]

logger = logging.getLogger("modelmart.billing")

MAX_BATCH = 512


@dataclass
class _Pending:
    entries: list[tuple[UsageEntry, asyncio.Future[None]]] = field(default_factory=list)


class Ledger:
    def __init__(
        self, sessions: sessionmaker[Session], *, inline: bool = False, clock: Clock = utc_now
    ) -> None:
        """``inline`` writes each group on the event loop itself: right for a local SQLite
        file without fsync, where a commit is a short local write and a thread would cost
        more in GIL hand-offs than the write; a networked or flushing database keeps the
        writer thread, so the loop never waits on it. ``clock`` stamps each group's records
        (UTC)."""
        self._sessions = sessions
        self._inline = inline
        self._pending = _Pending()
        self._writer: asyncio.Task[None] | None = None
        # One thread: batches commit in order, and SQLite sees a single writer.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="modelmart-ledger")
        self._rows = rows_writer(sessions.kw["bind"], clock)

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
        except Refused:
            # Some row was refused (a key used before): one by one, so only its request fails.
            return [self._write_one(entry) for entry in entries]

    def _write_one(self, entry: UsageEntry) -> Exception | None:
        try:
            self._rows.insert([entry])
        except Refused as refused:
            if not is_duplicate(refused.error):
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
