"""Dynamic batching: gather concurrent requests into one ``predict`` call.

Requests wait in one queue per deployment; every instance pulls the next batch when it is free.
An idle instance takes what is queued right away, so a lone request never waits for company.
It waits up to ``max_delay`` for more only while other instances are busy, the sign of
concurrent load where a fuller batch pays for the wait.

Admission control keeps the queue bounded (:class:`Admission`): a request that finds
``max_queued`` requests already waiting is refused at once with
:class:`~modelmart.errors.Overloaded` (503, ``Retry-After`` from the rate the queue drains at),
and a queued request is dropped before it reaches the model when it waited longer than
``max_wait_s`` or its client went away. Neither reaches the model, so neither is billed.

A batch's energy (measured by the instance that ran it) is split among its requests by their
rows (:func:`~modelmart.energy.split.split_microjoules`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from modelmart.arrays import Batch
from modelmart.energy.split import split_microjoules
from modelmart.errors import BadModelOutput, ClientDisconnected, Overloaded
from modelmart.serving.sizing import BatchSizer

ClientGone = Callable[[], Awaitable[bool]]
"""Says whether the client of the request being served has disconnected (the route passes
its request's ``is_disconnected``; it is only asked after the body was read)."""

GONE_POLL_S = 0.25
"""How often a queued request checks that its client is still there."""

DRAIN_WINDOW_S = 10.0
"""The recent past the drain rate (for ``Retry-After``) is measured over."""

MAX_RETRY_AFTER_S = 60


@dataclass(frozen=True)
class Admission:
    """How much one deployment's queue holds: at most ``max_queued`` requests waiting for a
    batch, each for at most ``max_wait_s`` seconds."""

    max_queued: int = 64
    max_wait_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_queued < 1 or self.max_wait_s <= 0:
            raise ValueError(
                f"admission of {self.max_queued} queued requests waiting {self.max_wait_s} s; "
                "expected at least 1 request and a positive wait"
            )


@dataclass
class AdmissionCounts:
    """Requests that never reached the model, by reason (monotonic counters)."""

    rejected: int = 0  # the queue was full
    expired: int = 0  # waited longer than max_wait_s
    abandoned: int = 0  # the client disconnected while queued


def batch_size(batch: Batch) -> int:
    """Rows in a batch (every array shares its first dimension)."""
    return len(next(iter(batch.values())))


def _shape_key(batch: Batch) -> tuple[tuple[str, tuple[int, ...], str], ...]:
    """Requests can share a batch only if their arrays agree past the batch dimension."""
    return tuple((name, array.shape[1:], array.dtype.str) for name, array in sorted(batch.items()))


class Served(NamedTuple):
    """One request's rows of its batch's outputs, the model version that ran them and its
    share of the batch's energy, in microjoules."""

    outputs: Batch
    version: int
    energy_uj: int = 0


@dataclass
class PendingRequest:
    """One caller's inputs and the future its outputs are delivered to."""

    inputs: Batch
    size: int
    future: asyncio.Future[Served]
    enqueued_at: float = field(default_factory=time.perf_counter)
    taken: bool = False  # in a batch: from here on it runs, whatever its client does


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

    def deliver(self, outputs: Batch, served_by: int, energy_uj: int = 0) -> None:
        """Split ``outputs`` and ``energy_uj`` back to the callers by their rows, or fail
        them all if the count is off."""
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
        shares = split_microjoules(energy_uj, [request.size for request in self.requests])
        start = 0
        for request, share in zip(self.requests, shares, strict=True):
            stop = start + request.size
            if not request.future.done():
                rows = {name: array[start:stop] for name, array in outputs.items()}
                request.future.set_result(Served(rows, served_by, share))
            start = stop

    def fail(self, error: BaseException) -> None:
        for request in self.requests:
            if not request.future.done():
                request.future.set_exception(error)


class Batcher:
    """The queue of one deployment."""

    def __init__(
        self,
        max_batch_size: int,
        max_delay_s: float,
        admission: Admission | None = None,
        *,
        name: str = "this deployment",
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.sizer = BatchSizer(max_batch_size)
        self.max_delay_s = max_delay_s
        self.admission = admission or Admission()
        self.counts = AdmissionCounts()
        self._name = name
        self._clock = clock
        self._queue: deque[PendingRequest] = deque()
        self._arrived = asyncio.Event()
        self._running = 0  # batches taken by instances and not yet finished
        self._drained: deque[tuple[float, int]] = deque()  # (when, requests taken)

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

    async def submit(self, inputs: Batch, gone: ClientGone | None = None) -> Served:
        """Queue ``inputs`` and wait for their outputs, the model version that ran them and
        their energy. Raises :class:`Overloaded` when the queue is full or the request waited too
        long, :class:`ClientDisconnected` when ``gone`` says its client left while queued."""
        self.admit()
        future: asyncio.Future[Served] = asyncio.get_running_loop().create_future()
        request = PendingRequest(inputs, batch_size(inputs), future, self._clock())
        self._queue.append(request)
        self._arrived.set()
        try:
            return await self._outcome(request, gone)
        finally:
            if not request.taken:
                self._discard(request)

    def admit(self) -> None:
        """Refuse (:class:`Overloaded`, counted as rejected) when the queue is full."""
        if len(self._queue) >= self.admission.max_queued:
            self.counts.rejected += 1
            raise self._overloaded()

    def retry_after_s(self) -> int:
        """Seconds until the queue has drained at its recent rate: at least 1."""
        rate = self.drain_rate()
        if rate <= 0:
            return 1
        return max(1, min(MAX_RETRY_AFTER_S, math.ceil(len(self._queue) / rate)))

    def drain_rate(self) -> float:
        """Requests taken into batches per second over the last ``DRAIN_WINDOW_S``; 0 when
        none were (nothing known yet)."""
        now = self._clock()
        self._forget_drained(now)
        if not self._drained:
            return 0.0
        taken = sum(count for _, count in self._drained)
        return taken / max(now - self._drained[0][0], 1.0)

    async def _outcome(self, request: PendingRequest, gone: ClientGone | None) -> Served:
        """Wait for ``request``'s outputs; drop it while it is still queued if its deadline
        passes or its client leaves."""
        deadline = request.enqueued_at + self.admission.max_wait_s
        while not request.taken:
            remaining = deadline - self._clock()
            if remaining <= 0:
                self.counts.expired += 1
                raise self._expired()
            wait = min(remaining, GONE_POLL_S) if gone is not None else remaining
            await asyncio.wait([request.future], timeout=wait)
            if request.future.done():
                break
            if gone is not None and not request.taken and await gone():
                self.counts.abandoned += 1
                raise ClientDisconnected(
                    "the client closed the connection while its request was queued; it was "
                    "dropped before reaching the model and not billed"
                )
        return await request.future

    def _discard(self, request: PendingRequest) -> None:
        """Take ``request`` out of the queue (it gave up) so it counts against nobody."""
        if not request.future.done():
            request.future.cancel()
        with contextlib.suppress(ValueError):  # already out: failed or dropped by a batch
            self._queue.remove(request)

    def _overloaded(self) -> Overloaded:
        limit = self.admission.max_queued
        wait = self.retry_after_s()
        return Overloaded(
            f"{self._name} already has {limit} requests waiting, its queue's limit; retry "
            f"after {wait} s, or add instances to the deployment",
            retry_after_s=wait,
            details={"max_queued": limit},
        )

    def _expired(self) -> Overloaded:
        limit = self.admission.max_wait_s
        wait = self.retry_after_s()
        return Overloaded(
            f"the request waited {limit:g} s in {self._name}'s queue without reaching the "
            f"model and was dropped; retry after {wait} s, or add instances to the deployment",
            retry_after_s=wait,
            details={"max_wait_s": limit},
        )

    def _forget_drained(self, now: float) -> None:
        while self._drained and now - self._drained[0][0] > DRAIN_WINDOW_S:
            self._drained.popleft()

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
                for request in taken:
                    request.taken = True
                now = self._clock()
                self._drained.append((now, len(taken)))
                self._forget_drained(now)
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
