"""Plans' and prices' decimal fields accept exactly what their JSON schema describes."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from pydantic import ValidationError

from modelmart.billing.amounts import DECIMAL_TEXT, MAX_AMOUNT
from modelmart.billing.plans import Plan, PlanKind
from modelmart.billing.prices import Price


@pytest.mark.parametrize(
    ("sent", "read"),
    [
        ("0.0125", Decimal("0.0125")),
        ("7", Decimal(7)),
        (3, Decimal(3)),
        (4.0, Decimal(4)),
        (MAX_AMOUNT, MAX_AMOUNT),
    ],
)
def test_strings_of_digits_and_whole_numbers_are_exact_amounts(sent: object, read: Decimal) -> None:
    price = Price.model_validate({"model": "*", "unit": "requests", "amount": sent})
    assert price.amount == read


@pytest.mark.parametrize(
    "sent", [0.1, "-1", "1e3", "NaN", "0.1234567", " 1", "", True, -1, MAX_AMOUNT + 1, "1,5"]
)
def test_anything_else_is_refused_with_how_to_write_it(sent: object) -> None:
    with pytest.raises(ValidationError, match="amount"):
        Price.model_validate({"model": "*", "unit": "requests", "amount": sent})


@pytest.mark.parametrize("sent", [0.1, "-1", "1e3", "NaN", "0.1234567", True])
def test_the_schema_refuses_what_the_validator_refuses(sent: object) -> None:
    schema = Price.model_json_schema()["properties"]["amount"]["anyOf"]
    integer, text = schema
    fits_integer = type(sent) is int and integer["minimum"] <= sent <= integer["maximum"]
    fits_text = isinstance(sent, str) and re.fullmatch(text["pattern"], sent) is not None
    assert not fits_integer
    assert not fits_text
    assert text["pattern"] == DECIMAL_TEXT


def test_units_are_the_known_ones_in_keys_and_fields() -> None:
    with pytest.raises(ValidationError, match="unknown unit 'parsecs'"):
        Plan(name="odd", kind=PlanKind.FREE, included_units={"parsecs": Decimal(1)})
    with pytest.raises(ValidationError, match="unknown unit"):
        Price.model_validate({"model": "*", "unit": "parsecs", "amount": "1"})
    schema = Plan.model_json_schema()["properties"]["monthly_quota"]
    assert "requests" in schema["propertyNames"]["enum"]
