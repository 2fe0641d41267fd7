"""Plans, prices, usage, invoices, publisher revenue and retained inputs.

Usage, invoices and revenue are their organisation's alone (the operator reads every one's);
prices are shown for the models the caller may see. Models are named as in any request and
stored, and shown, by their full names (``org:name`` for an organisation's).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query
from starlette.responses import Response

from modelmart.billing.invoices import Period, invoice_csv, invoice_html
from modelmart.billing.plans import Plan
from modelmart.billing.prices import ANY_MODEL, Price, visible_prices
from modelmart.errors import ValidationFailed
from modelmart.gateway.auth import Admin, Reader
from modelmart.gateway.responses import FastJSONResponse
from modelmart.gateway.routes.accounts import require_operator
from modelmart.gateway.services import Services, get_services

router = APIRouter(prefix="/v1", tags=["billing"])
ServicesDep = Annotated[Services, Depends(get_services)]


@router.get("/plans")
async def list_plans(principal: Reader, services: ServicesDep) -> dict[str, list[Plan]]:
    return {"plans": await asyncio.to_thread(services.billing.plans)}


@router.put("/plans/{name}")
async def put_plan(principal: Admin, name: str, body: Plan, services: ServicesDep) -> Plan:
    """Create or change a plan (operator only); organisations on it see the change at once."""
    require_operator(principal)
    if body.name != name:
        raise ValidationFailed(f"the body names plan {body.name!r} but the path {name!r}")
    return await asyncio.to_thread(services.billing.put_plan, body)


@router.get("/prices")
async def list_prices(principal: Reader, services: ServicesDep) -> dict[str, list[Price]]:
    """The prices of the models you may use, and the ``*`` prices of every other model."""

    def visible() -> list[Price]:
        owners = {model.name: model.owner for model in services.registry.list_models()}
        return visible_prices(principal, services.billing.prices(), owners)

    return {"prices": await asyncio.to_thread(visible)}


@router.put("/prices")
async def put_price(principal: Admin, body: Price, services: ServicesDep) -> Price:
    """Set a price: the operator for any model (``*`` for all); a model's owner for its own
    model, which makes that organisation its publisher (it earns what customers pay)."""
    if body.model == ANY_MODEL:
        require_operator(principal)
        return await asyncio.to_thread(services.billing.put_price, body, None)
    model = await asyncio.to_thread(services.registry.managed_model, principal, body.model)
    body = body.model_copy(update={"model": model.name})
    if principal.is_operator:
        return await asyncio.to_thread(services.billing.put_price, body, None)
    body = body.model_copy(update={"publisher": principal.org_slug})
    return await asyncio.to_thread(services.billing.put_price, body, principal.org_id)


@router.delete("/prices/{model}/{unit}", status_code=204)
async def delete_price(principal: Admin, model: str, unit: str, services: ServicesDep) -> Response:
    """Remove a price (operator only); ``model`` is the full name ``GET /v1/prices`` shows."""
    require_operator(principal)
    await asyncio.to_thread(services.billing.delete_price, model, unit)
    return Response(status_code=204)


@router.get("/usage")
async def usage(
    principal: Reader,
    services: ServicesDep,
    organisation: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    group_by: Literal["day", "model", "key"] = "day",
) -> dict[str, Any]:
    """Units used, summed by day (UTC), model or key; ``start``/``end`` default to this month
    and may be any instants (whole hours are read from the hourly rollups, a partial first or
    last hour from the usage records: exact either way). Quantities are exact decimal strings
    (``"706245"``, ``"0.5"``). Your organisation's (the operator may name any with
    ``organisation``)."""
    period = Period.of(datetime.now(UTC))
    start = start or period.start
    end = end or period.end
    if start.tzinfo is None or end.tzinfo is None:
        raise ValidationFailed("start and end need a time zone, e.g. 2026-11-01T00:00:00Z")
    if end - start > timedelta(days=366):
        raise ValidationFailed("ask for at most a year of usage at a time")
    rows = await asyncio.to_thread(
        lambda: services.billing.statements.usage(
            principal, organisation, start=start, end=end, group_by=group_by
        )
    )
    return {"start": start, "end": end, "group_by": group_by, "usage": rows}


@router.get("/orgs/{slug}/invoices/{period}")
async def get_invoice(
    principal: Reader,
    slug: str,
    period: str,
    services: ServicesDep,
    format: Annotated[Literal["json", "csv", "html"], Query()] = "json",
) -> Response:
    """The month's invoice: final once the operator closed it, else a running draft."""
    month = Period.parse(period)
    document = await asyncio.to_thread(services.billing.statements.invoice, principal, slug, month)
    return _render(document, format)


@router.post("/orgs/{slug}/invoices/{period}:finalize")
async def finalize_invoice(
    principal: Admin, slug: str, period: str, services: ServicesDep
) -> Response:
    """Freeze a finished month's invoice (operator only); it never changes afterwards."""
    require_operator(principal)
    month = Period.parse(period)
    document = await asyncio.to_thread(services.billing.statements.finalize, principal, slug, month)
    return _render(document, "json")


@router.get("/revenue")
async def revenue(
    principal: Reader,
    services: ServicesDep,
    period: str | None = None,
    organisation: str | None = None,
) -> dict[str, Any]:
    """What customers owe a publisher for its models in a month, per model and customer:
    your organisation's (the operator may name any with ``organisation``)."""
    publisher = organisation or (principal.org_slug if principal.accounts else None)
    if publisher is None:
        raise ValidationFailed("name the publishing organisation with ?organisation=")
    month = Period.parse(period) if period else Period.of(datetime.now(UTC))
    rows = await asyncio.to_thread(services.billing.statements.revenue, principal, publisher, month)
    return {"publisher": publisher, "period": str(month), "revenue": rows}


def _render(document: dict[str, Any], format: str) -> Response:
    if format == "csv":
        return Response(invoice_csv(document), media_type="text/csv")
    if format == "html":
        return Response(invoice_html(document), media_type="text/html")
    return FastJSONResponse(document)


@router.get("/retained/{model}")
async def retained_inputs(
    principal: Reader,
    model: str,
    services: ServicesDep,
    limit: Annotated[int, Query(gt=0, le=100_000)] = 1000,
) -> Response:
    """Inputs data-sharing customers sent to your model, personal data removed, as JSON lines
    (``{"texts": [...]}`` per request): material to label and train the next version on."""
    managed = await asyncio.to_thread(services.registry.managed_model, principal, model)
    rows = await asyncio.to_thread(services.billing.retention.exported, managed.name, limit)
    lines = b"".join(orjson.dumps({"texts": texts}) + b"\n" for texts in rows)
    return Response(lines, media_type="application/x-ndjson")
