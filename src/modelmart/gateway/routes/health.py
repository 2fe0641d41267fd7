"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import Response

from modelmart.gateway.responses import FastJSONResponse
from modelmart.gateway.services import Services, get_services
from modelmart.schemas.deployments import DeploymentState

router = APIRouter(tags=["health"])
ServicesDep = Annotated[Services, Depends(get_services)]


def readiness(services: Services) -> tuple[bool, dict[str, DeploymentState]]:
    """Ready once no deployment is still loading; failed ones are reported, not waited on."""
    states = {view.name: view.state for view in services.deployments.list()}
    return all(state != "loading" for state in states.values()), states


@router.get("/healthz")
async def live() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def ready(services: ServicesDep) -> Response:
    """200 when every deployment has finished loading, 503 while any is still loading."""
    is_ready, states = readiness(services)
    body = {"status": "ready" if is_ready else "loading", "deployments": states}
    return FastJSONResponse(body, status_code=200 if is_ready else 503)


@router.get("/metrics")
async def metrics(services: ServicesDep) -> Response:
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
