"""Deployments: ``/v1/deployments`` — serve, scale, retarget and stop models while running."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from modelmart.gateway.auth import Deployer, Reader
from modelmart.gateway.heap import settle_heap
from modelmart.gateway.services import Services, get_services
from modelmart.schemas.deployments import DeploymentRequest, DeploymentUpdate, DeploymentView

router = APIRouter(prefix="/v1/deployments", tags=["deployments"])
ServicesDep = Annotated[Services, Depends(get_services)]


@router.post("", status_code=201)
async def deploy(
    body: DeploymentRequest, principal: Deployer, services: ServicesDep, wait: bool = True
) -> DeploymentView:
    """Serve a model version under a name in your organisation. With ``wait`` (the default)
    this returns once every instance has loaded, or fails with the load error; otherwise it
    returns at once in ``loading``."""
    view = await services.deployments.deploy(principal, body, wait=wait)
    settle_heap()  # a thread-isolated model now lives in this process for good
    return view


@router.get("")
async def list_deployments(
    principal: Reader, services: ServicesDep
) -> dict[str, list[DeploymentView]]:
    """Your deployments, and the shared ones you may call."""
    return {"deployments": services.deployments.visible(principal)}


@router.get("/{name}")
async def get_deployment(name: str, principal: Reader, services: ServicesDep) -> DeploymentView:
    return services.deployments.view(principal, name)


@router.patch("/{name}")
async def update_deployment(
    name: str, body: DeploymentUpdate, principal: Deployer, services: ServicesDep
) -> DeploymentView:
    """Scale, retune batching or move to another version without dropping requests."""
    view = await services.deployments.update(principal, name, body)
    settle_heap()
    return view


@router.delete("/{name}", status_code=204)
async def undeploy(name: str, principal: Deployer, services: ServicesDep) -> Response:
    """Stop routing to the deployment, finish queued requests, then unload it."""
    await services.deployments.undeploy(principal, name)
    return Response(status_code=204)
