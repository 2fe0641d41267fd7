"""OpenAI-compatible routes: ``GET /v1/models[/{id}]`` and ``POST /v1/embeddings``.

OpenAI's SDKs work unchanged against ``<server>/v1``; a model id is a deployment name, and a
caller sees and calls only the deployments it may use. Errors answer in OpenAI's shape
(:mod:`modelmart.gateway.openai_errors`); embeddings bill (:mod:`modelmart.gateway.metering`).
"""

from __future__ import annotations

import asyncio
import base64
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from modelmart.arrays import Array, Batch
from modelmart.errors import InvalidRequest
from modelmart.gateway.auth import Reader
from modelmart.gateway.energy import energy_usage
from modelmart.gateway.metering import Caller, MeteredOpenAIRoute
from modelmart.gateway.openai_errors import OpenAIRoute
from modelmart.gateway.pii import guard_for, guarded_texts, report_fields
from modelmart.gateway.responses import FastJSONResponse
from modelmart.gateway.services import Services, get_services
from modelmart.gateway.text_models import TEXTS_SCHEMA, TextModelKind, read_texts
from modelmart.gateway.usage import report_usage
from modelmart.schemas.registry import ModelInfo
from modelmart.types import Signature

router = APIRouter(prefix="/v1", tags=["openai-compatible"], route_class=OpenAIRoute)
_metered = APIRouter(route_class=MeteredOpenAIRoute)
ServicesDep = Annotated[Services, Depends(get_services)]

EMBEDDINGS = TextModelKind("embeddings", ("embedding",), ("minilm-int8", "minilm"))


class EmbeddingRequest(BaseModel):
    """OpenAI's embeddings request; text only (token arrays are refused)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"model": "minilm-int8", "input": ["Hello world"]}]},
    )

    model: str = Field(min_length=1, description="a deployment name, as GET /v1/models lists")
    input: str | list[Any] = Field(
        description="a text or a list of texts", json_schema_extra=TEXTS_SCHEMA
    )
    encoding_format: Literal["float", "base64"] = Field(
        default="float", description="base64: little-endian float32 bytes"
    )
    dimensions: int | None = Field(
        default=None, ge=1, description="must equal the model's own size when given"
    )
    user: str | None = Field(default=None, description="accepted and ignored")


def _model_object(name: str, model: ModelInfo) -> dict[str, Any]:
    created = int(model.created_at.timestamp())
    return {"id": name, "object": "model", "created": created, "owned_by": "modelmart"}


@router.get("/models")
async def list_models(principal: Reader, services: ServicesDep) -> Response:
    """The serving deployments the caller may use, as OpenAI's model list."""
    # The endpoints before the models: a model that serves exists.
    endpoints = services.router.visible(principal)
    models = {model.name: model for model in await asyncio.to_thread(services.registry.list_models)}
    data = [
        _model_object(name, models[endpoint.spec.target.model])
        for name, endpoint in sorted(endpoints.items())
    ]
    return FastJSONResponse({"object": "list", "data": data})


@router.get("/models/{model_id}")
async def retrieve_model(model_id: str, principal: Reader, services: ServicesDep) -> Response:
    """One serving deployment the caller may use, as an OpenAI model object."""
    endpoint = services.router.endpoint(principal, model_id)  # else 404 model_not_found
    model = await asyncio.to_thread(services.registry.get_model, endpoint.spec.target.model)
    return FastJSONResponse(_model_object(model_id, model))


@_metered.post("/embeddings")
async def create_embeddings(
    body: EmbeddingRequest, request: Request, principal: Caller, services: ServicesDep
) -> Response:
    """Embed texts with a deployment that returns an ``embedding`` output."""
    texts = read_texts(body.input)
    endpoint = EMBEDDINGS.endpoint(services.router, principal, body.model)
    guard = guard_for(request, services.pii, principal, endpoint)
    texts = await guarded_texts(guard, texts)
    width = _embedding_width(endpoint.signature)
    if width is not None:
        _check_dimensions(body.dimensions, width)
    prediction = await endpoint.predict(
        EMBEDDINGS.batch(endpoint.signature, texts), request.is_disconnected
    )
    vectors = np.ascontiguousarray(prediction.outputs["embedding"], dtype="<f4")
    _check_dimensions(body.dimensions, vectors.shape[-1])  # for signatures that leave it -1
    tokens = _prompt_tokens(prediction.outputs, texts)
    energy = energy_usage(request, prediction.energy_uj)
    units = {"items": len(texts), "tokens": tokens, **energy}
    report_usage(request, prediction.model, prediction.version, units)
    return FastJSONResponse(
        {
            "object": "list",
            "data": [
                {"object": "embedding", "index": index, "embedding": _encode(vector, body)}
                for index, vector in enumerate(vectors)
            ],
            "model": body.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens, **energy},
            **report_fields(guard),
        }
    )


def _embedding_width(signature: Signature) -> int | None:
    spec = next(spec for spec in signature.outputs if spec.name == "embedding")
    width = spec.shape[-1]
    return None if width == -1 or len(spec.shape) != 2 else width


def _check_dimensions(requested: int | None, width: int) -> None:
    if requested is not None and requested != width:
        raise InvalidRequest(
            f"this model returns {width} dimensions and cannot shorten them; "
            f"send dimensions={width} or leave it out",
            details={"param": "dimensions"},
        )


def _encode(vector: Array, body: EmbeddingRequest) -> Any:
    if body.encoding_format == "base64":
        return base64.b64encode(vector.tobytes()).decode("ascii")
    return vector  # orjson writes float32 arrays with their shortest exact digits


def _prompt_tokens(outputs: Batch, texts: list[str]) -> int:
    if "tokens" in outputs:
        return int(np.sum(outputs["tokens"]))
    # The model does not report its token count: whitespace-separated words stand in. They
    # undercount subword tokens, but are the same for every model and cost nothing.
    return sum(len(text.split()) for text in texts)


router.include_router(_metered)
