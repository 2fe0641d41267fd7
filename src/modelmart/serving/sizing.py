"""Learning which batch size a model runs best at.

A bigger batch is not always cheaper per row: a transformer encoder gains up to a few dozen
rows per call, while a small convolutional network on one CPU thread slows down per image as
its activations outgrow the cache (MobileNetV2 costs about twice as much per image in batches
of 16 as one at a time). So the batcher does not fill batches up to the deployment's
``max_batch_size`` blindly: it times full batches of that size and of each power of two below
it, keeps the size with the lowest time per row, and tries again every ``refresh_s`` in case
the load or the machine changed. Under light load batches stay small whatever the cap; the
cap only decides how much of a long queue one call takes.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

TRIALS = 3
"""Full batches timed at each size: the median of three ignores one unlucky call."""

REFRESH_S = 120.0


def candidate_sizes(limit: int) -> list[int]:
    """``limit``, then the powers of two below it, largest first: a new deployment starts
    with the batches it was configured for and only then tries smaller ones."""
    sizes, size = [], 1
    while size < limit:
        sizes.append(size)
        size *= 2
    return [limit, *reversed(sizes)]


class BatchSizer:
    """The batch cap for one deployment: ``cap`` rows at most per call."""

    _limit: int
    _sizes: list[int]
    _trial: int
    _times: dict[int, list[float]]
    _best: int | None
    _explored_at: float

    def __init__(
        self,
        limit: int,
        *,
        trials: int = TRIALS,
        refresh_s: float = REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._trials, self._refresh_s, self._clock = trials, refresh_s, clock
        self.limit = limit

    @property
    def limit(self) -> int:
        return self._limit

    @limit.setter
    def limit(self, value: int) -> None:
        """A new ``max_batch_size``: what was learnt under the old one no longer applies."""
        self._limit = value
        self._sizes = candidate_sizes(value)
        self._restart()

    @property
    def cap(self) -> int:
        if self._best is not None and self._clock() >= self._explored_at + self._refresh_s:
            self._restart()
        return self._best if self._best is not None else self._sizes[self._trial]

    @property
    def learnt(self) -> dict[int, float]:
        """Seconds per row at each size tried so far (medians)."""
        return {size: statistics.median(times) for size, times in self._times.items() if times}

    def observe(self, rows: int, seconds: float) -> None:
        """A batch of ``rows`` took ``seconds``; only full batches of the size on trial count
        (a smaller one says the queue ran dry, not what that size costs)."""
        if self._best is not None or rows < self._sizes[self._trial] or rows <= 0:
            return
        size = self._sizes[self._trial]
        self._times[size].append(seconds / rows)
        if len(self._times[size]) < self._trials:
            return
        if self._trial + 1 < len(self._sizes):
            self._trial += 1
            return
        per_row = self.learnt
        self._best = min(per_row, key=lambda candidate: (per_row[candidate], candidate))
        self._explored_at = self._clock()

    def _restart(self) -> None:
        self._trial = 0
        self._times = {size: [] for size in self._sizes}
        self._best = None if len(self._sizes) > 1 else self._sizes[0]
        self._explored_at = self._clock()
