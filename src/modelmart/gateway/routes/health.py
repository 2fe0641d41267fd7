"""Liveness, readiness and Prometheus metrics.

The probes are public (load balancers and orchestrators call them without a key), so they
name nothing: each deployment's state is in ``GET /v1/deployments``, shown to whoever may see
that deployment. The metrics label series by deployment, so they are the operator's alone.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.responses import Response

from modelmart.gateway.auth import OperatorOnly, Public, Reader
from modelmart.gateway.responses import FastJSONResponse
from modelmart.gateway.services import Services, get_services

router = APIRouter(tags=["health"])
ServicesDep = Annotated[Services, Depends(get_services)]


def readiness(services: Services) -> bool:
    """Ready once no deployment is still loading; failed ones are not waited on."""
    return all(state != "loading" for state in services.deployments.states())


@router.get("/livez", dependencies=[Public])
@router.get("/healthz", dependencies=[Public])
async def live() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", dependencies=[Public])
async def ready(services: ServicesDep) -> Response:
    """200 ``{"status": "ready"}`` once every deployment has finished loading, 503
    ``{"status": "loading"}`` while any is still loading."""
    is_ready = readiness(services)
    body = {"status": "ready" if is_ready else "loading"}
    return FastJSONResponse(body, status_code=200 if is_ready else 503)


@router.get("/metrics")
async def metrics(principal: OperatorOnly, services: ServicesDep) -> Response:
    """Prometheus metrics of the whole server (the operator's key; none with accounts off)."""
    return Response(services.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/metrics")
async def deployment_metrics(principal: Reader, services: ServicesDep) -> Response:
    """The Prometheus series of the deployments you may see (batch sizes and latency, queue
    depth, ready instances), in the same text format: what the console charts. The operator
    sees every series, the server-wide request counts included."""
    visible = None if principal.is_operator else services.router.visible(principal)
    return Response(services.metrics.exposition(visible), media_type=CONTENT_TYPE_LATEST)
