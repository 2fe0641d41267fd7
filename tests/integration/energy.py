"""What integration tests check of a usage's energy fields."""

from __future__ import annotations

from typing import Any

ENERGY_FIELDS = ("energy_joules", "energy_method", "co2e_grams")


def billed(usage: dict[str, Any]) -> dict[str, Any]:
    """``usage`` without its energy fields, once they say the request used some energy."""
    assert usage["energy_joules"] > 0, usage
    assert usage["energy_method"] in {"rapl", "cpu-time-estimate"}, usage
    return {name: value for name, value in usage.items() if name not in ENERGY_FIELDS}
