"""Training jobs (``/v1/jobs/...``) and the evaluation reports of the versions they trained
(``/v1/registry/models/{name}/versions/{ref}/report`` and ``/v1/registry/models/{name}/compare``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse

from modelmart.gateway.auth import Deployer, Reader
from modelmart.gateway.params import MAX_ID
from modelmart.gateway.services import Services, get_services
from modelmart.jobs.service import JobService
from modelmart.schemas.jobs import JobInfo, JobState, SubmitJob
from modelmart.training.api import render_comparison_html, render_report_html

router = APIRouter(tags=["training"])
ServicesDep = Annotated[Services, Depends(get_services)]
POLL_S = 0.25
ReportFormat = Literal["json", "html"]


@router.post("/v1/jobs", status_code=201)
def submit_job(body: SubmitJob, principal: Deployer, services: ServicesDep) -> JobInfo:
    """Queue a training job on a dataset the caller may see, into a model it manages or a
    new one of its own. The spec is completed and checked against the dataset first: a bad
    family, hyperparameter or column is refused here, not in the worker."""
    return services.training.jobs.submit(principal, body)


@router.get("/v1/jobs")
def list_jobs(principal: Reader, services: ServicesDep) -> dict[str, list[JobInfo]]:
    return {"jobs": services.training.jobs.visible(principal)}


@router.get("/v1/jobs/{job_id}")
def get_job(job_id: str, principal: Reader, services: ServicesDep) -> JobInfo:
    return services.training.jobs.find(principal, job_id)


@router.post("/v1/jobs/{job_id}:cancel")
def cancel_job(job_id: str, principal: Deployer, services: ServicesDep) -> JobInfo:
    """Ask the job to stop; its state turns ``cancelled`` once the worker has stopped."""
    return services.training.jobs.cancel(principal, job_id)


@router.delete("/v1/jobs/{job_id}")
def delete_job(job_id: str, principal: Deployer, services: ServicesDep) -> JobInfo:
    """The same as ``:cancel`` (jobs are kept as a record)."""
    return services.training.jobs.cancel(principal, job_id)


@router.get("/v1/jobs/{job_id}/logs")
def job_logs(job_id: str, principal: Reader, services: ServicesDep) -> PlainTextResponse:
    return PlainTextResponse(services.training.jobs.logs(principal, job_id))


def _sse(event: str, data: Any, event_id: int | None = None) -> bytes:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: ".encode() + orjson.dumps(data) + b"\n\n"


@router.get("/v1/jobs/{job_id}/events")
async def job_events(
    job_id: str,
    request: Request,
    principal: Reader,
    services: ServicesDep,
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    last_event_id: Annotated[int | None, Header(ge=0, le=MAX_ID)] = None,
) -> StreamingResponse:
    """Server-sent events: ``progress`` for each epoch (``id`` is its sequence number, so a
    reconnect with ``Last-Event-ID`` resumes), ``state`` on every state change; the stream
    ends after the job finishes."""
    jobs = services.training.jobs
    await asyncio.to_thread(jobs.find, principal, job_id)  # 404 before the stream starts
    start = last_event_id if last_event_id is not None else after
    return StreamingResponse(
        _event_stream(jobs, job_id, start, request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _event_stream(
    jobs: JobService, job_id: str, after: int, request: Request
) -> AsyncIterator[bytes]:
    state: JobState | None = None
    while True:
        info = await asyncio.to_thread(jobs.get, job_id)
        # Events are read after the state: those of a finished job are all recorded by then.
        for event in await asyncio.to_thread(jobs.events, job_id, after):
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
    principal: Reader,
    services: ServicesDep,
    format: ReportFormat | None = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """The evaluation report of a trained version: JSON, or an HTML page with plots
    (``?format=html`` or ``Accept: text/html``)."""
    model = await asyncio.to_thread(services.registry.find_model, principal, name)
    version, report = await asyncio.to_thread(
        services.training.jobs.report, model.name, int(ref) if ref.isdigit() else ref
    )
    if _wants_html(format, accept):
        title = f"{model.name} version {version}"
        html = await asyncio.to_thread(render_report_html, report, title)
        return HTMLResponse(html)
    return Response(orjson.dumps(report), media_type="application/json")


@router.get("/v1/registry/models/{name}/compare")
async def compare_versions(
    name: str,
    principal: Reader,
    services: ServicesDep,
    a: Annotated[int, Query(ge=1, le=MAX_ID)],
    b: Annotated[int, Query(ge=1, le=MAX_ID)],
    format: ReportFormat | None = None,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """Two trained versions side by side: their metrics and the differences (b - a)."""
    model = await asyncio.to_thread(services.registry.find_model, principal, name)
    _, first = await asyncio.to_thread(services.training.jobs.report, model.name, a)
    _, second = await asyncio.to_thread(services.training.jobs.report, model.name, b)
    if _wants_html(format, accept):
        titles = (f"{model.name} version {a}", f"{model.name} version {b}")
        return HTMLResponse(await asyncio.to_thread(render_comparison_html, first, second, titles))
    body = {"model": model.name, "a": a, "b": b, "metrics": _metric_differences(first, second)}
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
