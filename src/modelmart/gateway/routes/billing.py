"""Plans, prices, usage, invoices and publisher revenue."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from modelmart.accounts.principal import current_principal
from modelmart.billing.invoices import Period, invoice_csv, invoice_html
from modelmart.billing.plans import Plan
from modelmart.billing.prices import ANY_MODEL, Price
from modelmart.errors import ValidationFailed
from modelmart.gateway.responses import FastJSONResponse
from modelmart.gateway.routes.accounts import require_operator, require_org
from modelmart.gateway.services import Services, get_services
from modelmart.gateway.tenancy import owned_model
from modelmart.schemas.roles import Operation

router = APIRouter(prefix="/v1", tags=["billing"])
ServicesDep = Annotated[Services, Depends(get_services)]


@router.get("/plans")
async def list_plans(services: ServicesDep) -> dict[str, list[Plan]]:
    return {"plans": await asyncio.to_thread(services.billing.plans)}


@router.put("/plans/{name}")
async def put_plan(name: str, body: Plan, services: ServicesDep) -> Plan:
    """Create or change a plan (operator only); organisations on it see the change at once."""
    require_operator()
    if body.name != name:
        raise ValidationFailed(f"the body names plan {body.name!r} but the path {name!r}")
    return await asyncio.to_thread(services.billing.put_plan, body)


@router.get("/prices")
async def list_prices(services: ServicesDep) -> dict[str, list[Price]]:
    return {"prices": services.billing.prices()}


@router.put("/prices")
async def put_price(body: Price, services: ServicesDep) -> Price:
    """Set a price: the operator for any model (``*`` for all); a model's owner for its own
    model, which makes that organisation its publisher (it earns what customers pay)."""
    principal = current_principal()
    publisher_id = None
    if principal is not None and not principal.is_operator:
        principal.require(Operation.ADMIN)
        if body.model == ANY_MODEL:
            raise ValidationFailed("only the operator sets prices for every model ('*')")
        await asyncio.to_thread(owned_model, services.registry, body.model)
        publisher_id = principal.org_id
        body = body.model_copy(update={"publisher": principal.org_slug})
    return await asyncio.to_thread(services.billing.put_price, body, publisher_id)


@router.delete("/prices/{model}/{unit}", status_code=204)
async def delete_price(model: str, unit: str, services: ServicesDep) -> Response:
    require_operator()
    await asyncio.to_thread(services.billing.delete_price, model, unit)
    return Response(status_code=204)


@router.get("/usage")
async def usage(
    services: ServicesDep,
    organisation: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    group_by: Literal["day", "model", "key"] = "day",
) -> dict[str, Any]:
    """Units used, summed by day, model or key; ``start``/``end`` default to this month."""
    principal = current_principal()
    org_id: int | None = None
    if organisation is not None:
        require_org(organisation, Operation.READ)
        org_id = (await asyncio.to_thread(services.accounts.organisation, organisation)).id
    elif principal is not None:
        principal.require(Operation.READ)
        org_id = principal.org_id
    period = Period.of(datetime.now(UTC))
    start = start or period.start
    end = end or period.end
    if start.tzinfo is None or end.tzinfo is None:
        raise ValidationFailed("start and end need a time zone, e.g. 2026-11-01T00:00:00Z")
    if end - start > timedelta(days=366):
        raise ValidationFailed("ask for at most a year of usage at a time")
    rows = await asyncio.to_thread(services.billing.usage, org_id, start, end, group_by)
    return {"start": start, "end": end, "group_by": group_by, "usage": rows}


@router.get("/orgs/{slug}/invoices/{period}")
async def get_invoice(
    slug: str,
    period: str,
    services: ServicesDep,
    format: Annotated[Literal["json", "csv", "html"], Query()] = "json",
) -> Response:
    """The month's invoice: final once the operator closed it, else a running draft."""
    require_org(slug, Operation.READ)
    document = await asyncio.to_thread(services.billing.invoice, slug, Period.parse(period))
    return _render(document, format)


@router.post("/orgs/{slug}/invoices/{period}:finalize")
async def finalize_invoice(slug: str, period: str, services: ServicesDep) -> Response:
    """Freeze a finished month's invoice (operator only); it never changes afterwards."""
    require_operator()
    document = await asyncio.to_thread(services.billing.finalize, slug, Period.parse(period))
    return _render(document, "json")


@router.get("/revenue")
async def revenue(
    services: ServicesDep, period: str | None = None, organisation: str | None = None
) -> dict[str, Any]:
    """What customers owe a publisher for its models in a month, per model and customer."""
    principal = current_principal()
    publisher = organisation or (principal.org_slug if principal else None)
    if publisher is None:
        raise ValidationFailed("name the publishing organisation with ?organisation=")
    require_org(publisher, Operation.READ)
    month = Period.parse(period) if period else Period.of(datetime.now(UTC))
    rows = await asyncio.to_thread(services.billing.revenue, publisher, month)
    return {"publisher": publisher, "period": str(month), "revenue": rows}


def _render(document: dict[str, Any], format: str) -> Response:
    if format == "csv":
        return Response(invoice_csv(document), media_type="text/csv")
    if format == "html":
        return Response(invoice_html(document), media_type="text/html")
    return FastJSONResponse(document)


@router.get("/retained/{model}")
async def retained_inputs(
    model: str, services: ServicesDep, limit: Annotated[int, Query(gt=0, le=100_000)] = 1000
) -> Response:
    """Inputs data-sharing customers sent to your model, personal data removed, as JSON lines
    (``{"texts": [...]}`` per request): material to label and train the next version on."""
    await asyncio.to_thread(owned_model, services.registry, model)
    rows = await asyncio.to_thread(services.billing.retention.exported, model, limit)
    lines = b"".join(orjson.dumps({"texts": texts}) + b"\n" for texts in rows)
    return Response(lines, media_type="application/x-ndjson")
