"""Autoscaling: keep each deployment's instances near its load, between its bounds.

Backend-agnostic: it only reads :meth:`Endpoint.status` (requests queued and running) and asks
its :class:`ScalingTarget` (the deployment manager) to apply a new instance count, so it works
the same for every placement.

The load of a deployment is the requests queued or running; it wants
``ceil(load / target_ongoing_requests)`` instances, within ``[min_instances, max_instances]``.
To not flap:

- it scales up at once (a queue that grows costs latency now);
- it scales down only after the wish stayed below the current count for ``downscale_delay_s``,
  and then to the largest count wished for in that time;
- it scales to zero (when ``min_instances`` is 0) only after ``idle_before_zero_s`` without a
  single request. A request arriving then waits in the queue for a cold start; the endpoint
  wakes the autoscaler (:meth:`Endpoint.on_cold_demand`) so the start does not wait for a tick.

One loop per manager; a tick only reads statuses and starts scaling tasks, never waits for an
instance to load, so one slow deployment does not hold up the others. A change that failed (an
instance that would not start) is retried after a doubling wait, at most ``MAX_BACKOFF_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from modelmart.serving.placement import Endpoint, EndpointStatus

logger = logging.getLogger("modelmart.autoscaler")

MAX_BACKOFF_S = 60.0
"""The longest wait before retrying a deployment whose last scaling change failed."""


@dataclass(frozen=True)
class ScalingPolicy:
    """One deployment's bounds and the load per instance it aims for."""

    min_instances: int
    max_instances: int
    target_ongoing_requests: float

    def __post_init__(self) -> None:
        if not 0 <= self.min_instances <= self.max_instances or self.max_instances < 1:
            raise ValueError(
                f"scaling between {self.min_instances} and {self.max_instances} instances; "
                "expected 0 <= min <= max and max >= 1"
            )
        if self.target_ongoing_requests <= 0:
            raise ValueError("target_ongoing_requests must be positive")

    def clamp(self, instances: int) -> int:
        return max(self.min_instances, min(self.max_instances, instances))


@dataclass(frozen=True)
class AutoscalerSettings:
    """How often the autoscaler looks and how patient it is before scaling down."""

    interval_s: float = 1.0
    downscale_delay_s: float = 30.0
    idle_before_zero_s: float = 300.0

    def __post_init__(self) -> None:
        if self.interval_s <= 0 or self.downscale_delay_s < 0 or self.idle_before_zero_s < 0:
            raise ValueError(
                "the autoscaler needs interval_s > 0, downscale_delay_s >= 0 and "
                "idle_before_zero_s >= 0"
            )


class Recommender:
    """The scaling decisions of one deployment. Pure: the caller passes the time."""

    def __init__(self, settings: AutoscalerSettings, now: float) -> None:
        self._settings = settings
        self._last_busy = now  # a fresh deployment is not idle yet
        self._low_since: float | None = None
        self._highest_low = 0

    def decide(
        self, policy: ScalingPolicy, status: EndpointStatus, current: int, now: float
    ) -> int:
        """The instance count to run now, given ``current``."""
        wanted = self._wanted(policy, status, current, now)
        if wanted >= current:
            self._low_since = None
            return wanted
        if wanted == 0:  # idle long enough already: that was the wait
            self._low_since = None
            return 0
        if self._low_since is None:
            self._low_since, self._highest_low = now, wanted
        self._highest_low = max(self._highest_low, wanted)
        if now - self._low_since < self._settings.downscale_delay_s:
            return current
        self._low_since = None
        return self._highest_low

    def _wanted(
        self, policy: ScalingPolicy, status: EndpointStatus, current: int, now: float
    ) -> int:
        load = status.queue_depth + status.running
        if load > 0:
            self._last_busy = now
        wanted = policy.clamp(math.ceil(load / policy.target_ongoing_requests))
        idle_s = now - self._last_busy
        if wanted == 0 and current > 0 and idle_s < self._settings.idle_before_zero_s:
            return 1  # not idle long enough to scale to zero
        return wanted


@dataclass(frozen=True)
class Scaled:
    """A deployment under autoscaling, as the target lists it."""

    name: str
    endpoint: Endpoint
    policy: ScalingPolicy


class ScalingTarget(Protocol):
    """Whoever owns the deployments: lists the autoscaled ones and applies a new count."""

    def autoscaled(self) -> list[Scaled]: ...

    async def scale(self, name: str, instances: int) -> None: ...


class Autoscaler:
    """The loop that scales every autoscaled deployment of one :class:`ScalingTarget`."""

    def __init__(
        self,
        target: ScalingTarget,
        settings: AutoscalerSettings,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._target = target
        self._settings = settings
        self._clock = clock
        self._recommenders: dict[str, Recommender] = {}
        self._scaling: dict[str, asyncio.Task[None]] = {}
        # After a failed change, a deployment is left alone until this time (doubling waits),
        # so a model that cannot load another instance is not restarted every tick.
        self._failures: dict[str, tuple[int, float]] = {}
        self._woken = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._loop is None:
            self._loop = asyncio.create_task(self._run(), name="autoscaler")

    def wake(self) -> None:
        """Tick now rather than at the next interval (a request waits for a cold start)."""
        self._woken.set()

    def tick(self) -> None:
        """Look at every autoscaled deployment once and start the scaling it needs."""
        now = self._clock()
        listed = self._target.autoscaled()
        for scaled in listed:
            in_flight = self._scaling.get(scaled.name)
            if in_flight is not None and not in_flight.done():
                continue  # its last change is still loading; look again next tick
            if now < self._failures.get(scaled.name, (0, 0.0))[1]:
                continue  # backing off after a failed change
            recommender = self._recommenders.get(scaled.name)
            if recommender is None:
                recommender = self._recommenders[scaled.name] = Recommender(self._settings, now)
            current = scaled.endpoint.spec.instances
            wanted = recommender.decide(scaled.policy, scaled.endpoint.status(), current, now)
            if wanted != current:
                logger.info("scaling %s from %d to %d instances", scaled.name, current, wanted)
                task = asyncio.create_task(self._scale(scaled.name, wanted), name="autoscale")
                self._scaling[scaled.name] = task
        names = {scaled.name for scaled in listed}
        for gone in set(self._recommenders) - names:
            del self._recommenders[gone]
            self._failures.pop(gone, None)

    async def settle(self) -> None:
        """Wait for the scaling changes started so far (for tests and shutdown)."""
        await asyncio.gather(*self._scaling.values(), return_exceptions=True)

    async def close(self) -> None:
        """Stop looking; let changes under way finish (cancelled midway, an instance being
        started could be left behind, outside the endpoint that would stop it)."""
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
            self._loop = None
        await self.settle()
        self._scaling.clear()

    async def _run(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:  # one bad status must not stop autoscaling for good
                logger.exception("autoscaler tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._woken.wait(), self._settings.interval_s)
            self._woken.clear()

    async def _scale(self, name: str, instances: int) -> None:
        try:
            await self._target.scale(name, instances)
        except Exception:  # a failed start: logged; tried again after a growing wait
            count = self._failures.get(name, (0, 0.0))[0] + 1
            wait_s = min(MAX_BACKOFF_S, self._settings.interval_s * 2**count)
            self._failures[name] = (count, self._clock() + wait_s)
            logger.warning(
                "scaling %s to %d instances failed (%d in a row); next try in %g s",
                name,
                instances,
                count,
                wait_s,
                exc_info=True,
            )
        else:
            self._failures.pop(name, None)
