"""What the ledger says, read back: usage, invoices and publisher revenue.

Each is its organisation's alone (the operator reads every one's), and another
organisation's slug answers exactly as one that does not exist. All of them add usage up from
the hourly rollups (:mod:`modelmart.billing.usage_reports`), and write quantities as exact
decimals (``706245``, ``0.5``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from modelmart.accounts.service import visible_org_row
from modelmart.billing.invoices import Period, build_invoice
from modelmart.billing.money import quantity_text
from modelmart.billing.plans import Plan
from modelmart.billing.prices import PriceBook
from modelmart.billing.usage_reports import UsageReports
from modelmart.errors import ValidationFailed
from modelmart.store.db import lock_for_write
from modelmart.store.tables import InvoiceRow, OrganizationRow
from modelmart.tenancy import Principal


class Statements:
    """``plan`` looks a plan up by name; ``prices`` is the price book in force."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        reports: UsageReports,
        plan: Callable[[str], Plan],
        prices: Callable[[], PriceBook],
    ) -> None:
        self._sessions = sessions
        self._reports = reports
        self._plan = plan
        self._prices = prices

    def usage(
        self,
        principal: Principal,
        organisation: str | None,
        *,
        start: datetime,
        end: datetime,
        group_by: Literal["day", "model", "key"],
    ) -> list[dict[str, Any]]:
        """Units summed by ``day``, ``model`` or ``key`` (and unit): ``organisation``'s, or
        the caller's own when None (every organisation's with accounts off)."""
        org_id = self._usage_org(principal, organisation)
        groups = self._reports.sums(org_id, start, end, group_by)
        return [
            {group_by: group, "unit": unit, "quantity": quantity_text(amount)}
            for (group, unit), amount in sorted(groups.items())
        ]

    def _usage_org(self, principal: Principal, organisation: str | None) -> int | None:
        if organisation is not None:
            with self._sessions() as session:
                return visible_org_row(session, principal, organisation).id
        return principal.org_id if principal.accounts else None

    def invoice(self, principal: Principal, slug: str, period: Period) -> dict[str, Any]:
        """The final invoice if the period was closed, else a draft priced as of now."""
        with self._sessions() as session:
            org = visible_org_row(session, principal, slug)
            final = session.scalar(
                select(InvoiceRow).where(
                    InvoiceRow.org_id == org.id, InvoiceRow.period == str(period)
                )
            )
            if final is not None:
                return {**final.document, "status": "final", "id": final.id}
            plan_name = org.plan
            org_id = org.id
        used = self._reports.sums(org_id, period.start, period.end, "model")
        document = build_invoice(slug, self._plan(plan_name), period, used, self._prices())
        return {**document, "status": "draft"}

    def finalize(self, principal: Principal, slug: str, period: Period) -> dict[str, Any]:
        """Freeze the invoice of a finished month; finalising again returns the same one.
        Who may is the route's to check (the operator)."""
        if period.end > datetime.now(UTC):
            raise ValidationFailed(
                f"{period} is not over yet; an invoice is finalised after its month ends "
                "(GET shows the running draft)"
            )
        document = self.invoice(principal, slug, period)
        if document["status"] == "final":
            return document
        with self._sessions() as session:
            lock_for_write(session)
            org = visible_org_row(session, principal, slug)
            stored = {key: value for key, value in document.items() if key != "status"}
            row = InvoiceRow(
                org_id=org.id,
                period=str(period),
                currency=document["currency"],
                document=stored,
                total=document["total"],
            )
            session.add(row)
            try:
                session.commit()
            except IntegrityError:  # finalised at the same time by another request
                session.rollback()
        return self.invoice(principal, slug, period)

    def revenue(self, principal: Principal, publisher: str, period: Period) -> list[dict[str, Any]]:
        """What each customer owes for ``publisher``'s priced models in ``period``."""
        owed: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        with self._sessions() as session:
            visible_org_row(session, principal, publisher)
            orgs = session.scalars(select(OrganizationRow)).all()
            slugs = {org.id: (org.slug, org.plan) for org in orgs}
        prices = self._prices()
        for org_id, (slug, plan_name) in slugs.items():
            used = self._reports.sums(org_id, period.start, period.end, "model")
            document = build_invoice(slug, self._plan(plan_name), period, used, prices)
            for line in document["lines"]:
                if line["publisher"] == publisher:
                    owed[(line["model"], slug)] += Decimal(line["amount"])
        return [
            {"model": model, "customer": customer, "amount": str(amount)}
            for (model, customer), amount in sorted(owed.items())
        ]
