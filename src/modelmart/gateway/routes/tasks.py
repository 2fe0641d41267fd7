"""Task routes, for what OpenAI's API has no shape for: ``POST /v1/tasks/{task}``.

Every task reads ``{"model": <deployment, the task's default when omitted>, "input": str |
list[str]}`` and answers ``{"model", "version", "results": [one per input], "usage": {"items",
"characters"[, "tokens"]}}``. A task is an entry in :data:`TASKS`: its default model, the kind
of model that can do it, and a function from the model's outputs to results. Adding one
(entities, translation, ...) is a new function and a new entry; nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from modelmart.gateway.responses import FastJSONResponse
from modelmart.gateway.services import Services, get_services
from modelmart.gateway.text_models import TextModelKind, as_text, read_texts, text_usage
from modelmart.gateway.usage import report_usage
from modelmart.types import Batch

ServicesDep = Annotated[Services, Depends(get_services)]

Results = Callable[[Batch], list[dict[str, Any]]]
"""The model's outputs for n texts -> n result objects."""


class TaskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(
        default=None, min_length=1, description="a deployment name; the task's default if omitted"
    )
    # Any items: read_texts() refuses non-text with a clearer message than validation would.
    input: str | list[Any] = Field(description="a text or a list of texts")


@dataclass(frozen=True)
class TaskRoute:
    summary: str
    default_model: str
    kind: TextModelKind
    results: Results
    example: str


def sentiment_results(outputs: Batch) -> list[dict[str, Any]]:
    """VADER's shape: a label, the compound score in [-1, 1] and the three proportions."""
    return [
        {
            "label": as_text(label),
            "score": compound,
            "scores": {"negative": scores[0], "neutral": scores[1], "positive": scores[2]},
        }
        for label, compound, scores in zip(
            outputs["label"], outputs["compound"], outputs["scores"], strict=True
        )
    ]


def language_results(outputs: Batch) -> list[dict[str, Any]]:
    """An ISO 639-1 code and the model's confidence in it."""
    return [
        {"language": as_text(language), "probability": probability}
        for language, probability in zip(outputs["language"], outputs["probability"], strict=True)
    ]


TASKS: dict[str, TaskRoute] = {
    "sentiment": TaskRoute(
        summary="Sentiment of each text: positive, neutral or negative, with scores",
        default_model="vader-sentiment",
        kind=TextModelKind("sentiment", ("label", "compound", "scores"), ("vader-sentiment",)),
        results=sentiment_results,
        example="The food was great but the service was slow.",
    ),
    "language": TaskRoute(
        summary="Language of each text, as an ISO 639-1 code with its probability",
        default_model="langid",
        kind=TextModelKind("language identification", ("language", "probability"), ("langid",)),
        results=language_results,
        example="Ceci n'est pas une pipe.",
    ),
}


def _handler(task: TaskRoute) -> Callable[..., Coroutine[Any, Any, Response]]:
    async def run_task(body: TaskRequest, request: Request, services: ServicesDep) -> Response:
        texts = read_texts(body.input)
        name = body.model or task.default_model
        endpoint = task.kind.endpoint(services.router, name)
        prediction = await endpoint.predict(task.kind.batch(endpoint.signature, texts))
        usage = text_usage(texts, prediction.outputs)
        report_usage(request, prediction.model, prediction.version, usage)
        return FastJSONResponse(
            {
                "model": prediction.model,
                "version": prediction.version,
                "results": task.results(prediction.outputs),
                "usage": usage,
            }
        )

    return run_task


def _request_example(task: TaskRoute) -> dict[str, Any]:
    example = {"model": task.default_model, "input": [task.example]}
    return {"requestBody": {"content": {"application/json": {"example": example}}}}


def _task_router() -> APIRouter:
    task_router = APIRouter(prefix="/v1/tasks", tags=["tasks"])
    for name, task in TASKS.items():
        task_router.add_api_route(
            f"/{name}",
            _handler(task),
            methods=["POST"],
            summary=task.summary,
            name=f"task_{name}",
            openapi_extra=_request_example(task),
        )
    return task_router


router = _task_router()
