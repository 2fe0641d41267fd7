"""The autoscaler's decisions (pure, on a fake clock) and its loop (on fake endpoints)."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from modelmart.deploy.autoscaler import (
    Autoscaler,
    AutoscalerSettings,
    Recommender,
    Scaled,
    ScalingPolicy,
)
from modelmart.serving.placement import EndpointSpec, EndpointStatus
from tests.unit.serving.fakes import served

SETTINGS = AutoscalerSettings(interval_s=0.01, downscale_delay_s=10.0, idle_before_zero_s=60.0)
POLICY = ScalingPolicy(min_instances=1, max_instances=4, target_ongoing_requests=2.0)


def load(queued: int, running: int = 0) -> EndpointStatus:
    return EndpointStatus(
        ready_instances=1, starting_instances=0, version=1, queue_depth=queued, running=running
    )


def test_it_scales_up_at_once_to_the_load_over_the_target_within_the_cap() -> None:
    recommender = Recommender(SETTINGS, now=0.0)
    assert recommender.decide(POLICY, load(3, 2), current=1, now=1.0) == 3  # ceil(5 / 2)
    assert recommender.decide(POLICY, load(40), current=3, now=2.0) == 4  # the cap


def test_it_scales_down_only_after_the_load_stayed_low_for_the_delay() -> None:
    recommender = Recommender(SETTINGS, now=0.0)
    assert recommender.decide(POLICY, load(1), current=4, now=1.0) == 4
    assert recommender.decide(POLICY, load(5), current=4, now=5.0) == 4  # wished 3: still low
    assert recommender.decide(POLICY, load(0), current=4, now=10.9) == 4
    # Ten seconds low: down to the most it wished for meanwhile (3), not to the last wish.
    assert recommender.decide(POLICY, load(0), current=4, now=11.0) == 3


def test_a_burst_during_the_delay_starts_the_wait_again() -> None:
    recommender = Recommender(SETTINGS, now=0.0)
    assert recommender.decide(POLICY, load(0), current=2, now=1.0) == 2
    assert recommender.decide(POLICY, load(4), current=2, now=8.0) == 2  # wants 2: not low
    assert recommender.decide(POLICY, load(0), current=2, now=12.0) == 2  # low again since 12
    assert recommender.decide(POLICY, load(0), current=2, now=22.0) == 1


def test_it_scales_to_zero_only_after_the_idle_time_and_stays_there() -> None:
    policy = dataclasses.replace(POLICY, min_instances=0)
    recommender = Recommender(SETTINGS, now=0.0)
    assert recommender.decide(policy, load(0), current=1, now=59.0) == 1
    assert recommender.decide(policy, load(0), current=1, now=60.0) == 0
    assert recommender.decide(policy, load(0), current=0, now=61.0) == 0
    # A request queued for nobody: one instance at once.
    assert recommender.decide(policy, load(1), current=0, now=62.0) == 1
    assert recommender.decide(policy, load(0), current=1, now=100.0) == 1  # idle since 62


def test_the_floor_holds_without_load() -> None:
    policy = dataclasses.replace(POLICY, min_instances=2)
    recommender = Recommender(SETTINGS, now=0.0)
    assert recommender.decide(policy, load(0), current=2, now=1000.0) == 2


def test_policies_refuse_bounds_out_of_order() -> None:
    with pytest.raises(ValueError, match="min <= max"):
        ScalingPolicy(3, 2, 1.0)
    with pytest.raises(ValueError, match="positive"):
        ScalingPolicy(0, 2, 0.0)


class _Endpoint:
    """Just what the autoscaler reads: a spec and a status."""

    def __init__(self, instances: int, queued: int) -> None:
        self.spec = EndpointSpec(name="d", target=served(), instances=instances)
        self.queued = queued

    def status(self) -> EndpointStatus:
        return load(self.queued)


class _Target:
    def __init__(self, endpoint: _Endpoint, policy: ScalingPolicy) -> None:
        self.endpoint = endpoint
        self.policy = policy
        self.calls: list[int] = []
        self.release = asyncio.Event()

    def autoscaled(self) -> list[Scaled]:
        return [Scaled("d", self.endpoint, self.policy)]  # type: ignore[arg-type]

    async def scale(self, name: str, instances: int) -> None:
        self.calls.append(instances)
        await self.release.wait()  # a slow start
        self.endpoint.spec = dataclasses.replace(self.endpoint.spec, instances=instances)


async def test_a_tick_starts_scaling_without_waiting_and_skips_a_deployment_still_scaling() -> None:
    target = _Target(_Endpoint(instances=1, queued=8), POLICY)
    autoscaler = Autoscaler(target, SETTINGS)
    autoscaler.tick()
    await asyncio.sleep(0)
    autoscaler.tick()  # the first change is still loading: no second one
    await asyncio.sleep(0)
    assert target.calls == [4]
    target.release.set()
    await autoscaler.settle()
    assert target.endpoint.spec.instances == 4
    await autoscaler.close()


async def test_the_loop_wakes_early_when_asked() -> None:
    slow = dataclasses.replace(SETTINGS, interval_s=30.0)
    target = _Target(_Endpoint(instances=0, queued=0), dataclasses.replace(POLICY, min_instances=0))
    target.release.set()
    autoscaler = Autoscaler(target, slow)
    autoscaler.start()
    await asyncio.sleep(0.05)  # the first tick ran: nothing to do
    target.endpoint.queued = 1
    autoscaler.wake()
    for _ in range(100):
        if target.calls:
            break
        await asyncio.sleep(0.01)
    assert target.calls == [1]  # long before the 30 s interval
    await autoscaler.close()


class _FailingTarget(_Target):
    async def scale(self, name: str, instances: int) -> None:
        self.calls.append(instances)
        raise RuntimeError("out of memory")


async def test_after_a_failed_change_it_backs_off_before_trying_again() -> None:
    now = [0.0]
    target = _FailingTarget(_Endpoint(instances=1, queued=8), POLICY)
    autoscaler = Autoscaler(target, SETTINGS, clock=lambda: now[0])
    autoscaler.tick()
    await autoscaler.settle()
    assert target.calls == [4]
    now[0] = 0.019  # within the first wait (2 x the 0.01 s interval)
    autoscaler.tick()
    await autoscaler.settle()
    assert target.calls == [4]
    now[0] = 0.021
    autoscaler.tick()
    await autoscaler.settle()
    assert target.calls == [4, 4]
    now[0] = 0.06  # the second wait is twice as long (0.04 s after 0.021)
    autoscaler.tick()
    await autoscaler.settle()
    assert target.calls == [4, 4]
    await autoscaler.close()
