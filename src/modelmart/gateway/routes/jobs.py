"""Training jobs (``/v1/jobs/...``) and the evaluation reports of the versions they trained
(``/v1/registry/models/{name}/versions/{ref}/report`` and ``/v1/registry/models/{name}/compare``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse

from modelmart.errors import ModelNotFound
from modelmart.gateway.services import Services, get_services
from modelmart.gateway.tenancy import (
    can_see_job,
    new_owner,
    owned_model,
    visible_dataset,
    visible_job,
    visible_model,
)
from modelmart.gateway.training_services import TrainingServices, get_training
from modelmart.schemas.datasets import DatasetInfo
from modelmart.schemas.jobs import JobInfo, JobState, SubmitJob
from modelmart.training.api import render_comparison_html, render_report_html

router = APIRouter(tags=["training"])
TrainingDep = Annotated[TrainingServices, Depends(get_training)]
ServicesDep = Annotated[Services, Depends(get_services)]
POLL_S = 0.25
ReportFormat = Literal["json", "html"]


@router.post("/v1/jobs", status_code=201)
def submit_job(body: SubmitJob, training: TrainingDep, services: ServicesDep) -> JobInfo:
    """Queue a training job. The spec is completed and checked against the dataset first:
    a bad family, hyperparameter or column is refused here, not in the worker."""
    return training.jobs.submit(body, new_owner(""), _check_submission(services))


def _check_submission(services: Services) -> Callable[[DatasetInfo, str], None]:
    """Train only on datasets the caller can see, into a model it owns (or a new one)."""

    def check(dataset: DatasetInfo, model: str) -> None:
        visible_dataset(dataset)
        with suppress(ModelNotFound):  # a new model: the job creates it, owned by the caller
            owned_model(services.registry, model)

    return check


@router.get("/v1/jobs")
def list_jobs(training: TrainingDep) -> dict[str, list[JobInfo]]:
    return {"jobs": [job for job in training.jobs.recent() if can_see_job(job)]}


@router.get("/v1/jobs/{job_id}")
def get_job(job_id: str, training: TrainingDep) -> JobInfo:
    return visible_job(training.jobs.get(job_id))


@router.post("/v1/jobs/{job_id}:cancel")
def cancel_job(job_id: str, training: TrainingDep) -> JobInfo:
    """Ask the job to stop; its state turns ``cancelled`` once the worker has stopped."""
    visible_job(training.jobs.get(job_id))
    return training.jobs.cancel(job_id)


@router.delete("/v1/jobs/{job_id}")
def delete_job(job_id: str, training: TrainingDep) -> JobInfo:
    """The same as ``:cancel`` (jobs are kept as a record)."""
    visible_job(training.jobs.get(job_id))
    return training.jobs.cancel(job_id)


@router.get("/v1/jobs/{job_id}/logs")
def job_logs(job_id: str, training: TrainingDep) -> PlainTextResponse:
    visible_job(training.jobs.get(job_id))
    return PlainTextResponse(training.jobs.logs(job_id))


def _sse(event: str, data: Any, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"


@router.get("/v1/jobs/{job_id}/events")
async def job_events(
    job_id: str,
    request: Request,
    training: TrainingDep,
    after: Annotated[int, Query(ge=0)] = 0,
    last_event_id: Annotated[int | None, Header()] = None,
) -> StreamingResponse:
    """Server-sent events: ``progress`` for each epoch (``id`` is its sequence number, so a
    reconnect with ``Last-Event-ID`` resumes), ``state`` on every state change; the stream
    ends after the job finishes."""
    visible_job(await asyncio.to_thread(training.jobs.get, job_id))  # 404 before the stream
    start = last_event_id if last_event_id is not None else after
    return StreamingResponse(
        _event_stream(training, job_id, start, request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _event_stream(
    training: TrainingServices, job_id: str, after: int, request: Request
) -> AsyncIterator[bytes]:
    state: JobState | None = None
    while True:
        info = await asyncio.to_thread(training.jobs.get, job_id)
        # Events are read after the state: those of a finished job are all recorded by then.
        for event in await asyncio.to_thread(training.jobs.events, job_id, after):
            after = event.sequence
            yield _sse("progress", event.model_dump(mode="json"), event.sequence)
        if info.state != state:
            state = info.state
            yield _sse("state", info.model_dump(mode="json"))
        if state.finished or await request.is_disconnected():
            return
        await asyncio.sleep(POLL_S)


def _wants_html(format: ReportFormat | None, accept: str | None) -> bool:
    if format is not None:
        return format == "html"
    return accept is not None and "text/html" in accept


@router.get("/v1/registry/models/{name}/versions/{ref}/report")
async def version_report(
    name: str,
    ref: str,
    training: TrainingDep,
    services: ServicesDep,
    format: ReportFormat | None = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """The evaluation report of a trained version: JSON, or an HTML page with plots
    (``?format=html`` or ``Accept: text/html``)."""
    await asyncio.to_thread(visible_model, services.registry, name)
    version, report = await asyncio.to_thread(
        training.jobs.report, name, int(ref) if ref.isdigit() else ref
    )
    if _wants_html(format, accept):
        html = await asyncio.to_thread(render_report_html, report, f"{name} version {version}")
        return HTMLResponse(html)
    return Response(orjson.dumps(report), media_type="application/json")


@router.get("/v1/registry/models/{name}/compare")
async def compare_versions(
    name: str,
    training: TrainingDep,
    services: ServicesDep,
    a: Annotated[int, Query(ge=1)],
    b: Annotated[int, Query(ge=1)],
    format: ReportFormat | None = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """Two trained versions side by side: their metrics and the differences (b - a)."""
    await asyncio.to_thread(visible_model, services.registry, name)
    _, first = await asyncio.to_thread(training.jobs.report, name, a)
    _, second = await asyncio.to_thread(training.jobs.report, name, b)
    if _wants_html(format, accept):
        titles = (f"{name} version {a}", f"{name} version {b}")
        return HTMLResponse(await asyncio.to_thread(render_comparison_html, first, second, titles))
    body = {"model": name, "a": a, "b": b, "metrics": _metric_differences(first, second)}
    return Response(orjson.dumps(body), media_type="application/json")


def _metric_differences(a: dict[str, Any], b: dict[str, Any]) -> dict[str, dict[str, float]]:
    first, second = _headline(a), _headline(b)
    return {
        metric: {
            "a": first[metric],
            "b": second[metric],
            "difference": second[metric] - first[metric],
        }
        for metric in sorted(first.keys() & second.keys())
    }


def _headline(report: dict[str, Any]) -> dict[str, float]:
    metrics = report.get("metrics") or report.get("test_metrics") or {}
    return {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}
