"""Organisations, members, API keys, publications and the audit log.

The operator organisation (made on first start) manages every organisation; an
organisation's owners and admins manage their own members and keys. With authentication off
(``auth_enabled=false``) there is no caller and every route is open.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict
from starlette.responses import Response

from modelmart.accounts.principal import Principal, current_principal
from modelmart.billing.money import parse_amount
from modelmart.errors import Forbidden, NotFound
from modelmart.gateway.services import Services, get_services
from modelmart.gateway.tenancy import owned_model
from modelmart.schemas.accounts import (
    AuditEntry,
    CreatedKey,
    KeyCreate,
    KeyView,
    MemberCreate,
    MemberView,
    OrganizationCreate,
    OrganizationUpdate,
    OrganizationView,
)
from modelmart.schemas.roles import Operation, Role

router = APIRouter(prefix="/v1", tags=["accounts"])
ServicesDep = Annotated[Services, Depends(get_services)]


def require_operator() -> None:
    principal = current_principal()
    if principal is not None and not principal.is_operator:
        raise Forbidden("only the platform operator's keys can do this")


def require_org(slug: str, operation: Operation) -> Principal | None:
    """The caller may act on organisation ``slug`` (its own, or any for the operator)."""
    principal = current_principal()
    if principal is None:
        return None
    principal.require(operation)
    if not principal.is_operator and principal.org_slug != slug:
        raise NotFound(f"no organisation {slug!r}; your key belongs to {principal.org_slug!r}")
    return principal


class WhoAmI(BaseModel):
    organisation: str | None
    role: Role | None
    key_id: int | None
    operator: bool
    auth_enabled: bool


@router.get("/me")
async def whoami(services: ServicesDep) -> WhoAmI:
    """The organisation and role of the key making this request."""
    principal = current_principal()
    return WhoAmI(
        organisation=principal.org_slug if principal else None,
        role=principal.role if principal else None,
        key_id=principal.key_id if principal else None,
        operator=principal.is_operator if principal else False,
        auth_enabled=services.settings.auth_enabled,
    )


class CreatedOrganization(OrganizationView):
    owner_key: CreatedKey | None = None


@router.post("/orgs", status_code=201)
async def create_org(body: OrganizationCreate, services: ServicesDep) -> CreatedOrganization:
    """Make a customer organisation (operator only). With ``owner_email`` its first member is
    added as owner and an owner key is returned, once."""
    require_operator()
    await asyncio.to_thread(services.billing.plan, body.plan)  # 404 for an unknown plan
    org = await asyncio.to_thread(services.accounts.create_organisation, body)
    key = None
    if body.owner_email:
        member = MemberCreate(email=body.owner_email, role=Role.OWNER)
        await asyncio.to_thread(services.accounts.add_member, org.slug, member)
        spec = KeyCreate(name=f"owner {body.owner_email}", role=Role.OWNER)
        key = await asyncio.to_thread(services.accounts.create_key, org.slug, spec)
    return CreatedOrganization(**org.model_dump(), owner_key=key)


@router.get("/orgs")
async def list_orgs(services: ServicesDep) -> dict[str, list[OrganizationView]]:
    orgs = await asyncio.to_thread(services.accounts.organisations)
    principal = current_principal()
    if principal is not None and not principal.is_operator:
        orgs = [org for org in orgs if org.slug == principal.org_slug]
    return {"organisations": orgs}


@router.get("/orgs/{slug}")
async def get_org(slug: str, services: ServicesDep) -> OrganizationView:
    require_org(slug, Operation.READ)
    return await asyncio.to_thread(services.accounts.organisation, slug)


@router.patch("/orgs/{slug}")
async def update_org(slug: str, body: OrganizationUpdate, services: ServicesDep) -> Any:
    """Budgets and data-sharing consent by the organisation's admins; plans by the operator."""
    require_org(slug, Operation.ADMIN)
    if body.plan is not None:
        require_operator()
        await asyncio.to_thread(services.billing.plan, body.plan)
    if body.monthly_budget:
        parse_amount(body.monthly_budget, "monthly_budget")
    org = await asyncio.to_thread(services.accounts.update_organisation, slug, body)
    services.billing.forget_terms(org.id)
    return org


