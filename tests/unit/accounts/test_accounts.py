"""Organisations, keys and roles (authentication itself: test_authentication.py)."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from modelmart.accounts.service import AccountService
from modelmart.errors import AlreadyExists, Forbidden
from modelmart.schemas.accounts import KeyCreate, OrganizationCreate
from modelmart.schemas.roles import Operation, Role
from modelmart.tenancy import Principal
from tests.unit.accounts.tenants import caller, make_org


@pytest.fixture
def accounts(sessions: sessionmaker[Session]) -> AccountService:
    service = AccountService(sessions)
    make_org(service, "acme")
    return service


@pytest.fixture
def owner(accounts: AccountService) -> Principal:
    return caller(accounts.organisation(Principal.single_user(), "acme"))


def test_a_key_cannot_grant_more_than_it_has(accounts: AccountService, owner: Principal) -> None:
    developer = caller(accounts.organisation(owner, "acme"), Role.DEVELOPER)
    with pytest.raises(Forbidden, match="cannot create a owner key"):
        accounts.create_key(developer, "acme", KeyCreate(name="x", role=Role.OWNER))
    assert accounts.keys(owner, "acme") == []


def test_organisation_slugs_are_unique(accounts: AccountService) -> None:
    with pytest.raises(AlreadyExists):
        accounts.create_organisation(OrganizationCreate(slug="acme", name="Again"))


def test_roles_and_scopes() -> None:
    viewer = Principal(1, "acme", 1, Role.VIEWER, False, frozenset({"acme:iris"}), frozenset())
    viewer.require(Operation.READ)
    with pytest.raises(Forbidden, match="viewer role"):
        viewer.require(Operation.DEPLOY)
    assert viewer.can_see_model("acme:iris", "acme")
    assert not viewer.can_see_model("acme:other", "acme")  # the key is scoped to acme:iris
    assert not Role.INFERENCE.allows(Operation.READ)
