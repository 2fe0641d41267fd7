"""WAL checkpoints for a SQLite ledger, off the commit path.

The ledger's writer connection never checkpoints (SQLite's automatic checkpoint runs inside
the commit that crosses 1000 WAL pages and flushes the files, stalling whoever committed);
:class:`WalCheckpoints` does it on a thread and a connection of its own instead.
"""

from __future__ import annotations

import contextlib
import logging
from concurrent.futures import Future, ThreadPoolExecutor

from sqlalchemy import Engine
from sqlalchemy.pool import PoolProxiedConnection

logger = logging.getLogger("modelmart.billing")

CHECKPOINT_EVERY = 100
"""Ledger commits between two WAL checkpoints: about SQLite's own default of 1000 pages, at
the 4 to 12 pages a commit writes (the last page of the table and of each index)."""
WAL_LIMIT_FRAMES = 8192
"""32 MiB of 4 KiB pages: past this, a checkpoint runs between two commits (see below)."""


class WalCheckpoints:
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
                self._connection = own_connection(self._engine)
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


def own_connection(engine: Engine) -> PoolProxiedConnection:
    """A connection with the engine's set-up (WAL, busy timeout, synchronous) that leaves
    the pool for good, so the settings it is given here never reach another user."""
    connection = engine.raw_connection()
    connection.detach()
    return connection
