"""Admission control: a bounded queue per deployment, deadlines and clients that leave."""

import asyncio

import numpy as np
import pytest

from modelmart.errors import ClientDisconnected, Overloaded
from modelmart.serving import batcher as batcher_module
from modelmart.serving.batcher import Admission, Batcher

from .fakes import rows


def _queued(batcher: Batcher, count: int) -> list[asyncio.Task[object]]:
    return [asyncio.create_task(batcher.submit(rows(i))) for i in range(count)]


async def _cancel(tasks: list[asyncio.Task[object]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_a_full_queue_refuses_with_overloaded_and_counts_it() -> None:
    batcher = Batcher(8, 0, Admission(max_queued=3), name="deployment 'iris'")
    waiting = _queued(batcher, 3)
    await asyncio.sleep(0)

    with pytest.raises(Overloaded) as refused:
        await batcher.submit(rows(9))

    assert refused.value.status == 503
    assert "'iris'" in refused.value.message
    assert "3 requests" in refused.value.message
    assert refused.value.headers()["Retry-After"] == "1"  # nothing drained yet: the minimum
    assert batcher.queue_depth == 3
    assert batcher.counts.rejected == 1
    await _cancel(waiting)


async def test_retry_after_follows_the_rate_the_queue_drains_at() -> None:
    clock = [100.0]
    batcher = Batcher(2, 0, Admission(max_queued=10), clock=lambda: clock[0])
    waiting = _queued(batcher, 10)
    await asyncio.sleep(0)
    for _ in range(2):  # 4 requests taken over 2 s: 2 per second
        gathered = await batcher.next_batch()
        gathered.deliver({"y": gathered.merged_inputs()["x"]}, served_by=1)
        batcher.finished()
        clock[0] += 2.0
    waiting += _queued(batcher, 4)
    await asyncio.sleep(0)

    assert batcher.drain_rate() == pytest.approx(4 / 4.0)
    with pytest.raises(Overloaded) as refused:
        await batcher.submit(rows(1))
    assert refused.value.retry_after_s == 10  # 10 queued at 1 request per second
    await _cancel(waiting)


async def test_a_request_past_its_queue_deadline_is_dropped_before_the_model() -> None:
    batcher = Batcher(8, 0, Admission(max_queued=4, max_wait_s=0.05))

    with pytest.raises(Overloaded) as dropped:
        await batcher.submit(rows(1))

    assert "waited" in dropped.value.message
    assert batcher.queue_depth == 0
    assert batcher.counts.expired == 1
    taker = asyncio.create_task(batcher.next_batch())
    await asyncio.sleep(0.05)
    assert not taker.done()  # nothing left for an instance to run
    taker.cancel()


async def test_a_request_whose_client_left_is_dropped_from_the_queue(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(batcher_module, "GONE_POLL_S", 0.01)
    batcher = Batcher(8, 0, Admission(max_queued=4, max_wait_s=10))
    connected = [True]

    async def gone() -> bool:
        return not connected[0]

    request = asyncio.create_task(batcher.submit(rows(1), gone))
    await asyncio.sleep(0.02)
    assert batcher.queue_depth == 1
    connected[0] = False

    with pytest.raises(ClientDisconnected):
        await request
    assert batcher.queue_depth == 0
    assert batcher.counts.abandoned == 1


async def test_a_request_in_a_batch_runs_to_the_end_even_if_its_client_leaves(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(batcher_module, "GONE_POLL_S", 0.01)
    batcher = Batcher(8, 0, Admission(max_queued=4, max_wait_s=0.05))

    async def gone() -> bool:
        return True

    request = asyncio.create_task(batcher.submit(rows(1), gone))
    await asyncio.sleep(0)
    gathered = await batcher.next_batch()
    await asyncio.sleep(0.1)  # past the queue deadline, client gone: it is in the model now
    gathered.deliver({"y": np.array([[3.0, 3.0]])}, served_by=2)

    outputs, version, _ = await request
    assert version == 2
    assert outputs["y"].tolist() == [[3.0, 3.0]]
    assert batcher.counts.abandoned == batcher.counts.expired == 0


async def test_a_cancelled_caller_frees_its_place_in_the_queue() -> None:
    batcher = Batcher(8, 0, Admission(max_queued=1))
    first = asyncio.create_task(batcher.submit(rows(1)))
    await asyncio.sleep(0)
    await _cancel([first])

    second = asyncio.create_task(batcher.submit(rows(2)))
    await asyncio.sleep(0)
    assert batcher.queue_depth == 1
    assert not second.done()  # admitted, not refused
    await _cancel([second])


def test_admission_refuses_nonsense_limits() -> None:
    with pytest.raises(ValueError, match="expected at least 1 request"):
        Admission(max_queued=0)
    with pytest.raises(ValueError, match="expected at least 1 request"):
        Admission(max_wait_s=0)
