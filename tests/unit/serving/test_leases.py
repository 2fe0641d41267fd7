from __future__ import annotations

import asyncio

import pytest

from modelmart.serving.leases import Leases


async def test_idle_items_are_lent_first_then_waiters_are_served_in_order() -> None:
    leases: Leases[str] = Leases()
    leases.add("a")
    assert await leases.acquire() == "a"
    first = asyncio.create_task(leases.acquire())
    second = asyncio.create_task(leases.acquire())
    await asyncio.sleep(0)
    assert leases.waiting == 2
    leases.release("a")
    assert await first == "a"
    leases.add("b")
    assert await second == "b"
    assert (leases.lent, leases.waiting) == (2, 0)


async def test_a_removed_item_is_dropped_when_released() -> None:
    leases: Leases[str] = Leases()
    leases.add("a")
    leases.add("b")
    lent = await leases.acquire()
    leases.remove(lent)
    leases.remove("b")
    leases.release(lent)
    assert leases.lent == 0
    waiter = asyncio.create_task(leases.acquire())
    await asyncio.sleep(0)
    assert not waiter.done()
    leases.add("c")
    assert await waiter == "c"


async def test_a_waiter_cancelled_after_the_handover_gives_the_item_back() -> None:
    leases: Leases[str] = Leases()
    waiter = asyncio.create_task(leases.acquire())
    await asyncio.sleep(0)
    leases.add("a")  # handed to the waiter, which is cancelled before it resumes
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert leases.lent == 0
    assert await leases.acquire() == "a"
