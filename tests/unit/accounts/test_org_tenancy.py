"""An organisation reaches only its own organisation, members, keys and audit entries; the
operator every one; another organisation's slug answers exactly as a missing one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from modelmart.accounts.audit import AuditLog
from modelmart.accounts.service import AccountService
from modelmart.errors import Forbidden, ModelMartError, NotFound
from modelmart.schemas.accounts import KeyCreate, MemberCreate, OrganizationUpdate
from modelmart.schemas.roles import Role
from modelmart.tenancy import OPERATOR_SLUG, Principal
from tests.unit.accounts.tenants import caller, make_org


@dataclass(frozen=True)
class Tenants:
    accounts: AccountService
    operator: Principal
    alpha: Principal
    beta: Principal


@pytest.fixture
def tenants(sessions: sessionmaker[Session]) -> Tenants:
    accounts = AccountService(sessions)
    operator, alpha, beta = (make_org(accounts, slug) for slug in (OPERATOR_SLUG, "alpha", "beta"))
    return Tenants(accounts, caller(operator), caller(alpha), caller(beta))


def _error(call: Callable[[], object]) -> dict[str, Any]:
    with pytest.raises(ModelMartError) as raised:
        call()
    return raised.value.to_dict()


Slugged = Callable[[AccountService, Principal, str], object]
SLUGGED: dict[str, Slugged] = {
    "organisation": lambda a, p, slug: a.organisation(p, slug),
    "update": lambda a, p, slug: a.update_organisation(
        p, slug, OrganizationUpdate(data_sharing_consent=True)
    ),
    "members": lambda a, p, slug: a.members(p, slug),
    "add member": lambda a, p, slug: a.add_member(p, slug, MemberCreate(email="m@x.example")),
    "remove member": lambda a, p, slug: a.remove_member(p, slug, 1),
    "keys": lambda a, p, slug: a.keys(p, slug),
    "create key": lambda a, p, slug: a.create_key(p, slug, KeyCreate(name="mole")),
    "revoke key": lambda a, p, slug: a.revoke_key(p, slug, 1),
    "rotate key": lambda a, p, slug: a.rotate_key(p, slug, 1),
}


@pytest.mark.parametrize("call", SLUGGED.values(), ids=SLUGGED.keys())
def test_a_foreign_organisation_answers_exactly_as_a_missing_one(
    tenants: Tenants, call: Slugged
) -> None:
    accounts = tenants.accounts
    # alpha holds a member and a key 1, so a foreign answer could only differ by the slug.
    accounts.add_member(tenants.alpha, "alpha", MemberCreate(email="dev@alpha.example"))
    accounts.create_key(tenants.alpha, "alpha", KeyCreate(name="app"))
    foreign = _error(lambda: call(accounts, tenants.beta, "alpha"))
    missing = _error(lambda: call(accounts, tenants.beta, "nowhere"))
    assert foreign["error"]["code"] == "not_found"
    assert str(foreign).replace("alpha", "nowhere") == str(missing)
    assert accounts.members(tenants.alpha, "alpha")[0].email == "dev@alpha.example"
    assert [key.name for key in accounts.keys(tenants.alpha, "alpha")] == ["app"]


def test_the_operator_reaches_every_organisation(tenants: Tenants) -> None:
    accounts, operator = tenants.accounts, tenants.operator
    made = accounts.create_key(operator, "alpha", KeyCreate(name="support", role=Role.VIEWER))
    assert [key.id for key in accounts.keys(operator, "alpha")] == [made.id]
    assert accounts.organisation(operator, "beta").slug == "beta"
    everyone = [org.slug for org in accounts.organisations(operator)]
    assert everyone == ["alpha", "beta", OPERATOR_SLUG]
    single_user = Principal.single_user()
    assert [org.slug for org in accounts.organisations(single_user)] == everyone


def test_an_organisation_lists_only_itself(tenants: Tenants) -> None:
    assert [org.slug for org in tenants.accounts.organisations(tenants.beta)] == ["beta"]


def test_a_key_of_another_organisation_is_not_found_in_ones_own(tenants: Tenants) -> None:
    accounts = tenants.accounts
    alphas = accounts.create_key(tenants.alpha, "alpha", KeyCreate(name="app"))
    with pytest.raises(NotFound, match=f"beta has no key {alphas.id}"):
        accounts.revoke_key(tenants.beta, "beta", alphas.id)
    assert accounts.keys(tenants.alpha, "alpha")[0].revoked_at is None


def test_only_the_operator_changes_a_plan(tenants: Tenants) -> None:
    accounts = tenants.accounts
    with pytest.raises(Forbidden, match="only the platform's operator"):
        accounts.update_organisation(tenants.alpha, "alpha", OrganizationUpdate(plan="pro"))
    budget = accounts.update_organisation(
        tenants.alpha, "alpha", OrganizationUpdate(monthly_budget="10")
    )
    assert (budget.plan, budget.monthly_budget) == ("free", "10")
    moved = accounts.update_organisation(tenants.operator, "alpha", OrganizationUpdate(plan="pro"))
    assert moved.plan == "pro"


def test_members_and_rotated_keys_get_no_more_than_the_caller_has(tenants: Tenants) -> None:
    accounts = tenants.accounts
    admin = caller(accounts.organisation(tenants.alpha, "alpha"), Role.ADMIN)
    viewer = caller(accounts.organisation(tenants.alpha, "alpha"), Role.VIEWER)
    added = accounts.add_member(admin, "alpha", MemberCreate(email="o@a.example", role=Role.OWNER))
    assert added.role is Role.OWNER
    with pytest.raises(Forbidden, match="viewer key cannot add a member as admin"):
        accounts.add_member(viewer, "alpha", MemberCreate(email="x@a.example", role=Role.ADMIN))
    owner_key = accounts.create_key(tenants.alpha, "alpha", KeyCreate(name="o", role=Role.OWNER))
    with pytest.raises(Forbidden, match="cannot create a owner key"):
        accounts.rotate_key(viewer, "alpha", owner_key.id)
    # The refused rotation left the old key working.
    assert accounts.keys(tenants.alpha, "alpha")[0].revoked_at is None


def test_the_audit_log_shows_an_organisation_its_own_entries(
    sessions: sessionmaker[Session], tenants: Tenants
) -> None:
    audit = AuditLog(sessions)
    audit.record(tenants.alpha, "POST /v1/orgs/{slug}/keys", "/v1/orgs/alpha/keys", "10.0.0.1")
    audit.record(tenants.beta, "POST /v1/orgs/{slug}/keys", "/v1/orgs/beta/keys", "10.0.0.2")
    audit.record(Principal.single_user(), "POST /v1/deployments", "/v1/deployments", "")
    assert [entry.target for entry in audit.entries(tenants.beta)] == ["/v1/orgs/beta/keys"]
    assert [entry.target for entry in audit.entries(tenants.operator)] == [
        "/v1/deployments",
        "/v1/orgs/beta/keys",
        "/v1/orgs/alpha/keys",
    ]
    unowned = audit.entries(tenants.operator, action="POST /v1/deployments")[0]
    assert (unowned.org_id, unowned.key_id) == (None, None)
