"""The CPU-time estimate, the split of a batch's energy and grams of CO2e."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelmart.energy.meters import CpuTimeMeter, EnergySetup, joules
from modelmart.energy.split import split_microjoules
from modelmart.gateway.energy import microjoules_of


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_cpu_time_times_watts_per_core() -> None:
    clock = FakeClock()
    meter = CpuTimeMeter(watts_per_core=12.5, clock=clock)
    started = meter.start()
    clock.now += 0.002  # 2 ms of CPU
    assert meter.stop(started) == 25_000  # 0.002 s x 12.5 W = 0.025 J


def test_split_by_rows_adds_up_and_gives_remainders_to_the_largest() -> None:
    assert split_microjoules(100, [1, 1, 1]) == [34, 33, 33]
    assert split_microjoules(10, [3, 1]) == [8, 2]  # 7.5 and 2.5: the tie goes to the first
    assert split_microjoules(7, [0, 2, 5]) == [0, 2, 5]
    assert split_microjoules(5, [0, 0]) == [3, 2]  # nothing to weigh by: equal shares
    assert split_microjoules(0, [4, 1]) == [0, 0]
    assert split_microjoules(9, []) == []


def test_split_refuses_negative_amounts() -> None:
    with pytest.raises(ValueError, match="cannot split"):
        split_microjoules(-1, [1])
    with pytest.raises(ValueError, match="cannot split"):
        split_microjoules(1, [-1, 2])


@given(
    st.integers(min_value=0, max_value=10**15),
    st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=40),
)
def test_split_is_exact_and_proportional(total: int, shares: list[int]) -> None:
    parts = split_microjoules(total, shares)
    assert sum(parts) == total
    whole = sum(shares)
    for part, share in zip(parts, shares, strict=True):
        exact = total * share / whole if whole else total / len(shares)
        assert abs(part - exact) < 1 + 1e-9 * total


def test_grams_of_co2e_only_with_a_grid_intensity() -> None:
    assert EnergySetup().co2e_grams(3_600_000_000) is None
    grid = EnergySetup(grid_g_per_kwh=400.0)
    assert grid.co2e_grams(3_600_000_000) == pytest.approx(0.4)  # 3600 J = 1 Wh


def test_joules_are_exact_decimals_of_microjoules() -> None:
    assert str(joules(1_234_567)) == "1.234567"
    assert str(joules(7)) == "7e-06"


@given(st.integers(min_value=0, max_value=10**15))
def test_joules_in_a_response_read_back_to_the_same_microjoules(microjoules: int) -> None:
    assert microjoules_of(joules(microjoules)) == microjoules
    assert microjoules_of(str(joules(microjoules))) == microjoules
