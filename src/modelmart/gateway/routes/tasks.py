"""Task routes, for what OpenAI's API has no shape for: ``POST /v1/tasks/{task}``.

Every task reads ``{"model": <deployment, the task's default when omitted>, "input": str |
list[str]}`` and answers ``{"model", "version", "results": [one per input], "usage": {"items",
"characters"[, "tokens"]}}``. A task is an entry in :data:`TASKS`: its default model, the kind
of model that can do it, and a function from the model's outputs to results. Adding one is a
new function and a new entry; a task with options of its own (entities' ``redact``,
translation's ``source`` and ``target``) also names its request class
(:mod:`modelmart.gateway.task_requests`).

The routes bill (:mod:`modelmart.gateway.metering`). A task's default model, like a named one,
is the caller's own deployment of that name if it has one, else the platform's: never another
organisation's.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from modelmart.arrays import Batch
from modelmart.gateway.energy import energy_usage
from modelmart.gateway.metering import Caller, MeteredRoute
from modelmart.gateway.pii import guard_for, guarded_results, guarded_texts, report_fields
from modelmart.gateway.responses import FastJSONResponse
from modelmart.gateway.services import Services, get_services
from modelmart.gateway.task_requests import EntitiesRequest, TaskRequest, TranslationRequest
from modelmart.gateway.text_models import TextModelKind, as_text, read_texts, text_usage
from modelmart.gateway.usage import report_usage

ServicesDep = Annotated[Services, Depends(get_services)]

Results = Callable[[Batch], list[dict[str, Any]]]
"""The model's outputs for n texts -> n result objects."""


@dataclass(frozen=True)
class TaskRoute:
    summary: str
    default_model: str
    kind: TextModelKind
    results: Results
    example: str
    request: type[TaskRequest] = TaskRequest
    example_options: Mapping[str, Any] = field(default_factory=dict)


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


def entity_results(outputs: Batch) -> list[dict[str, Any]]:
    """Each text's entities (type, offsets, text, score) and the text with them redacted."""
    return [
        {"entities": orjson.loads(as_text(entities)), "redacted": as_text(redacted)}
        for entities, redacted in zip(outputs["entities"], outputs["redacted"], strict=True)
    ]


def translation_results(outputs: Batch) -> list[dict[str, Any]]:
    return [{"translation": as_text(text)} for text in outputs["translation"]]


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
    "entities": TaskRoute(
        summary="Named entities and personal data in each text, with offsets; optionally redacted",
        default_model="pii-detector",
        kind=TextModelKind("entity detection", ("entities", "redacted"), ("pii-detector",)),
        results=entity_results,
        example="Call Maria Lopez at 415-555-0199 or maria@example.com.",
        request=EntitiesRequest,
        example_options={"redact": True},
    ),
    "translation": TaskRoute(
        summary="Each text translated from the source language to the target language",
        default_model="apertium-en-es",
        kind=TextModelKind("translation", ("translation",), ("apertium-en-es", "apertium-es-en")),
        results=translation_results,
        example="The house is small but the garden is beautiful.",
        request=TranslationRequest,
        example_options={"source": "en", "target": "es"},
    ),
}


def _handler(task: TaskRoute) -> Callable[..., Coroutine[Any, Any, Response]]:
    async def run_task(
        body: TaskRequest, request: Request, principal: Caller, services: ServicesDep
    ) -> Response:
        texts = read_texts(body.input)
        name = body.deployment(task.default_model)
        endpoint = task.kind.endpoint(services.router, principal, name)
        body.check(endpoint)
        guard = guard_for(request, services.pii, principal, endpoint)
        prediction = await endpoint.predict(
            task.kind.batch(endpoint.signature, await guarded_texts(guard, texts)),
            request.is_disconnected,
        )
        usage = {
            **text_usage(texts, prediction.outputs),
            **energy_usage(request, prediction.energy_uj),
        }
        report_usage(request, prediction.model, prediction.version, usage)
        results = body.present(task.results(prediction.outputs))
        return FastJSONResponse(
            {
                "model": prediction.model,
                "version": prediction.version,
                "results": await guarded_results(guard, results),
                "usage": usage,
                **report_fields(guard),
            }
        )

    # FastAPI reads the body's model from the annotation: each task's own request class.
    run_task.__annotations__["body"] = task.request
    return run_task


def _request_example(task: TaskRoute) -> dict[str, Any]:
    example = {"model": task.default_model, "input": [task.example], **task.example_options}
    return {"requestBody": {"content": {"application/json": {"example": example}}}}


def _task_router() -> APIRouter:
    task_router = APIRouter(prefix="/v1/tasks", tags=["tasks"], route_class=MeteredRoute)
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
