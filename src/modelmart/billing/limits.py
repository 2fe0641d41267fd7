"""Rate limits (per minute, per key and per organisation) and monthly quotas and budgets.

Per-minute windows are fixed one-minute windows: in this process by default, in Redis (through
the ``limits`` library) when ``redis_url`` is set, so every server process behind one load
balancer shares one count. Monthly usage (for quotas and budgets) is a running total per
organisation and month, seeded from the ledger the first time it is needed and then kept in
step with each durable record; with Redis it is a shared hash.
"""

from __future__ import annotations

import asyncio
import math
import time
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string

from modelmart.billing.money import quantity
from modelmart.errors import RateLimited

_SCOPE_NAMES = {"org": "organisation", "key": "API key"}
WINDOW_S = 60.0
_PRUNE_AT = 10_000  # windows kept in memory before the expired ones are dropped

SPEND = "_spend"
"""The pseudo-unit under which a month's running cost is kept beside its units."""

WindowKey = tuple[str, str | int, str]
"""(scope, owner, what is counted): ("org", 7, "requests"), ("key", 12, "requests")..."""


class RateLimits:
    """Per-minute request and unit windows, checked before a request and charged after."""

    def __init__(self, redis_url: str = "") -> None:
        self._windows: Windows = RedisWindows(redis_url) if redis_url else MemoryWindows()

    async def admit(self, scope: str, owner: str | int, per_minute: int | None) -> None:
        """Count one request against ``scope``'s window; 429 when the window is full."""
        if per_minute is None:
            return
        key = (scope, owner, "requests")
        if not await self._windows.hit(key, per_minute, 1):
            await self._refuse(key, per_minute, f"{per_minute} requests per minute")

    async def check_units(self, owner: str | int, limits: Mapping[str, int]) -> None:
        """Refuse a request while a unit's window is already spent."""
        for unit, per_minute in limits.items():
            key = ("org", owner, unit)
            if not await self._windows.test(key, per_minute):
                await self._refuse(key, per_minute, f"{per_minute} {unit} per minute")

    async def charge_units(
        self, owner: str | int, limits: Mapping[str, int], units: Mapping[str, float]
    ) -> None:
        """Take what a served request used out of its windows (it may go past the limit once:
        the units were known only after serving it; the next request then waits)."""
        for unit, per_minute in limits.items():
            used = math.ceil(units.get(unit, 0))
            if used > 0:
                await self._windows.hit(("org", owner, unit), per_minute, used)

    async def _refuse(self, key: WindowKey, per_minute: int, what: str) -> None:
        retry_after = max(1, math.ceil(await self._windows.resets_in(key, per_minute)))
        raise RateLimited(
            f"rate limit of {what} reached for this {_SCOPE_NAMES.get(key[0], key[0])}; "
            f"retry after {retry_after} s or ask for a plan with higher limits",
            retry_after_s=retry_after,
            details={"limit": what},
        )


class Windows(ABC):
    """Fixed one-minute windows: a window opens with its first hit and closes a minute
    later; a limit that changes starts a window of its own."""

    @abstractmethod
    async def hit(self, key: WindowKey, per_minute: int, cost: int) -> bool:
        """Count ``cost``; whether the window is still within ``per_minute`` with it."""

    @abstractmethod
    async def test(self, key: WindowKey, per_minute: int) -> bool:
        """Whether one more would fit, counting nothing."""

    @abstractmethod
    async def resets_in(self, key: WindowKey, per_minute: int) -> float:
        """Seconds until the window closes."""


class _Window:
    __slots__ = ("ends_at", "used")

    def __init__(self, ends_at: float) -> None:
        self.ends_at = ends_at
        self.used = 0


class MemoryWindows(Windows):
    """Counters in a dict: the same fixed windows as the ``limits`` library's memory storage,
    without its per-hit lock, expiry task and key strings, which cost more than the rest of
    admitting a request (every request takes one or two windows)."""

    def __init__(self) -> None:
        self._windows: dict[tuple[WindowKey, int], _Window] = {}

    async def hit(self, key: WindowKey, per_minute: int, cost: int) -> bool:
        window = self._current((key, per_minute), open_one=True)
        assert window is not None
        window.used += cost
        return window.used <= per_minute

    async def test(self, key: WindowKey, per_minute: int) -> bool:
        window = self._current((key, per_minute), open_one=False)
        return window is None or window.used < per_minute

    async def resets_in(self, key: WindowKey, per_minute: int) -> float:
        window = self._current((key, per_minute), open_one=False)
        return 0.0 if window is None else window.ends_at - time.monotonic()

    def _current(self, key: tuple[WindowKey, int], *, open_one: bool) -> _Window | None:
        now = time.monotonic()
        window = self._windows.get(key)
        if window is not None and window.ends_at > now:
            return window
        if not open_one:
            return None
        if len(self._windows) >= _PRUNE_AT:
            self._windows = {k: w for k, w in self._windows.items() if w.ends_at > now}
        window = self._windows[key] = _Window(now + WINDOW_S)
        return window


