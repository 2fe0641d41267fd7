"""``POST /v1/models/{name}:predict`` — plain JSON in, predictions out."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from modelmart.errors import InvalidRequest, UnsupportedFormat
from modelmart.gateway.codecs import v1
from modelmart.gateway.energy import energy_usage
from modelmart.gateway.images import tensor_inputs
from modelmart.gateway.metering import Caller, MeteredRoute
from modelmart.gateway.pii import guard_for, guarded_inputs, guarded_outputs_batch, report_fields
from modelmart.gateway.responses import FastJSONResponse
from modelmart.gateway.services import Services, get_services
from modelmart.gateway.usage import batch_rows, report_usage

router = APIRouter(tags=["inference"], route_class=MeteredRoute)
ServicesDep = Annotated[Services, Depends(get_services)]

_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "instances": {"type": "array", "description": "one entry per example"},
                        "inputs": {"type": "object", "description": "input name -> values"},
                    },
                },
                "example": {"instances": [[5.1, 3.5, 1.4, 0.2]]},
            }
        },
    }
}


def require_json(request: Request) -> None:
    """Refuse a body declared as anything but JSON (a ``text/plain`` or form body is what a
    cross-site form can send without a preflight); no declared type is read as JSON."""
    declared = request.headers.get("content-type", "")
    media_type = declared.split(";", 1)[0].strip().lower()
    if media_type and media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedFormat(
            f"the body's content type is {declared!r}; send it as JSON with "
            "'Content-Type: application/json'",
            details={"content_type": declared},
        )


def parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}") from exc


@router.post("/v1/models/{name}:predict", openapi_extra=_BODY_DOC)
async def predict(
    name: str, request: Request, principal: Caller, services: ServicesDep
) -> Response:
    """Run the instances through the deployment called ``name``."""
    require_json(request)
    endpoint = services.router.endpoint(principal, name)
    endpoint.admit()  # a full queue refuses before the body is read and parsed
    batch = v1.decode_request(parse_json(await request.body()), endpoint.signature)
    guard = guard_for(request, services.pii, principal, endpoint)
    prediction = await endpoint.predict(
        await tensor_inputs(
            request, endpoint.signature, await guarded_inputs(guard, endpoint.signature, batch)
        ),
        request.is_disconnected,
    )
    usage = {"items": batch_rows(batch), **energy_usage(request, prediction.energy_uj)}
    report_usage(request, prediction.model, prediction.version, usage)
    outputs = await guarded_outputs_batch(guard, prediction.outputs)
    answer = v1.encode_response(dataclasses.replace(prediction, outputs=outputs))
    return FastJSONResponse({**answer, "usage": usage, **report_fields(guard)})
