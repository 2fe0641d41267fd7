"""PII policies stored on organisations and keys: the principal a key authenticates as
carries the stricter of the two, a change of the organisation's takes effect at once, and an
unknown policy is refused."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from modelmart.accounts.service import AccountService
from modelmart.errors import InvalidPiiPolicy
from modelmart.schemas.accounts import KeyCreate, OrganizationCreate, OrganizationUpdate
from modelmart.schemas.pii import PiiPolicy
from modelmart.schemas.roles import Role
from modelmart.tenancy import Principal

OPERATOR = Principal.single_user()


@pytest.fixture
def accounts(sessions: sessionmaker[Session]) -> AccountService:
    service = AccountService(sessions)
    service.create_organisation(OrganizationCreate(slug="acme", name="Acme"))
    return service


def _key(accounts: AccountService, policy: str | None) -> str:
    spec = KeyCreate(name="app", role=Role.DEVELOPER, pii_policy=policy)
    return accounts.create_key(OPERATOR, "acme", spec).key


def _set_org(accounts: AccountService, policy: str) -> None:
    accounts.update_organisation(OPERATOR, "acme", OrganizationUpdate(pii_policy=policy))


async def test_a_key_carries_its_own_policy(accounts: AccountService) -> None:
    principal = await accounts.authenticate(_key(accounts, "redact-input"))
    assert principal.pii_policy is PiiPolicy.REDACT_INPUT
    assert (await accounts.authenticate(_key(accounts, None))).pii_policy is PiiPolicy.OFF


async def test_an_organisations_stricter_policy_wins_over_its_keys(
    accounts: AccountService,
) -> None:
    detecting = _key(accounts, "detect")
    redacting = _key(accounts, "redact-input")
    await accounts.authenticate(detecting)  # cached before the change
    _set_org(accounts, "redact-output")
    assert (await accounts.authenticate(detecting)).pii_policy is PiiPolicy.REDACT_OUTPUT
    assert (await accounts.authenticate(redacting)).pii_policy is PiiPolicy.REDACT_INPUT
    assert [key.pii_policy for key in accounts.keys(OPERATOR, "acme")] == [
        "detect",
        "redact-input",
    ]
    assert accounts.organisation(OPERATOR, "acme").pii_policy == "redact-output"


async def test_a_rotated_key_keeps_its_policy(accounts: AccountService) -> None:
    _key(accounts, "detect")
    (key,) = accounts.keys(OPERATOR, "acme")
    rotated = accounts.rotate_key(OPERATOR, "acme", key.id)
    assert rotated.pii_policy == "detect"
    assert (await accounts.authenticate(rotated.key)).pii_policy is PiiPolicy.DETECT


def test_an_unknown_policy_is_refused_and_nothing_is_stored(accounts: AccountService) -> None:
    with pytest.raises(InvalidPiiPolicy):
        _key(accounts, "redact")
    with pytest.raises(InvalidPiiPolicy):
        _set_org(accounts, "everything")
    assert accounts.keys(OPERATOR, "acme") == []
    assert accounts.organisation(OPERATOR, "acme").pii_policy is None
