from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from modelmart.billing.invoices import Period, build_invoice, invoice_csv, invoice_html
from modelmart.billing.money import parse_amount, round_money
from modelmart.billing.plans import Plan, PlanKind
from modelmart.billing.prices import Price, PriceBook
from modelmart.errors import ValidationFailed

PRICES = PriceBook(
    [
        Price(model="*", unit="requests", amount=Decimal("0.001")),
        Price(model="chat", unit="tokens", amount=Decimal("0.50"), per=1000),
    ]
)


def _lines(invoice: dict[str, object]) -> dict[tuple[object, object], dict[str, str]]:
    return {(line["model"], line["unit"]): line for line in invoice["lines"]}  # type: ignore[attr-defined]


def test_pay_as_you_go_charges_every_unit_at_its_price() -> None:
    plan = Plan(name="payg", kind=PlanKind.PAY_AS_YOU_GO)
    used = {("chat", "tokens"): Decimal(12345), ("chat", "requests"): Decimal(10)}
    invoice = build_invoice("acme", plan, Period(2026, 11), used, PRICES)
    lines = _lines(invoice)
    assert lines[("chat", "tokens")]["amount"] == "6.17"  # 12.345 * 0.50, half-even to cents
    assert lines[("chat", "requests")]["amount"] == "0.01"
    assert invoice["total"] == "6.18"


def test_included_units_are_taken_off_first_and_shared_across_models() -> None:
    plan = Plan(
        name="pro",
        kind=PlanKind.SUBSCRIPTION,
        monthly_fee=Decimal("49.00"),
        included_units={"requests": Decimal(15)},
    )
    used = {("a", "requests"): Decimal(10), ("b", "requests"): Decimal(10)}
    invoice = build_invoice("acme", plan, Period(2026, 11), used, PRICES)
    lines = _lines(invoice)
    assert lines[("a", "requests")]["included"] == "10"
    assert lines[("b", "requests")]["billable"] == "5"
    assert lines[(None, "month")]["amount"] == "49.00"
    assert Decimal(invoice["total"]) == Decimal("49.00") + round_money(Decimal("0.005"))


def test_the_data_sharing_plan_charges_nothing() -> None:
    plan = Plan(name="share", kind=PlanKind.DATA_SHARING)
    invoice = build_invoice(
        "acme", plan, Period(2026, 11), {("chat", "tokens"): Decimal("9e6")}, PRICES
    )
    assert invoice["total"] == "0"


def test_invoice_renderings_carry_the_same_total() -> None:
    plan = Plan(name="payg", kind=PlanKind.PAY_AS_YOU_GO)
    invoice = build_invoice("a&b", plan, Period(2026, 1), {("m", "requests"): Decimal(3)}, PRICES)
    assert invoice_csv(invoice).splitlines()[-1].endswith(",0.00")
    page = invoice_html(invoice)
    assert "a&amp;b" in page
    assert "<script" not in page


def test_periods_are_calendar_months_in_utc() -> None:
    period = Period.parse("2026-12")
    assert period.start == datetime(2026, 12, 1, tzinfo=UTC)
    assert period.end == datetime(2027, 1, 1, tzinfo=UTC)
    assert str(Period.of(datetime(2026, 2, 28, 23, 59, tzinfo=UTC))) == "2026-02"
    for bad in ("2026-13", "november", "2026"):
        with pytest.raises(ValidationFailed, match="a month like 2026-11"):
            Period.parse(bad)


def test_money_is_parsed_exactly_and_refuses_nonsense() -> None:
    assert parse_amount("0.10", "fee") + parse_amount("0.20", "fee") == Decimal("0.30")
    for bad in ("-1", "NaN", "ten", "Infinity"):
        with pytest.raises(ValidationFailed, match="fee"):
            parse_amount(bad, "fee")


def test_a_model_price_wins_over_the_default() -> None:
    assert PRICES.price("chat", "tokens") is not None
    assert PRICES.price("other", "requests").amount == Decimal("0.001")  # type: ignore[union-attr]
    assert PRICES.price("other", "images") is None


def test_energy_is_listed_per_model_and_never_charged() -> None:
    plan = Plan(name="payg", kind=PlanKind.PAY_AS_YOU_GO)
    used = {
        ("m", "requests"): Decimal(3),
        ("m", "energy_joules"): Decimal("0.012345"),
        ("n", "energy_joules"): Decimal("2"),
    }
    invoice = build_invoice("acme", plan, Period(2026, 1), used, PRICES)
    assert [line["unit"] for line in invoice["lines"]] == ["requests"]
    assert invoice["energy"] == [
        {"model": "m", "joules": "0.012345"},
        {"model": "n", "joules": "2"},
    ]
    assert invoice["energy_joules"] == "2.012345"
    assert "energy,,energy_joules,2.012345" in invoice_csv(invoice)
    assert "2.012345 J" in invoice_html(invoice)
