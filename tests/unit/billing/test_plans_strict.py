"""A plan's limits and a billing period take exactly what the API documents."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from modelmart.billing.invoices import Period
from modelmart.billing.plans import Plan, PlanKind
from modelmart.errors import ValidationFailed


def test_per_minute_limits_are_whole_numbers_not_booleans() -> None:
    assert Plan(name="p", kind=PlanKind.FREE, units_per_minute={"tokens": 5}).units_per_minute
    with pytest.raises(ValidationError):
        Plan(name="p", kind=PlanKind.FREE, units_per_minute={"tokens": True})


@pytest.mark.parametrize("text", ["2026-1", "2026-13", "26-11", "2026-11-01", "2026-11\n"])
def test_a_period_is_a_year_and_a_two_digit_month(text: str) -> None:
    with pytest.raises(ValidationFailed):
        Period.parse(text)
    assert str(Period.parse("2026-11")) == "2026-11"
