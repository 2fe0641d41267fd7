"""Rate limits (per minute, per key and per organisation) and monthly quotas and budgets.

Per-minute windows use the ``limits`` library: in this process by default, in Redis when
``redis_url`` is set, so every server process behind one load balancer shares one count.
Monthly usage (for quotas and budgets) is a running total per organisation and month, seeded
from the ledger the first time it is needed and then kept in step with each durable record;
with Redis it is a shared hash.
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
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.storage import storage_from_string

from modelmart.billing.money import quantity
from modelmart.errors import RateLimited

_SCOPE_NAMES = {"org": "organisation", "key": "API key"}

SPEND = "_spend"
"""The pseudo-unit under which a month's running cost is kept beside its units."""


class RateLimits:
    """Per-minute request and unit windows, checked before a request and charged after."""

    def __init__(self, redis_url: str = "") -> None:
        storage = (
            # redis-py (already a dependency) rather than the default coredis client.
            storage_from_string(f"async+{redis_url}", implementation="redispy")
            if redis_url
            else MemoryStorage()
        )
        assert isinstance(storage, Storage)
        self._limiter = FixedWindowRateLimiter(storage)
        self._items: dict[int, RateLimitItem] = {}

    def _item(self, per_minute: int) -> RateLimitItem:
        item = self._items.get(per_minute)
        if item is None:
            item = self._items[per_minute] = RateLimitItemPerMinute(per_minute)
        return item

    async def admit(self, scope: str, owner: str, per_minute: int | None) -> None:
        """Count one request against ``scope``'s window; 429 when the window is full."""
        if per_minute is None:
            return
        item = self._item(per_minute)
        if not await self._limiter.hit(item, scope, owner, "requests"):
            await self._refuse(
                item, (scope, owner, "requests"), f"{per_minute} requests per minute"
            )

    async def check_units(self, owner: str, limits: Mapping[str, int]) -> None:
        """Refuse a request while a unit's window is already spent."""
        for unit, per_minute in limits.items():
            item = self._item(per_minute)
            if not await self._limiter.test(item, "org", owner, unit):
                await self._refuse(item, ("org", owner, unit), f"{per_minute} {unit} per minute")

    async def charge_units(
        self, owner: str, limits: Mapping[str, int], units: Mapping[str, float]
    ) -> None:
        """Take what a served request used out of its windows (it may go past the limit once:
        the units were known only after serving it; the next request then waits)."""
        for unit, per_minute in limits.items():
            used = math.ceil(units.get(unit, 0))
            if used > 0:
                await self._limiter.hit(self._item(per_minute), "org", owner, unit, cost=used)

    async def _refuse(self, item: RateLimitItem, keys: tuple[str, ...], what: str) -> None:
        stats = await self._limiter.get_window_stats(item, *keys)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise RateLimited(
            f"rate limit of {what} reached for this {_SCOPE_NAMES.get(keys[0], keys[0])}; "
            f"retry after {retry_after} s or ask for a plan with higher limits",
            retry_after_s=retry_after,
            details={"limit": what},
        )


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
        return dict(await self._month(org_id, month))

    async def add(self, org_id: int, month: str, units: Mapping[str, Decimal]) -> None:
        totals = await self._month(org_id, month)
        for unit, amount in units.items():
            totals[unit] += amount

    async def _month(self, org_id: int, month: str) -> defaultdict[str, Decimal]:
        totals = self._totals.get((org_id, month))
        if totals is None:
            seeded = await asyncio.to_thread(self._seed, org_id, month)
            totals = self._totals.setdefault((org_id, month), defaultdict(Decimal, seeded))
        return totals


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
