from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from modelmart.accounts.keys import generate_key, split_key
from modelmart.accounts.principal import Principal
from modelmart.accounts.service import AccountService
from modelmart.errors import AlreadyExists, Forbidden, Unauthenticated
from modelmart.gateway.access import _credentials, operation_for
from modelmart.schemas.accounts import KeyCreate, OrganizationCreate
from modelmart.schemas.roles import Operation, Role


@pytest.fixture
def accounts(sessions: sessionmaker[Session]) -> AccountService:
    service = AccountService(sessions)
    service.create_organisation(OrganizationCreate(slug="acme", name="Acme"))
    return service


def test_a_key_authenticates_as_its_organisation_and_role(accounts: AccountService) -> None:
    created = accounts.create_key("acme", KeyCreate(name="app", role=Role.DEVELOPER))
    principal = accounts.authenticate(created.key)
    assert (principal.org_slug, principal.role) == ("acme", Role.DEVELOPER)
    prefix, _ = split_key(created.key)
    assert [key.prefix for key in accounts.keys("acme")] == [prefix]


def test_wrong_revoked_and_malformed_keys_are_refused(accounts: AccountService) -> None:
    created = accounts.create_key("acme", KeyCreate(name="app"))
    prefix, _ = split_key(created.key)
    with pytest.raises(Unauthenticated, match="not valid"):
        accounts.authenticate(f"mm_{prefix}_wrong-secret")
    with pytest.raises(Unauthenticated, match="not known"):
        accounts.authenticate(generate_key().raw)
    with pytest.raises(Unauthenticated, match="malformed"):
        accounts.authenticate("sk-something-else")
    accounts.revoke_key("acme", created.id)
    with pytest.raises(Unauthenticated, match="revoked"):
        accounts.authenticate(created.key)


def test_a_key_cannot_grant_more_than_it_has(accounts: AccountService) -> None:
    with pytest.raises(Forbidden, match="cannot create a owner key"):
        accounts.create_key("acme", KeyCreate(name="x", role=Role.OWNER), granted_by=Role.DEVELOPER)


def test_organisation_slugs_are_unique(accounts: AccountService) -> None:
    with pytest.raises(AlreadyExists):
        accounts.create_organisation(OrganizationCreate(slug="acme", name="Again"))


def test_roles_and_scopes() -> None:
    viewer = Principal(1, "acme", 1, Role.VIEWER, False, frozenset({"iris"}), frozenset())
    viewer.require(Operation.READ)
    with pytest.raises(Forbidden, match="viewer role"):
        viewer.require(Operation.DEPLOY)
    assert viewer.can_see_model("iris", "acme")
    assert not viewer.can_see_model("other", "acme")  # the key is scoped to iris
    assert not Role.INFERENCE.allows(Operation.READ)


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [
        ("POST", "/v1/models/iris:predict", Operation.INFERENCE),
        ("POST", "/v2/models/iris/infer", Operation.INFERENCE),
        ("POST", "/v1/chat/completions", Operation.INFERENCE),
        ("POST", "/v1/tasks/sentiment", Operation.INFERENCE),
        ("GET", "/v1/deployments", Operation.READ),
        ("POST", "/v1/deployments", Operation.DEPLOY),
        ("DELETE", "/v1/registry/models/iris/aliases/prod", Operation.DEPLOY),
        ("POST", "/v1/orgs/acme/keys", Operation.ADMIN),
        ("PUT", "/v1/prices", Operation.ADMIN),
    ],
)
def test_operation_for_classifies_routes(method: str, path: str, operation: Operation) -> None:
    assert operation_for(method, path) is operation


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(b"authorization", b"Bearer mm_k"), (b"idempotency-key", b"i1")], ("mm_k", "i1")),
        ([(b"x-api-key", b"mm_x")], ("mm_x", None)),
        ([(b"x-api-key", b"mm_x"), (b"authorization", b"bearer  mm_k ")], ("mm_k", None)),
        ([(b"authorization", b"Basic abc"), (b"x-api-key", b"mm_x")], (None, None)),
        ([(b"idempotency-key", b"first"), (b"idempotency-key", b"second")], (None, "first")),
        ([], (None, None)),
    ],
)
def test_credentials_are_read_in_one_pass_over_the_headers(
    headers: list[tuple[bytes, bytes]], expected: tuple[str | None, str | None]
) -> None:
    assert _credentials({"headers": headers}) == expected