class RedisWindows(Windows):
    """Windows in Redis, shared by every server process (the ``limits`` library's fixed
    window, through redis-py, already a dependency, rather than its default coredis)."""

    def __init__(self, redis_url: str) -> None:
        storage = storage_from_string(f"async+{redis_url}", implementation="redispy")
        assert isinstance(storage, Storage)
        self._limiter = FixedWindowRateLimiter(storage)
        self._items: dict[int, RateLimitItem] = {}

    def _item(self, per_minute: int) -> RateLimitItem:
        item = self._items.get(per_minute)
        if item is None:
            item = self._items[per_minute] = RateLimitItemPerMinute(per_minute)
        return item

    async def hit(self, key: WindowKey, per_minute: int, cost: int) -> bool:
        return await self._limiter.hit(self._item(per_minute), *_names(key), cost=cost)

    async def test(self, key: WindowKey, per_minute: int) -> bool:
        return await self._limiter.test(self._item(per_minute), *_names(key))

    async def resets_in(self, key: WindowKey, per_minute: int) -> float:
        stats = await self._limiter.get_window_stats(self._item(per_minute), *_names(key))
        return stats.reset_time - time.time()


def _names(key: WindowKey) -> tuple[str, str, str]:
    scope, owner, counted = key
    return scope, str(owner), counted


class MonthlyUsage(ABC):
    """Units (and spend) an organisation used in a billing month."""

    @abstractmethod
    async def get(self, org_id: int, month: str) -> dict[str, Decimal]: ...

    @abstractmethod
    async def add(self, org_id: int, month: str, units: Mapping[str, Decimal]) -> None: ...


MonthSeed = Callable[[int, str], Mapping[str, Decimal]]
"""Reads an organisation's month from the ledger (run in a thread): where counts start."""


class MemoryMonthlyUsage(MonthlyUsage):
    def __init__(self, seed: MonthSeed) -> None:
        self._seed = seed
        self._totals: dict[tuple[int, str], defaultdict[str, Decimal]] = {}

    async def get(self, org_id: int, month: str) -> dict[str, Decimal]:
        totals = self._totals.get((org_id, month))
        if totals is None:  # seeded once; every later call stays on this fast path
            totals = await self._seeded(org_id, month)
        return dict(totals)

    async def add(self, org_id: int, month: str, units: Mapping[str, Decimal]) -> None:
        totals = self._totals.get((org_id, month))
        if totals is None:
            totals = await self._seeded(org_id, month)
        for unit, amount in units.items():
            totals[unit] += amount

    async def _seeded(self, org_id: int, month: str) -> defaultdict[str, Decimal]:
        seeded = await asyncio.to_thread(self._seed, org_id, month)
        return self._totals.setdefault((org_id, month), defaultdict(Decimal, seeded))


class RedisMonthlyUsage(MonthlyUsage):
    """A Redis hash per organisation and month, shared by every server process."""

    def __init__(self, redis_url: str, seed: MonthSeed) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(redis_url)
        self._seed = seed

    def _key(self, org_id: int, month: str) -> str:
        return f"modelmart:usage:{org_id}:{month}"

    async def get(self, org_id: int, month: str) -> dict[str, Decimal]:
        key = self._key(org_id, month)
        values: dict[Any, Any] = await self._redis.hgetall(key)
        if not values:
            await self._seed_once(org_id, month)
            values = dict(await self._redis.hgetall(key))
        return {
            name.decode(): quantity(value.decode())
            for name, value in values.items()
            if name != b"_seeded"
        }

    async def add(self, org_id: int, month: str, units: Mapping[str, Decimal]) -> None:
        await self.get(org_id, month)  # seeded before the first increment
        key = self._key(org_id, month)
        async with self._redis.pipeline(transaction=True) as pipe:
            for unit, amount in units.items():
                pipe.hincrbyfloat(key, unit, float(amount))
            await pipe.execute()

    async def _seed_once(self, org_id: int, month: str) -> None:
        seeded = await asyncio.to_thread(self._seed, org_id, month)
        key = self._key(org_id, month)
        # HSETNX on a marker: of several processes seeding at once, one writes the totals.
        if await self._redis.hsetnx(key, "_seeded", "1") and seeded:
            # Added, not set: another process may already have counted a request on top.
            async with self._redis.pipeline(transaction=True) as pipe:
                for unit, amount in seeded.items():
                    pipe.hincrbyfloat(key, unit, float(amount))
                await pipe.execute()
