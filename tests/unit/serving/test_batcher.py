import asyncio

import numpy as np
import pytest

from modelmart.errors import BadModelOutput
from modelmart.serving.batcher import Batcher

from .fakes import rows


async def test_lone_request_is_taken_at_once_even_with_a_delay() -> None:
    batcher = Batcher(max_batch_size=8, max_delay_s=10.0)
    pending = asyncio.create_task(batcher.submit(rows(1)))
    await asyncio.sleep(0)
    gathered = await asyncio.wait_for(batcher.next_batch(), timeout=1)
    assert gathered.size == 1
    gathered.deliver({"y": np.array([[2.0, 2.0]])}, served_by=1)
    batcher.finished()
    outputs, version, _ = await pending
    assert version == 1
    assert outputs["y"].tolist() == [[2.0, 2.0]]


async def test_queued_requests_merge_and_split_back_in_order() -> None:
    batcher = Batcher(max_batch_size=8, max_delay_s=0)
    tasks = [asyncio.create_task(batcher.submit(rows(i, i + 0.5))) for i in range(3)]
    await asyncio.sleep(0)
    gathered = await batcher.next_batch()
    merged = gathered.merged_inputs()["x"]
    assert merged.shape == (6, 2)
    gathered.deliver({"y": merged * 10}, served_by=4)
    results = await asyncio.gather(*tasks)
    for index, (outputs, _, _) in enumerate(results):
        assert outputs["y"][:, 0].tolist() == [index * 10, (index + 0.5) * 10]


async def test_batches_respect_max_size_and_keep_the_rest_queued() -> None:
    batcher = Batcher(max_batch_size=4, max_delay_s=0)
    tasks = [asyncio.create_task(batcher.submit(rows(i, i))) for i in range(3)]
    await asyncio.sleep(0)
    first = await batcher.next_batch()
    assert first.size == 4
    assert batcher.queue_depth == 1
    for task in tasks:
        task.cancel()


async def test_different_trailing_shapes_are_not_merged() -> None:
    batcher = Batcher(max_batch_size=8, max_delay_s=0)
    wide = {"x": np.zeros((1, 3), dtype=np.float32)}
    tasks = [
        asyncio.create_task(batcher.submit(rows(1))),
        asyncio.create_task(batcher.submit(wide)),
        asyncio.create_task(batcher.submit(rows(2))),
    ]
    await asyncio.sleep(0)
    gathered = await batcher.next_batch()
    assert [r.size for r in gathered.requests] == [1, 1]
    assert batcher.queue_depth == 1
    for task in tasks:
        task.cancel()


async def test_wrong_output_count_fails_every_caller_with_a_clear_message() -> None:
    batcher = Batcher(max_batch_size=8, max_delay_s=0)
    tasks = [asyncio.create_task(batcher.submit(rows(i))) for i in range(3)]
    await asyncio.sleep(0)
    gathered = await batcher.next_batch()
    gathered.deliver({"y": np.zeros((2, 2))}, served_by=1)
    for task in tasks:
        with pytest.raises(BadModelOutput, match="batch of 3 inputs returned 2 rows"):
            await task


async def test_waits_for_company_only_while_another_batch_runs() -> None:
    batcher = Batcher(max_batch_size=4, max_delay_s=0.2)
    busy = asyncio.create_task(batcher.submit(rows(0)))
    await asyncio.sleep(0)
    await batcher.next_batch()  # another instance is now busy with it
    first = asyncio.create_task(batcher.submit(rows(1)))
    await asyncio.sleep(0)
    taking = asyncio.create_task(batcher.next_batch())
    await asyncio.sleep(0.02)
    assert not taking.done()  # holding the window open for more requests
    second = asyncio.create_task(batcher.submit(rows(2)))
    gathered = await asyncio.wait_for(taking, timeout=1)
    assert gathered.size == 2
    for task in (busy, first, second):
        task.cancel()


async def test_cancelled_wait_takes_nothing() -> None:
    batcher = Batcher(max_batch_size=4, max_delay_s=0)
    waiting = asyncio.create_task(batcher.next_batch())
    await asyncio.sleep(0)
    waiting.cancel()
    pending = asyncio.create_task(batcher.submit(rows(1)))
    await asyncio.sleep(0)
    assert batcher.queue_depth == 1
    pending.cancel()
