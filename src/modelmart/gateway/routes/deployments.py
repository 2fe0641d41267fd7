"""Deployments: ``/v1/deployments`` — serve, scale, retarget and stop models while running."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from modelmart.gateway.heap import settle_heap
from modelmart.gateway.services import Services, get_services
from modelmart.schemas.deployments import DeploymentRequest, DeploymentUpdate, DeploymentView

router = APIRouter(prefix="/v1/deployments", tags=["deployments"])
ServicesDep = Annotated[Services, Depends(get_services)]


@router.post("", status_code=201)
async def deploy(
    body: DeploymentRequest, services: ServicesDep, wait: bool = True
) -> DeploymentView:
    """Serve a model version. With ``wait`` (the default) this returns once every instance
    has loaded, or fails with the load error; otherwise it returns at once in ``loading``."""
    view = await services.deployments.deploy(body, wait=wait)
    settle_heap()  # a thread-isolated model now lives in this process for good
    return view


@router.get("")
async def list_deployments(services: ServicesDep) -> dict[str, list[DeploymentView]]:
    return {"deployments": services.deployments.visible()}


@router.get("/{name}")
async def get_deployment(name: str, services: ServicesDep) -> DeploymentView:
    services.deployments.check_access(name)
    return services.deployments.view(name)


@router.patch("/{name}")
async def update_deployment(
    name: str, body: DeploymentUpdate, services: ServicesDep
) -> DeploymentView:
    """Scale, retune batching or move to another version without dropping requests."""
    services.deployments.check_manage(name)
    view = await services.deployments.update(name, body)
    settle_heap()
    return view


@router.delete("/{name}", status_code=204)
async def undeploy(name: str, services: ServicesDep) -> Response:
    """Stop routing to the deployment, finish queued requests, then unload it."""
    services.deployments.check_manage(name)
    await services.deployments.undeploy(name)
    return Response(status_code=204)
