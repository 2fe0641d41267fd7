"""Money is :class:`decimal.Decimal` with a currency, never a float; invoices round each line to
the currency's minor unit (half to even, as accountants do) and add the rounded lines.

Unit quantities count to a millionth of a unit (:data:`QUANTUM`): a request's reported amount
is rounded there (half to even) once, so the ledger's rows and their hourly rollups, which
store whole millionths, always add up to the same exact total."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from modelmart.errors import ValidationFailed

CENT = Decimal("0.01")
ZERO = Decimal(0)
MICROS_PER_UNIT = 1_000_000
QUANTUM = Decimal(1) / MICROS_PER_UNIT
_QUANTUM_EXPONENT = -6


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
    """A unit count as stored in the ledger (JSON numbers) made exact for arithmetic: its
    shortest decimal form, rounded to a millionth when it has more digits than that."""
    exact = value if isinstance(value, Decimal) else Decimal(str(value))
    exponent = exact.as_tuple().exponent
    if isinstance(exponent, int) and exponent < _QUANTUM_EXPONENT:
        exact = exact.quantize(QUANTUM, rounding=ROUND_HALF_EVEN)
    return exact


def micro_units(value: float | int | str | Decimal) -> int:
    """``value`` as a whole number of millionths of a unit (what the rollups store)."""
    if isinstance(value, int):
        return value * MICROS_PER_UNIT
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value) * MICROS_PER_UNIT  # the common case, without decimal arithmetic
    return int(quantity(value).scaleb(-_QUANTUM_EXPONENT))


def from_micro_units(micros: int) -> Decimal:
    return Decimal(micros).scaleb(_QUANTUM_EXPONENT)


def quantity_text(amount: Decimal) -> str:
    """An exact quantity as the API writes it: ``706245``, ``0.5``, never ``706245.0`` nor an
    exponent (``7.06E+5``)."""
    if amount == 0:
        return "0"
    return format(amount.normalize(), "f")
