"""Lending instances to generations, one generation per instance, first come first served.

Batches share an instance's time through the batcher; a generation holds its instance for as
long as it streams, so requests queue here for the next idle instance instead. Releasing is
synchronous, so it can run while the releasing request is being cancelled (its client went
away), when awaiting is no longer possible.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

Item = TypeVar("Item")


class Leases(Generic[Item]):
    """A pool of items lent out one holder at a time, waiters served in arrival order."""

    def __init__(self) -> None:
        self._members: set[Item] = set()
        self._idle: deque[Item] = deque()
        self._waiters: deque[asyncio.Future[Item]] = deque()
        self.lent = 0

    @property
    def waiting(self) -> int:
        return sum(1 for waiter in self._waiters if not waiter.done())

    def add(self, item: Item) -> None:
        """Make ``item`` available (a new instance)."""
        self._members.add(item)
        self._give(item)

    def remove(self, item: Item) -> None:
        """Lend ``item`` no more; if it is lent now, it is dropped when released."""
        self._members.discard(item)
        if item in self._idle:
            self._idle.remove(item)

    async def acquire(self) -> Item:
        """An idle item, waiting in line for one when all are lent."""
        if self._idle:
            self.lent += 1
            return self._idle.popleft()
        waiter: asyncio.Future[Item] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            item = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed over just as we gave up
                self.release(waiter.result())
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        return item

    def release(self, item: Item) -> None:
        """Give ``item`` back: to the longest waiter, or to the idle pool."""
        self.lent -= 1
        if item in self._members:
            self._give(item)

    def fail_waiters(self, error: BaseException) -> None:
        """Fail everyone waiting in line: no item is left to lend them."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(error)

    def _give(self, item: Item) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(item)
                self.lent += 1
                return
        self._idle.append(item)
