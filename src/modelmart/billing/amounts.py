"""The decimal fields of plans and prices as the API reads them, with a JSON schema that says
exactly that: a whole JSON number, or a string of digits with at most six decimals.

A JSON number with a fraction is a binary float by the time anyone reads it (``0.1`` is not
one tenth), so fractional amounts travel as strings; the schema states it, the validator
refuses anything else with a message that says how to write the amount."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator, WithJsonSchema

UNITS = (
    "requests",
    "items",
    "tokens",
    "images",
    "audio_seconds",
    "characters",
    "explanations",
)
"""The units routes report (see :mod:`modelmart.gateway.usage`) and prices are set in."""

MAX_AMOUNT = 10**12 - 1  # twelve digits before the point, as in the string form
DECIMAL_TEXT = r"^[0-9]{1,12}(\.[0-9]{1,6})?$"
_DECIMAL_TEXT = re.compile(DECIMAL_TEXT)


def _exact(value: object) -> object:
    if isinstance(value, bool):
        raise ValueError("an amount is a number, not true or false")
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON Schema's integers include 3.0
    if isinstance(value, int):
        if not 0 <= value <= MAX_AMOUNT:
            raise ValueError(f"an amount is between 0 and {MAX_AMOUNT}, got {value}")
        return Decimal(value)
    if isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value):
        return Decimal(value)
    if isinstance(value, Decimal) and value.is_finite() and 0 <= value <= MAX_AMOUNT:
        return value  # from Python callers, who hold exact amounts already
    raise ValueError(
        'write an amount as a string of digits with at most 6 decimals, e.g. "0.0125", '
        f"or as a whole number up to {MAX_AMOUNT}; got {value!r}"
    )


Amount = Annotated[
    Decimal,
    BeforeValidator(_exact),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": MAX_AMOUNT},
                {"type": "string", "pattern": DECIMAL_TEXT},
            ]
        }
    ),
]
"""A non-negative exact decimal: a price, a fee or a number of units."""


def _known_unit(unit: str) -> str:
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; use one of {', '.join(UNITS)}")
    return unit


Unit = Annotated[
    str,
    AfterValidator(_known_unit),
    WithJsonSchema({"type": "string", "enum": list(UNITS)}),
]
"""One of the units routes report and prices are set in."""