@router.get("/orgs/{slug}/members")
async def list_members(slug: str, services: ServicesDep) -> dict[str, list[MemberView]]:
    require_org(slug, Operation.READ)
    return {"members": await asyncio.to_thread(services.accounts.members, slug)}


@router.post("/orgs/{slug}/members", status_code=201)
async def add_member(slug: str, body: MemberCreate, services: ServicesDep) -> MemberView:
    principal = require_org(slug, Operation.ADMIN)
    if principal is not None and not principal.role.may_grant(body.role):
        raise Forbidden(f"a {principal.role.value} cannot add a {body.role.value}")
    return await asyncio.to_thread(services.accounts.add_member, slug, body)


@router.delete("/orgs/{slug}/members/{member_id}", status_code=204)
async def remove_member(slug: str, member_id: int, services: ServicesDep) -> Response:
    require_org(slug, Operation.ADMIN)
    await asyncio.to_thread(services.accounts.remove_member, slug, member_id)
    return Response(status_code=204)


@router.get("/orgs/{slug}/keys")
async def list_keys(slug: str, services: ServicesDep) -> dict[str, list[KeyView]]:
    """Keys by prefix; secrets are never shown again after creation."""
    require_org(slug, Operation.ADMIN)
    return {"keys": await asyncio.to_thread(services.accounts.keys, slug)}


@router.post("/orgs/{slug}/keys", status_code=201)
async def create_key(slug: str, body: KeyCreate, services: ServicesDep) -> CreatedKey:
    """A new key; its secret is in the response and nowhere else, ever."""
    principal = require_org(slug, Operation.ADMIN)
    granted_by = principal.role if principal is not None else None
    created = await asyncio.to_thread(
        lambda: services.accounts.create_key(slug, body, granted_by=granted_by)
    )
    services.billing.forget_terms()
    return created


@router.post("/orgs/{slug}/keys/{key_id}:rotate", status_code=201)
async def rotate_key(slug: str, key_id: int, services: ServicesDep) -> CreatedKey:
    require_org(slug, Operation.ADMIN)
    created = await asyncio.to_thread(services.accounts.rotate_key, slug, key_id)
    services.billing.forget_terms()
    return created


@router.delete("/orgs/{slug}/keys/{key_id}")
async def revoke_key(slug: str, key_id: int, services: ServicesDep) -> KeyView:
    require_org(slug, Operation.ADMIN)
    return await asyncio.to_thread(services.accounts.revoke_key, slug, key_id)


class Publication(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str
    organisation: str


@router.post("/publications", status_code=201)
async def publish(body: Publication, services: ServicesDep) -> Publication:
    """Let another organisation see and call one of your models (billed at its prices)."""
    await asyncio.to_thread(owned_model, services.registry, body.model)
    await asyncio.to_thread(services.accounts.publish, body.model, body.organisation)
    return body


@router.delete("/publications/{model}/{organisation}", status_code=204)
async def unpublish(model: str, organisation: str, services: ServicesDep) -> Response:
    await asyncio.to_thread(owned_model, services.registry, model)
    await asyncio.to_thread(services.accounts.unpublish, model, organisation)
    return Response(status_code=204)


@router.get("/audit")
async def audit_log(
    services: ServicesDep,
    action: str | None = None,
    since: datetime | None = None,
    limit: Annotated[int, Query(gt=0, le=1000)] = 100,
) -> dict[str, list[AuditEntry]]:
    """Administrative actions, newest first: your organisation's (the operator sees all)."""
    principal = current_principal()
    org_id = None
    if principal is not None:
        principal.require(Operation.ADMIN)
        org_id = None if principal.is_operator else principal.org_id
    entries = await asyncio.to_thread(services.audit.entries, org_id, action, since, limit)
    return {"entries": entries}
