"""Open Inference Protocol v2 (KServe v2 REST), callable by standard v2 clients unchanged.

Inference bills (:mod:`modelmart.gateway.metering`); a model's metadata and readiness are
read with a reader's key; the server's liveness and readiness probes are open to anyone, as
v2 clients expect.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from modelmart import __version__
from modelmart.errors import InvalidRequest, NotReady, VersionNotFound
from modelmart.gateway.auth import Public, Reader
from modelmart.gateway.codecs import v2 as codec
from modelmart.gateway.energy import energy_usage
from modelmart.gateway.images import tensor_inputs
from modelmart.gateway.metering import Caller, MeteredRoute
from modelmart.gateway.pii import guard_for, guarded_inputs, guarded_outputs_batch
from modelmart.gateway.responses import FastJSONResponse
from modelmart.gateway.routes.health import readiness
from modelmart.gateway.services import Services, get_services
from modelmart.gateway.usage import batch_rows, report_usage
from modelmart.serving.placement import Endpoint
from modelmart.tenancy import Principal

router = APIRouter(prefix="/v2", tags=["open inference protocol v2"])
_metered = APIRouter(route_class=MeteredRoute)
ServicesDep = Annotated[Services, Depends(get_services)]


def _endpoint(services: Services, principal: Principal, name: str, version: str | None) -> Endpoint:
    endpoint = services.router.endpoint(principal, name)
    served = str(endpoint.status().version)
    if version is not None and version != served:
        raise VersionNotFound(
            f"model {name!r} serves version {served}, not {version}; call "
            f"/v2/models/{name}/versions/{served}/infer or deploy version {version}",
            details={"served_version": served},
        )
    return endpoint


def _header_length(request: Request) -> int | None:
    header = request.headers.get(codec.HEADER_LENGTH)
    if header is None:
        return None
    if not header.isdigit():
        raise InvalidRequest(f"{codec.HEADER_LENGTH} must be a byte count, got {header!r}")
    return int(header)


@router.get("")
async def server_metadata(principal: Reader) -> dict[str, Any]:
    return {"name": "modelmart", "version": __version__, "extensions": ["binary_tensor_data"]}


@router.get("/health/live", dependencies=[Public])
async def server_live() -> dict[str, bool]:
    return {"live": True}


@router.get("/health/ready", dependencies=[Public])
async def server_ready(services: ServicesDep) -> Response:
    is_ready = readiness(services)
    return FastJSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)


@router.get("/models/{name}")
@router.get("/models/{name}/versions/{version}")
async def model_metadata(
    principal: Reader, services: ServicesDep, name: str, version: str | None = None
) -> Response:
    endpoint = _endpoint(services, principal, name, version)
    signature = endpoint.signature
    body = {
        "name": name,
        "versions": [str(endpoint.status().version)],
        "platform": endpoint.spec.target.runtime.value,
        "inputs": [spec.model_dump(mode="json") for spec in signature.inputs],
        "outputs": [spec.model_dump(mode="json") for spec in signature.outputs],
    }
    return FastJSONResponse(body)


@router.get("/models/{name}/ready")
@router.get("/models/{name}/versions/{version}/ready")
async def model_ready(
    principal: Reader, services: ServicesDep, name: str, version: str | None = None
) -> Response:
    endpoint = _endpoint(services, principal, name, version)
    if endpoint.status().ready_instances == 0:
        raise NotReady(f"model {name!r} has no loaded instance yet; retry shortly")
    return FastJSONResponse({"name": name, "ready": True})


@_metered.post("/models/{name}/infer")
@_metered.post("/models/{name}/versions/{version}/infer")
async def infer(
    request: Request,
    principal: Caller,
    services: ServicesDep,
    name: str,
    version: str | None = None,
) -> Response:
    endpoint = _endpoint(services, principal, name, version)
    endpoint.admit()  # a full queue refuses before the body is read and parsed
    decoded = codec.decode_request(await request.body(), _header_length(request))
    # The PII policy redacts here as on :predict; its report is not part of v2's answer.
    guard = guard_for(request, services.pii, principal, endpoint)
    inputs = await guarded_inputs(guard, endpoint.signature, decoded.inputs)
    prediction = await endpoint.predict(
        await tensor_inputs(request, endpoint.signature, inputs), request.is_disconnected
    )
    usage = {"items": batch_rows(decoded.inputs), **energy_usage(request, prediction.energy_uj)}
    report_usage(request, prediction.model, prediction.version, usage)
    outputs = await guarded_outputs_batch(guard, prediction.outputs)
    body, json_length = codec.encode_response(decoded, name, prediction.version, outputs, usage)
    if json_length is None:
        return Response(body, media_type="application/json")
    return Response(
        body,
        media_type="application/octet-stream",
        headers={"Inference-Header-Content-Length": str(json_length)},
    )


router.include_router(_metered)
