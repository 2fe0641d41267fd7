from __future__ import annotations

import asyncio
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy.orm import Session, sessionmaker

from modelmart.accounts.service import AccountService
from modelmart.billing import limits as limits_module
from modelmart.billing.ledger import UsageEntry
from modelmart.billing.limits import RateLimits
from modelmart.billing.plans import Plan, PlanKind
from modelmart.billing.prices import Price
from modelmart.billing.service import Billing, OrgTerms
from modelmart.errors import QuotaExceeded, RateLimited
from modelmart.schemas.accounts import KeyCreate, OrganizationUpdate
from modelmart.schemas.roles import Role
from modelmart.tenancy import Principal
from tests.unit.accounts.tenants import caller, make_org


@pytest.fixture
def billing(sessions: sessionmaker[Session]) -> Billing:
    service = Billing(sessions)
    service.start()
    return service


def _principal(sessions: sessionmaker[Session], plan: str, budget: str | None = None) -> Principal:
    accounts = AccountService(sessions)
    owner = caller(make_org(accounts, "acme", plan))
    if budget is not None:
        accounts.update_organisation(owner, "acme", OrganizationUpdate(monthly_budget=budget))
    key = accounts.create_key(owner, "acme", KeyCreate(name="app"))
    return caller(accounts.organisation(owner, "acme"), key_id=key.id)


def _entry(principal: Principal, tokens: int) -> UsageEntry:
    return UsageEntry(
        "r", principal.org_id, principal.key_id, "chat", 1, {"requests": 1, "tokens": tokens}, 1.0
    )


async def test_a_spend_budget_stops_requests_once_reached(
    sessions: sessionmaker[Session], billing: Billing
) -> None:
    billing.put_price(Price(model="chat", unit="tokens", amount=Decimal("1.00"), per=1000), None)
    principal = _principal(sessions, "pay-as-you-go", budget="2.50")
    for _ in range(3):
        await billing.admit(principal)
        await billing.settle(principal, _entry(principal, 1000))
    with pytest.raises(QuotaExceeded, match=r"spend budget of 2\.50 USD is reached"):
        await billing.admit(principal)
    await billing.close()


async def test_the_default_free_plan_has_a_monthly_request_quota(
    sessions: sessionmaker[Session], billing: Billing
) -> None:
    billing.put_plan(Plan(name="free", kind=PlanKind.FREE, monthly_quota={"requests": Decimal(2)}))
    principal = _principal(sessions, "free")
    for _ in range(2):
        await billing.admit(principal)
        await billing.settle(principal, _entry(principal, 5))
    with pytest.raises(QuotaExceeded, match="monthly quota of 2 requests"):
        await billing.admit(principal)
    # A restarted server counts the month from the ledger, not from zero.
    restarted = Billing(sessions)
    restarted.start()
    with pytest.raises(QuotaExceeded):
        await restarted.admit(principal)
    await billing.close()
    await restarted.close()


async def test_unit_windows_refuse_once_spent() -> None:
    limits = RateLimits()
    await limits.check_units("org1", {"tokens": 100})
    await limits.charge_units("org1", {"tokens": 100}, {"tokens": 150})
    with pytest.raises(RateLimited, match="100 tokens per minute") as refused:
        await limits.check_units("org1", {"tokens": 100})
    assert 1 <= refused.value.retry_after_s <= 60
    assert Role.OWNER.may_grant(Role.VIEWER)


async def test_a_key_with_its_own_limit_is_stopped_before_its_organisation(
    sessions: sessionmaker[Session], billing: Billing
) -> None:
    accounts = AccountService(sessions)
    acme = make_org(accounts, "acme")
    slow = accounts.create_key(caller(acme), "acme", KeyCreate(name="slow", requests_per_minute=1))
    fast = accounts.create_key(caller(acme), "acme", KeyCreate(name="fast"))
    await billing.admit(caller(acme, key_id=slow.id))
    with pytest.raises(RateLimited, match="1 requests per minute reached for this API key"):
        await billing.admit(caller(acme, key_id=slow.id))
    await billing.admit(caller(acme, key_id=fast.id))
    await billing.close()


async def test_a_window_counts_from_its_first_request_for_a_minute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(limits_module, "time", SimpleNamespace(monotonic=lambda: now[0]))
    limits = RateLimits()
    await limits.admit("key", 7, 2)
    now[0] += 30
    await limits.admit("key", 7, 2)
    with pytest.raises(RateLimited, match="2 requests per minute") as refused:
        await limits.admit("key", 7, 2)
    assert refused.value.retry_after_s == 30
    await limits.admit("key", 8, 2)  # another key has a window of its own
    await limits.admit("key", 7, 3)  # as has a changed limit
    now[0] += 30  # the first window has closed
    await limits.admit("key", 7, 2)


async def test_requests_waiting_for_expired_terms_share_one_load(
    sessions: sessionmaker[Session], billing: Billing, monkeypatch: pytest.MonkeyPatch
) -> None:
    principal = _principal(sessions, "pay-as-you-go")
    loads: list[int] = []
    load = billing._load_terms

    def counted(org_id: int) -> OrgTerms:
        loads.append(org_id)
        return load(org_id)

    monkeypatch.setattr(billing, "_load_terms", counted)
    await asyncio.gather(*(billing.admit(principal) for _ in range(50)))
    billing.forget_terms(principal.org_id)  # an admin changed the plan: read it again
    await asyncio.gather(*(billing.admit(principal) for _ in range(50)))
    assert loads == [principal.org_id, principal.org_id]
    await billing.close()
