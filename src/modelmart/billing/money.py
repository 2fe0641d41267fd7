"""Money is :class:`decimal.Decimal` with a currency, never a float; invoices round each line to
the currency's minor unit (half to even, as accountants do) and add the rounded lines."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from modelmart.errors import ValidationFailed

CENT = Decimal("0.01")
ZERO = Decimal(0)


def parse_amount(text: str, what: str) -> Decimal:
    """A non-negative decimal from its string form; floats never come near a bill."""
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:
        raise ValidationFailed(
            f"{what} must be a decimal number like '0.50', got {text!r}"
        ) from exc
    if not amount.is_finite() or amount < 0:
        raise ValidationFailed(f"{what} must be a finite amount of zero or more, got {text!r}")
    return amount


def round_money(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN)


def quantity(value: float | int | str | Decimal) -> Decimal:
    """A unit count as stored in the ledger (JSON numbers) made exact for arithmetic."""
    return value if isinstance(value, Decimal) else Decimal(str(value))
