"""Organisations in a real accounts database, and the principals that call for them."""

from __future__ import annotations

from modelmart.accounts.service import AccountService
from modelmart.schemas.accounts import OrganizationCreate, OrganizationView
from modelmart.schemas.roles import Role
from modelmart.tenancy import OPERATOR_SLUG, Principal


def make_org(accounts: AccountService, slug: str, plan: str = "free") -> OrganizationView:
    operator = slug == OPERATOR_SLUG
    spec = OrganizationCreate(slug=slug, name=slug.title(), plan=plan)
    return accounts.create_organisation(spec, is_operator=operator)


def caller(
    org: OrganizationView,
    role: Role = Role.OWNER,
    *,
    key_id: int = 1,
    models: frozenset[str] | None = None,
    published: frozenset[str] = frozenset(),
) -> Principal:
    """A key of ``org`` with ``role``, as authentication would make it."""
    return Principal(
        org_id=org.id,
        org_slug=org.slug,
        key_id=key_id,
        role=role,
        is_operator=org.is_operator,
        models=models,
        published=published,
    )
