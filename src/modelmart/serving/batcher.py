"""Dynamic batching: gather concurrent requests into one ``predict`` call.

Requests wait in one queue per deployment; every instance pulls the next batch when it is free.
An idle instance takes what is queued right away, so a lone request never waits for company.
It waits up to ``max_delay`` for more only while other instances are busy, the sign of
concurrent load where a fuller batch pays for the wait.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from modelmart.arrays import Batch
from modelmart.errors import BadModelOutput
from modelmart.serving.sizing import BatchSizer


def batch_size(batch: Batch) -> int:
    """Rows in a batch (every array shares its first dimension)."""
    return len(next(iter(batch.values())))


def _shape_key(batch: Batch) -> tuple[tuple[str, tuple[int, ...], str], ...]:
    """Requests can share a batch only if their arrays agree past the batch dimension."""
    return tuple((name, array.shape[1:], array.dtype.str) for name, array in sorted(batch.items()))


@dataclass
class PendingRequest:
    """One caller's inputs and the future its outputs are delivered to."""

    inputs: Batch
    size: int
    future: asyncio.Future[tuple[Batch, int]]
    enqueued_at: float = field(default_factory=time.perf_counter)


@dataclass
class GatheredBatch:
    """Requests merged into one batch; ``split`` hands each caller its rows."""

    requests: list[PendingRequest]

    @property
    def size(self) -> int:
        return sum(request.size for request in self.requests)

    def merged_inputs(self) -> Batch:
        if len(self.requests) == 1:
            return self.requests[0].inputs
        names = self.requests[0].inputs.keys()
        return {
            name: np.concatenate([request.inputs[name] for request in self.requests])
            for name in names
        }

    def deliver(self, outputs: Batch, served_by: int) -> None:
        """Split ``outputs`` back to the callers, or fail them all if the count is off."""
        expected = self.size
        for name, array in outputs.items():
            if len(array) != expected:
                self.fail(
                    BadModelOutput(
                        f"batch of {expected} inputs returned {len(array)} rows for output "
                        f"{name!r}; a runtime must return one output row per input row",
                        details={"expected": expected, "returned": len(array), "output": name},
                    )
                )
                return
        start = 0
        for request in self.requests:
            stop = start + request.size
            if not request.future.done():
                rows = {name: array[start:stop] for name, array in outputs.items()}
                request.future.set_result((rows, served_by))
            start = stop

    def fail(self, error: BaseException) -> None:
        for request in self.requests:
            if not request.future.done():
                request.future.set_exception(error)


class Batcher:
    """The queue of one deployment."""

    def __init__(self, max_batch_size: int, max_delay_s: float) -> None:
        self.sizer = BatchSizer(max_batch_size)
        self.max_delay_s = max_delay_s
        self._queue: deque[PendingRequest] = deque()
        self._arrived = asyncio.Event()
        self._running = 0  # batches taken by instances and not yet finished

    @property
    def max_batch_size(self) -> int:
        return self.sizer.limit

    @max_batch_size.setter
    def max_batch_size(self, value: int) -> None:
        if value != self.sizer.limit:
            self.sizer.limit = value

    def observe(self, rows: int, seconds: float) -> None:
        """A batch of ``rows`` ran in ``seconds``: what the sizer learns the best cap from."""
        self.sizer.observe(rows, seconds)

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    @property
    def running(self) -> int:
        return self._running

    async def submit(self, inputs: Batch) -> tuple[Batch, int]:
        """Queue ``inputs`` and wait for their outputs and the model version that ran
        them."""
        future: asyncio.Future[tuple[Batch, int]] = asyncio.get_running_loop().create_future()
        self._queue.append(PendingRequest(inputs, batch_size(inputs), future))
        self._arrived.set()
        return await future

    async def next_batch(self) -> GatheredBatch:
        """Wait for work and take a batch. Cancel-safe: nothing is taken until it returns."""
        while True:
            while not self._queue:
                self._arrived.clear()
                await self._arrived.wait()
            if self._worth_waiting():
                await self._wait_for_more()
            taken = self._take()  # another instance may have emptied the queue meanwhile
            if taken:
                self._running += 1
                return GatheredBatch(taken)

    def fail_queued(self, error: BaseException) -> None:
        """Fail every request still queued: no instance is left to run them."""
        while self._queue:
            request = self._queue.popleft()
            if not request.future.done():
                request.future.set_exception(error)

    def finished(self) -> None:
        """Called by the instance once the batch from ``next_batch`` is delivered or failed."""
        self._running -= 1

    def _queued_rows(self) -> int:
        return sum(request.size for request in self._queue)

    def _worth_waiting(self) -> bool:
        others_busy = self._running > 0
        return self.max_delay_s > 0 and others_busy and self._queued_rows() < self.sizer.cap

    async def _wait_for_more(self) -> None:
        deadline = time.perf_counter() + self.max_delay_s
        while self._queued_rows() < self.sizer.cap:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return

    def _take(self) -> list[PendingRequest]:
        """The oldest request plus the next ones that fit and have the same shapes."""
        while self._queue and self._queue[0].future.done():  # callers that gave up
            self._queue.popleft()
        if not self._queue:
            return []
        first = self._queue.popleft()
        taken, rows, key = [first], first.size, _shape_key(first.inputs)
        skipped: list[PendingRequest] = []
        cap = self.sizer.cap
        while self._queue and rows < cap:
            candidate = self._queue.popleft()
            if candidate.future.done():  # its caller gave up; drop it
                continue
            if _shape_key(candidate.inputs) != key or rows + candidate.size > cap:
                skipped.append(candidate)
                continue
            taken.append(candidate)
            rows += candidate.size
        self._queue.extendleft(reversed(skipped))
        return taken
