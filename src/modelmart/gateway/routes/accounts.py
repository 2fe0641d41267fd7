"""Organisations, members, API keys, publications and the audit log.

The operator organisation (made on first start) manages every organisation; an
organisation's owners and admins manage their own members and keys. Another organisation's
slug in a path answers exactly as one that does not exist. With accounts off the caller is
:meth:`~modelmart.tenancy.Principal.single_user`, which may do everything.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from modelmart.billing.money import parse_amount
from modelmart.errors import Forbidden
from modelmart.gateway.auth import Admin, Authenticated, Reader
from modelmart.gateway.params import RowId
from modelmart.gateway.services import Services, get_services
from modelmart.schemas.accounts import (
    AuditEntry,
    CreatedKey,
    KeyCreate,
    KeyUpdate,
    KeyView,
    MemberCreate,
    MemberView,
    OrganizationCreate,
    OrganizationUpdate,
    OrganizationView,
)
from modelmart.schemas.roles import Role
from modelmart.tenancy import Principal

router = APIRouter(prefix="/v1", tags=["accounts"])
ServicesDep = Annotated[Services, Depends(get_services)]


def require_operator(principal: Principal) -> None:
    """For changes only the platform's operator makes (plans, organisations, invoices)."""
    if not principal.is_operator:
        raise Forbidden("only the platform operator's keys can do this; ask the operator")


class WhoAmI(BaseModel):
    organisation: str | None
    role: Role | None
    key_id: int | None
    operator: bool
    auth_enabled: bool


@router.get("/me")
async def whoami(principal: Authenticated, services: ServicesDep) -> WhoAmI:
    """The organisation and role of the key making this request (none with accounts off)."""
    keyed = principal.accounts
    return WhoAmI(
        organisation=principal.org_slug if keyed else None,
        role=principal.role if keyed else None,
        key_id=principal.key_id if keyed else None,
        operator=principal.is_operator,
        auth_enabled=services.settings.auth_enabled,
    )


class CreatedOrganization(OrganizationView):
    owner_key: CreatedKey | None = None


@router.post("/orgs", status_code=201)
async def create_org(
    principal: Admin, body: OrganizationCreate, services: ServicesDep
) -> CreatedOrganization:
    """Make a customer organisation (operator only). With ``owner_email`` its first member is
    added as owner and an owner key is returned, once."""
    require_operator(principal)
    await asyncio.to_thread(services.billing.plan, body.plan)  # 404 for an unknown plan
    org = await asyncio.to_thread(services.accounts.create_organisation, body)
    key = None
    if body.owner_email:
        member = MemberCreate(email=body.owner_email, role=Role.OWNER)
        await asyncio.to_thread(services.accounts.add_member, principal, org.slug, member)
        spec = KeyCreate(name=f"owner {body.owner_email}", role=Role.OWNER)
        key = await asyncio.to_thread(services.accounts.create_key, principal, org.slug, spec)
    return CreatedOrganization(**org.model_dump(), owner_key=key)


@router.get("/orgs")
async def list_orgs(principal: Reader, services: ServicesDep) -> dict[str, list[OrganizationView]]:
    """Your organisation (the operator: every one)."""
    return {"organisations": await asyncio.to_thread(services.accounts.organisations, principal)}


@router.get("/orgs/{slug}")
async def get_org(principal: Reader, slug: str, services: ServicesDep) -> OrganizationView:
    return await asyncio.to_thread(services.accounts.organisation, principal, slug)


@router.patch("/orgs/{slug}")
async def update_org(
    principal: Admin, slug: str, body: OrganizationUpdate, services: ServicesDep
) -> OrganizationView:
    """Budgets and data-sharing consent by the organisation's admins; plans by the operator."""
    if body.plan is not None and principal.is_operator:
        await asyncio.to_thread(services.billing.plan, body.plan)  # 404 for an unknown plan
    if body.monthly_budget:
        parse_amount(body.monthly_budget, "monthly_budget")
    org = await asyncio.to_thread(services.accounts.update_organisation, principal, slug, body)
    services.billing.forget_terms(org.id)
    return org


