"""Usage, invoices, revenue and prices follow the tenancy rule: an organisation reads its own,
the operator every one's; another organisation answers exactly as a missing one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from modelmart.accounts.service import AccountService
from modelmart.billing.invoices import Period
from modelmart.billing.ledger import UsageEntry
from modelmart.billing.prices import Price, visible_prices
from modelmart.billing.service import Billing
from modelmart.errors import ModelMartError
from modelmart.schemas.roles import Role
from modelmart.tenancy import CATALOGUE_OWNER, OPERATOR_SLUG, Principal
from tests.unit.accounts.tenants import caller, make_org

NOW = datetime.now(UTC)
MONTH = Period.of(NOW)


@dataclass(frozen=True)
class Tenants:
    billing: Billing
    operator: Principal
    alpha: Principal
    beta: Principal


@pytest.fixture
async def tenants(sessions: sessionmaker[Session]) -> AsyncIterator[Tenants]:
    accounts = AccountService(sessions)
    operator, alpha, beta = (
        make_org(accounts, slug, "pay-as-you-go") for slug in (OPERATOR_SLUG, "alpha", "beta")
    )
    billing = Billing(sessions)
    billing.start()
    # alpha publishes its model and prices it; beta uses it, alpha its own catalogue model.
    billing.put_price(Price(model="alpha:iris", unit="requests", amount=Decimal("0.5")), alpha.id)
    await billing.ledger.record(_used("r1", beta.id, "alpha:iris"))
    await billing.ledger.record(_used("r2", alpha.id, "langid"))
    yield Tenants(billing, caller(operator), caller(alpha), caller(beta))
    await billing.close()


def _used(request_id: str, org_id: int, model: str) -> UsageEntry:
    return UsageEntry(request_id, org_id, 1, model, 1, {"requests": 1}, 1.0)


def _error(call: Callable[[], object]) -> str:
    with pytest.raises(ModelMartError) as raised:
        call()
    return str(raised.value.to_dict())


def _usage(billing: Billing, principal: Principal, organisation: str | None) -> list[Any]:
    return billing.statements.usage(
        principal, organisation, start=MONTH.start, end=MONTH.end, group_by="model"
    )


Slugged = Callable[[Billing, Principal, str], object]
SLUGGED: dict[str, Slugged] = {
    "usage": lambda b, p, slug: _usage(b, p, slug),
    "invoice": lambda b, p, slug: b.statements.invoice(p, slug, MONTH),
    "revenue": lambda b, p, slug: b.statements.revenue(p, slug, MONTH),
}


@pytest.mark.parametrize("call", SLUGGED.values(), ids=SLUGGED.keys())
def test_a_foreign_organisation_answers_exactly_as_a_missing_one(
    tenants: Tenants, call: Slugged
) -> None:
    foreign = _error(lambda: call(tenants.billing, tenants.beta, "alpha"))
    missing = _error(lambda: call(tenants.billing, tenants.beta, "nowhere"))
    assert "'not_found'" in foreign
    assert foreign.replace("alpha", "nowhere") == missing


def test_usage_is_the_callers_own_unless_the_operator_names_another(tenants: Tenants) -> None:
    billing = tenants.billing
    assert [row["model"] for row in _usage(billing, tenants.beta, None)] == ["alpha:iris"]
    assert [row["model"] for row in _usage(billing, tenants.alpha, None)] == ["langid"]
    assert _usage(billing, tenants.operator, None) == []  # the operator's own organisation
    assert [row["model"] for row in _usage(billing, tenants.operator, "beta")] == ["alpha:iris"]
    everyone = _usage(billing, Principal.single_user(), None)  # accounts off: every record
    assert sorted(row["model"] for row in everyone) == ["alpha:iris", "langid"]


def test_invoices_and_revenue_are_read_by_their_organisation_and_the_operator(
    tenants: Tenants,
) -> None:
    billing = tenants.billing
    own = billing.statements.invoice(tenants.beta, "beta", MONTH)
    assert own == billing.statements.invoice(tenants.operator, "beta", MONTH)
    assert [line["publisher"] for line in own["lines"]] == ["alpha"]
    owed = {"model": "alpha:iris", "customer": "beta", "amount": "0.50"}
    assert billing.statements.revenue(tenants.alpha, "alpha", MONTH) == [owed]
    assert billing.statements.revenue(tenants.operator, "alpha", MONTH) == [owed]


def test_prices_show_only_models_the_caller_may_see() -> None:
    prices = [
        Price(model=model, unit="requests", amount=Decimal(1))
        for model in ("*", "alpha:iris", "beta:iris", "langid", "gone:model")
    ]
    owners = {"alpha:iris": "alpha", "beta:iris": "beta", "langid": CATALOGUE_OWNER}

    def shown(principal: Principal) -> list[str]:
        return [price.model for price in visible_prices(principal, prices, owners)]

    beta = Principal(2, "beta", 1, Role.VIEWER, False, None, frozenset())
    assert shown(beta) == ["*", "beta:iris", "langid"]
    published = Principal(2, "beta", 1, Role.VIEWER, False, None, frozenset({"alpha:iris"}))
    assert shown(published) == ["*", "alpha:iris", "beta:iris", "langid"]
    scoped = Principal(2, "beta", 1, Role.VIEWER, False, frozenset({"beta:iris"}), frozenset())
    assert shown(scoped) == ["*", "beta:iris"]
    assert shown(Principal.single_user()) == [price.model for price in prices]
