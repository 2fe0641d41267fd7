"""Billing as the gateway sees it: admit a request (limits, quota, budget) and settle it (one
durable ledger row, then the running totals); plus plans and prices. Usage, invoices and
revenue are read through :attr:`Billing.statements` (:mod:`modelmart.billing.statements`)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from modelmart.billing.invoices import Period
from modelmart.billing.ledger import Ledger, UsageEntry
from modelmart.billing.limits import (
    SPEND,
    MemoryMonthlyUsage,
    MonthlyUsage,
    RateLimits,
    RedisMonthlyUsage,
)
from modelmart.billing.money import ZERO, parse_amount, quantity
from modelmart.billing.plans import DEFAULT_PLANS, Plan, PlanKind
from modelmart.billing.prices import Price, PriceBook
from modelmart.billing.retention import Retention
from modelmart.billing.statements import Statements
from modelmart.billing.usage_reports import UsageReports
from modelmart.errors import AlreadyExists, NotFound, QuotaExceeded
from modelmart.store.db import lock_for_write
from modelmart.store.tables import (
    ApiKeyRow,
    OrganizationRow,
    PlanRow,
    PriceRow,
)
from modelmart.tenancy import Principal

logger = logging.getLogger("modelmart.billing")

ORG_CACHE_TTL_S = 5.0
_EXACT_UNITS_KEPT = 256


@dataclass(frozen=True)
class OrgTerms:
    """What admitting a request needs to know about its organisation, cached briefly."""

    slug: str
    plan: Plan
    monthly_budget: Decimal | None
    budget_action: str
    shares_data: bool  # on the data-sharing plan, with consent: its inputs are kept
    data_sharing_consent: bool
    key_requests_per_minute: dict[int, int | None]
    loaded_at: float


class Billing:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        redis_url: str = "",
        ledger_sessions: sessionmaker[Session] | None = None,
        *,
        ledger_inline: bool = False,
    ) -> None:
        self._sessions = sessions
        self.ledger = Ledger(ledger_sessions or sessions, inline=ledger_inline)
        self.rates = RateLimits(redis_url)
        self.monthly: MonthlyUsage = (
            RedisMonthlyUsage(redis_url, self._month_from_ledger)
            if redis_url
            else MemoryMonthlyUsage(self._month_from_ledger)
        )
        self._terms: dict[int, OrgTerms] = {}
        self._terms_loading: dict[int, asyncio.Future[OrgTerms]] = {}
        self._terms_generation = 0  # bumped by forget_terms: a load begun before is not kept
        self._month = _MonthClock()
        self._exact_units: dict[tuple[tuple[str, float], ...], dict[str, Decimal]] = {}
        self._prices = PriceBook([])
        self.reports = UsageReports(ledger_sessions or sessions)
        self.statements = Statements(sessions, self.reports, self.plan, lambda: self._prices)
        self.retention = Retention(sessions)
        self._alerted: set[tuple[int, str]] = set()

    # --- set-up -------------------------------------------------------------------------

    def start(self) -> None:
        """Seed the default plans (first start only) and load the price book."""
        with self._sessions() as session:
            lock_for_write(session)
            if session.scalar(select(PlanRow.name).limit(1)) is None:
                session.add_all(_plan_row(plan) for plan in DEFAULT_PLANS)
                session.commit()
        self._load_prices()

    async def close(self) -> None:
        await self.ledger.close()
        await asyncio.to_thread(self.retention.close)

    # --- admission and settlement (the per-request path) ---------------------------------

    async def admit(self, principal: Principal) -> OrgTerms:
        """Let a request in, or raise the limit it hits; the organisation's terms."""
        terms = await self._org_terms(principal.org_id)
        plan = terms.plan
        if plan.kind is PlanKind.DATA_SHARING and not terms.data_sharing_consent:
            raise QuotaExceeded(
                f"the {plan.name} plan is free in exchange for keeping your inputs (with "
                "personal data removed) to improve the models; consent with PATCH "
                f'/v1/orgs/{terms.slug} {{"data_sharing_consent": true}} or choose another plan'
            )
        key_limit = terms.key_requests_per_minute.get(principal.key_id)
        await self.rates.admit("key", principal.key_id, key_limit)
        await self.rates.admit("org", principal.org_id, plan.requests_per_minute)
        if plan.units_per_minute:
            await self.rates.check_units(principal.org_id, plan.units_per_minute)
        if plan.monthly_quota or terms.monthly_budget is not None:
            await self._check_month(principal.org_id, terms)
        return terms

    async def settle(self, principal: Principal, entry: UsageEntry) -> None:
        """Write ``entry`` durably, then count it towards limits, quotas and budget."""
        await self.ledger.record(entry)
        terms = await self._org_terms(principal.org_id)
        month = self._month.current()[1]
        units = self._exact(entry.units)
        plan = terms.plan
        # What was used before matters only to a plan with included units.
        before = await self.monthly.get(principal.org_id, month) if plan.included_units else {}
        units[SPEND] = self._cost(entry.model, units, before, plan)
        await self.monthly.add(principal.org_id, month, units)
        if terms.plan.units_per_minute:
            await self.rates.charge_units(
                principal.org_id, terms.plan.units_per_minute, entry.units
            )

    def _exact(self, units: Mapping[str, float]) -> dict[str, Decimal]:
        """``units`` as exact decimals. A model's requests mostly report the same units, and
        converting each float through its text on every request costs more than counting it."""
        key = tuple(units.items())
        exact = self._exact_units.get(key)
        if exact is None:
            if len(self._exact_units) >= _EXACT_UNITS_KEPT:
                self._exact_units.clear()
            exact = self._exact_units[key] = {unit: quantity(amount) for unit, amount in key}
        return dict(exact)

    async def _check_month(self, org_id: int, terms: OrgTerms) -> None:
        period, month = self._month.current()
        used = await self.monthly.get(org_id, month)
        for unit, limit in terms.plan.monthly_quota.items():
            if used.get(unit, ZERO) >= limit:
                resets = period.end.isoformat()
                raise QuotaExceeded(
                    f"the {terms.plan.name} plan's monthly quota of {limit} {unit} is used up "
                    f"({used.get(unit, ZERO)} used); it resets at {resets}, or move to a plan "
                    "with more included usage",
                    details={"unit": unit, "limit": str(limit), "resets_at": resets},
                )
        budget = terms.monthly_budget
        if budget is not None and used.get(SPEND, ZERO) >= budget:
            resets = period.end.isoformat()
            message = (
                f"the monthly spend budget of {budget} {terms.plan.currency} is reached; it "
                f"resets at {resets}, or raise the budget"
            )
            if terms.budget_action == "stop":
                raise QuotaExceeded(message, details={"budget": str(budget), "resets_at": resets})
            if (org_id, month) not in self._alerted:  # once a month, not per request
                self._alerted.add((org_id, month))
                logger.warning("budget alert for organisation %s: %s", terms.slug, message)

    def _cost(
        self, model: str, units: dict[str, Decimal], before: dict[str, Decimal], plan: Plan
    ) -> Decimal:
        """List-price cost of what is beyond the plan's included units (for budgets)."""
        if not plan.included_units:  # all of it, at the same cost for the same units
            return self._prices.list_cost(model, units)
        cost = ZERO
        for unit, amount in units.items():
            price = self._prices.price(model, unit)
            if price is None:
                continue
            included = plan.included_units.get(unit)
            if included is None:
                cost += price.cost(amount)
                continue
            used_before = before.get(unit, ZERO)
            billable = max(ZERO, used_before + amount - max(used_before, included))
            cost += price.cost(billable)
        return cost

    async def _org_terms(self, org_id: int) -> OrgTerms:
        terms = self._terms.get(org_id)
        if terms is not None and time.monotonic() - terms.loaded_at <= ORG_CACHE_TTL_S:
            return terms
        loading = self._terms_loading.get(org_id)
        if loading is None:
            # One load per organisation at a time: when its terms expire under load, every
            # request in flight would otherwise start its own read of the same rows.
            loading = asyncio.ensure_future(self._reload_terms(org_id))
            self._terms_loading[org_id] = loading
        return await asyncio.shield(loading)  # a caller that goes away leaves the load to others

    async def _reload_terms(self, org_id: int) -> OrgTerms:
        generation = self._terms_generation
        try:
            terms = await asyncio.to_thread(self._load_terms, org_id)
        finally:
            if generation == self._terms_generation:
                self._terms_loading.pop(org_id, None)
        if generation == self._terms_generation:
            self._terms[org_id] = terms
        return terms

    def _load_terms(self, org_id: int) -> OrgTerms:
        with self._sessions() as session:
            org = session.get_one(OrganizationRow, org_id)
            keys = session.execute(
                select(ApiKeyRow.id, ApiKeyRow.requests_per_minute).where(
                    ApiKeyRow.org_id == org_id
                )
            )
            plan = self.plan(org.plan)
            return OrgTerms(
                slug=org.slug,
                plan=plan,
                monthly_budget=Decimal(org.monthly_budget) if org.monthly_budget else None,
                budget_action=org.budget_action,
                shares_data=plan.kind is PlanKind.DATA_SHARING and org.data_sharing_consent,
                data_sharing_consent=org.data_sharing_consent,
                key_requests_per_minute={key_id: rpm for key_id, rpm in keys},
                loaded_at=time.monotonic(),
            )

    def forget_terms(self, org_id: int | None = None) -> None:
        """Re-read plans and budgets on the next request (after an admin changed them)."""
        self._terms_generation += 1
        if org_id is None:
            self._terms.clear()
            self._terms_loading.clear()
        else:
            self._terms.pop(org_id, None)
            self._terms_loading.pop(org_id, None)

    def _month_from_ledger(self, org_id: int, month: str) -> dict[str, Decimal]:
        period = Period.parse(month)
        used = self.reports.sums(org_id, period.start, period.end, "unit")
        return {unit: amount for (_, unit), amount in used.items()}

    # --- plans and prices ---------------------------------------------------------------

    def plans(self) -> list[Plan]:
        with self._sessions() as session:
            return [
                _plan_of(row) for row in session.scalars(select(PlanRow).order_by(PlanRow.name))
            ]

    def plan(self, name: str) -> Plan:
        with self._sessions() as session:
            row = session.get(PlanRow, name)
            if row is None:
                raise NotFound(f"no plan {name!r}; GET /v1/plans lists them")
            return _plan_of(row)

    def put_plan(self, plan: Plan) -> Plan:
        with self._sessions() as session:
            lock_for_write(session)
            session.merge(_plan_row(plan))
            session.commit()
        self.forget_terms()
        return plan

    def prices(self) -> list[Price]:
        return self._prices.prices()

    def put_price(self, price: Price, publisher_org_id: int | None) -> Price:
        with self._sessions() as session:
            lock_for_write(session)
            row = session.scalar(
                select(PriceRow).where(
                    PriceRow.model_name == price.model, PriceRow.unit == price.unit
                )
            )
            if row is None:
                row = PriceRow(model_name=price.model, unit=price.unit)
                session.add(row)
            row.amount = str(price.amount)
            row.per = price.per
            row.currency = price.currency
            row.publisher_org_id = publisher_org_id
            try:
                session.commit()
            except IntegrityError as exc:  # two writers at once
                raise AlreadyExists(f"the price of {price.model}/{price.unit} changed") from exc
        self._load_prices()
        return price

    def delete_price(self, model: str, unit: str) -> None:
        with self._sessions() as session:
            lock_for_write(session)
            session.execute(
                delete(PriceRow).where(PriceRow.model_name == model, PriceRow.unit == unit)
            )
            session.commit()
        self._load_prices()

    def _load_prices(self) -> None:
        with self._sessions() as session:
            slugs = dict(session.execute(select(OrganizationRow.id, OrganizationRow.slug)).all())
            rows = session.scalars(select(PriceRow))
            self._prices = PriceBook(
                [
                    Price(
                        model=row.model_name,
                        unit=row.unit,
                        amount=Decimal(row.amount),
                        per=row.per,
                        currency=row.currency,
                        publisher=slugs.get(row.publisher_org_id) if row.publisher_org_id else None,
                    )
                    for row in rows
                ]
            )