@router.get("/orgs/{slug}/members")
async def list_members(
    principal: Reader, slug: str, services: ServicesDep
) -> dict[str, list[MemberView]]:
    return {"members": await asyncio.to_thread(services.accounts.members, principal, slug)}


@router.post("/orgs/{slug}/members", status_code=201)
async def add_member(
    principal: Admin, slug: str, body: MemberCreate, services: ServicesDep
) -> MemberView:
    return await asyncio.to_thread(services.accounts.add_member, principal, slug, body)


@router.delete("/orgs/{slug}/members/{member_id}", status_code=204)
async def remove_member(
    principal: Admin, slug: str, member_id: RowId, services: ServicesDep
) -> Response:
    await asyncio.to_thread(services.accounts.remove_member, principal, slug, member_id)
    return Response(status_code=204)


@router.get("/orgs/{slug}/keys")
async def list_keys(principal: Admin, slug: str, services: ServicesDep) -> dict[str, list[KeyView]]:
    """Keys by prefix; secrets are never shown again after creation."""
    return {"keys": await asyncio.to_thread(services.accounts.keys, principal, slug)}


@router.post("/orgs/{slug}/keys", status_code=201)
async def create_key(
    principal: Admin, slug: str, body: KeyCreate, services: ServicesDep
) -> CreatedKey:
    """A new key; its secret is in the response and nowhere else, ever. ``models`` name models
    as you would in a request; the key stores (and lists) their full names."""
    if body.models is not None:
        body = body.model_copy(update={"models": await _scope(services, principal, body.models)})
    created = await asyncio.to_thread(services.accounts.create_key, principal, slug, body)
    services.billing.forget_terms()
    return created


async def _scope(services: Services, principal: Principal, refs: list[str]) -> list[str]:
    """The stored names of the models a new key is limited to: ones the caller may see."""

    def resolve() -> list[str]:
        return [services.registry.find_model(principal, ref).name for ref in refs]

    return await asyncio.to_thread(resolve)


@router.patch("/orgs/{slug}/keys/{key_id}")
async def update_key(
    principal: Admin, slug: str, key_id: RowId, body: KeyUpdate, services: ServicesDep
) -> KeyView:
    """Change a key's own rate limit or PII policy; its secret, role and models stay."""
    updated = await asyncio.to_thread(services.accounts.update_key, principal, slug, key_id, body)
    services.billing.forget_terms()
    return updated


@router.post("/orgs/{slug}/keys/{key_id}:rotate", status_code=201)
async def rotate_key(
    principal: Admin, slug: str, key_id: RowId, services: ServicesDep
) -> CreatedKey:
    created = await asyncio.to_thread(services.accounts.rotate_key, principal, slug, key_id)
    services.billing.forget_terms()
    return created


@router.delete("/orgs/{slug}/keys/{key_id}")
async def revoke_key(principal: Admin, slug: str, key_id: RowId, services: ServicesDep) -> KeyView:
    return await asyncio.to_thread(services.accounts.revoke_key, principal, slug, key_id)


class Publication(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    organisation: str


@router.post("/publications", status_code=201)
async def publish(principal: Admin, body: Publication, services: ServicesDep) -> Publication:
    """Let another organisation see and call one of your models (billed at its prices); it
    reaches the model by the full name this answers with."""
    model = await asyncio.to_thread(services.registry.managed_model, principal, body.model)
    await asyncio.to_thread(services.accounts.publish, model.name, body.organisation)
    return Publication(model=model.name, organisation=body.organisation)


@router.delete("/publications/{model}/{organisation}", status_code=204)
async def unpublish(
    principal: Admin, model: str, organisation: str, services: ServicesDep
) -> Response:
    managed = await asyncio.to_thread(services.registry.managed_model, principal, model)
    await asyncio.to_thread(services.accounts.unpublish, managed.name, organisation)
    return Response(status_code=204)


@router.get("/audit")
async def audit_log(
    principal: Admin,
    services: ServicesDep,
    action: str | None = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(gt=0, le=1000)] = 100,
) -> dict[str, list[AuditEntry]]:
    """Administrative actions, newest first: your organisation's (the operator sees all)."""
    entries = await asyncio.to_thread(
        lambda: services.audit.entries(principal, action=action, since=since, limit=limit)
    )
    return {"entries": entries}
