"""Invoices: the ledger of one organisation and month, priced.

Each (model, unit) used becomes a line. A plan's included units are taken off first (shared
across models, in model-name order, so the same ledger always gives the same invoice); the
rest is charged at the price book's rate, rounded per line. A subscription adds its fee; the
data-sharing plan charges nothing. Quantities are written as exact decimals (``706245``,
``0.5``), amounts to the cent.

Energy is not charged: the joules the period's requests used are listed beside the lines,
per model (``energy``) and in all (``energy_joules``), exact as the ledger keeps them.
"""

from __future__ import annotations

import csv
import html
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from modelmart.billing.money import ZERO, quantity_text, round_money
from modelmart.billing.plans import Plan, PlanKind
from modelmart.billing.prices import PriceBook
from modelmart.billing.usage_records import ENERGY_UNIT
from modelmart.errors import ValidationFailed

MONTH = re.compile(r"[1-9][0-9]{3}-(0[1-9]|1[0-2])")
"""A billing period's text: a year and a two-digit month."""


@dataclass(frozen=True)
class Period:
    """A calendar month in UTC: ``2026-11`` covers [2026-11-01, 2026-12-01)."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period:
        """``YYYY-MM`` exactly, as the API documents it (``2026-1`` is refused)."""
        try:
            if not MONTH.fullmatch(text):
                raise ValueError(text)
            year, month = (int(part) for part in text.split("-"))
            datetime(year, month, 1, tzinfo=UTC)
        except ValueError as exc:
            raise ValidationFailed(
                f"a billing period is a month like 2026-11, got {text!r}"
            ) from exc
        return cls(year, month)

    @classmethod
    def of(cls, moment: datetime) -> Period:
        moment = moment.astimezone(UTC)
        return cls(moment.year, moment.month)

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        year, month = (self.year + 1, 1) if self.month == 12 else (self.year, self.month + 1)
        return datetime(year, month, 1, tzinfo=UTC)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def build_invoice(
    org: str,
    plan: Plan,
    period: Period,
    used: dict[tuple[str, str], Decimal],
    prices: PriceBook,
) -> dict[str, Any]:
    """The invoice document (JSON-ready, amounts as decimal strings)."""
    allowance = dict(plan.included_units)
    lines: list[dict[str, Any]] = []
    if plan.monthly_fee:
        lines.append(_fee_line(plan))
    energy = {model: amount for (model, unit), amount in used.items() if unit == ENERGY_UNIT}
    for (model, unit), amount in sorted(used.items()):
        if unit == ENERGY_UNIT:
            continue
        free = min(amount, allowance.get(unit, ZERO))
        allowance[unit] = allowance.get(unit, ZERO) - free
        billable = amount - free
        price = prices.price(model, unit)
        charge = ZERO
        if price is not None and plan.kind is not PlanKind.DATA_SHARING:
            charge = round_money(price.cost(billable))
        lines.append(
            {
                "kind": "usage",
                "model": model,
                "unit": unit,
                "quantity": quantity_text(amount),
                "included": quantity_text(free),
                "billable": quantity_text(billable),
                "unit_price": str(price.amount) if price else "0",
                "per": price.per if price else 1,
                "publisher": price.publisher if price else None,
                "amount": str(charge),
            }
        )
    subtotal = sum((Decimal(line["amount"]) for line in lines), ZERO)
    return {
        "organisation": org,
        "period": str(period),
        "plan": plan.name,
        "plan_kind": plan.kind.value,
        "currency": plan.currency,
        "lines": lines,
        "subtotal": str(subtotal),
        "total": str(subtotal),
        "energy_joules": quantity_text(sum(energy.values(), ZERO)),
        "energy": [
            {"model": model, "joules": quantity_text(joules)}
            for model, joules in sorted(energy.items())
        ],
    }


def _fee_line(plan: Plan) -> dict[str, Any]:
    return {
        "kind": "subscription",
        "model": None,
        "unit": "month",
        "quantity": "1",
        "included": "0",
        "billable": "1",
        "unit_price": str(plan.monthly_fee),
        "per": 1,
        "publisher": None,
        "amount": str(round_money(plan.monthly_fee)),
    }


CSV_COLUMNS = (
    "kind",
    "model",
    "unit",
    "quantity",
    "included",
    "billable",
    "unit_price",
    "per",
    "amount",
)


def invoice_csv(invoice: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for line in invoice["lines"]:
        writer.writerow(["" if line[c] is None else line[c] for c in CSV_COLUMNS])
    if "energy_joules" in invoice:  # invoices finalised before energy was kept have none
        writer.writerow(["energy", "", ENERGY_UNIT, invoice["energy_joules"], "", "", "", "", "0"])
    writer.writerow(["total", "", "", "", "", "", "", "", invoice["total"]])
    return out.getvalue()


def invoice_html(invoice: dict[str, Any]) -> str:
    """A printable page: no scripts, no external assets."""
    e = html.escape
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(str(line[c] if line[c] is not None else ''))}</td>"
            for c in CSV_COLUMNS
        )
        + "</tr>"
        for line in invoice["lines"]
    )
    head = "".join(f"<th>{c.replace('_', ' ')}</th>" for c in CSV_COLUMNS)
    title = f"Invoice {html.escape(invoice['organisation'])} {html.escape(invoice['period'])}"
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{title}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #999;padding:4px 8px;text-align:right}</style></head><body>"
        f"<h1>{title}</h1><p>Plan: {e(invoice['plan'])} ({e(invoice['plan_kind'])}); "
        f"status: {e(invoice.get('status', 'draft'))}</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        f"<p><strong>Total: {e(invoice['total'])} {e(invoice['currency'])}</strong></p>"
        f"{_energy_html(invoice)}</body></html>"
    )


def _energy_html(invoice: dict[str, Any]) -> str:
    if "energy_joules" not in invoice:
        return ""
    joules = html.escape(str(invoice["energy_joules"]))
    return f"<p>Energy used: {joules} J (not charged)</p>"