class _MonthClock:
    """The current billing month and its name, worked out again only once it has ended
    rather than from a fresh datetime on every request."""

    def __init__(self) -> None:
        self._period = Period.of(datetime.now(UTC))
        self._name = str(self._period)
        self._ends_at = self._period.end.timestamp()

    def current(self) -> tuple[Period, str]:
        if time.time() >= self._ends_at:
            self._period = Period.of(datetime.now(UTC))
            self._name = str(self._period)
            self._ends_at = self._period.end.timestamp()
        return self._period, self._name


def _plan_row(plan: Plan) -> PlanRow:
    return PlanRow(
        name=plan.name,
        kind=plan.kind.value,
        currency=plan.currency,
        monthly_fee=str(plan.monthly_fee),
        included_units={unit: str(amount) for unit, amount in plan.included_units.items()},
        monthly_quota={unit: str(amount) for unit, amount in plan.monthly_quota.items()},
        requests_per_minute=plan.requests_per_minute,
        units_per_minute=dict(plan.units_per_minute),
    )


def _plan_of(row: PlanRow) -> Plan:
    return Plan(
        name=row.name,
        kind=row.kind,
        currency=row.currency,
        monthly_fee=parse_amount(row.monthly_fee, "monthly_fee"),
        included_units={u: Decimal(a) for u, a in row.included_units.items()},
        monthly_quota={u: Decimal(a) for u, a in row.monthly_quota.items()},
        requests_per_minute=row.requests_per_minute,
        units_per_minute=row.units_per_minute,
    )
