"""Flows for training jobs and evaluation reports, and the decoder for a job's server-sent
event stream (which the clients read as a stream, outside the flow pattern)."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from modelmart.client.core import (
    Call,
    Flow,
    as_model,
    load_json,
    parse,
    parse_list,
    raise_for_error,
    segment,
    validated,
)
from modelmart.schemas.jobs import JobEvent, JobInfo, SubmitJob

JOBS = "/v1/jobs"
MODELS = "/v1/registry/models"

JobUpdate = JobEvent | JobInfo
"""What watching a job yields: a progress event per epoch, the job on each state change."""


def train(
    dataset: str,
    task: str,
    *,
    family: str | None = None,
    model: str | None = None,
    hyperparameters: dict[str, Any] | None = None,
    dataset_version: int | None = None,
    spec: dict[str, Any] | None = None,
) -> Flow[JobInfo]:
    """Queue a training job on ``dataset``. ``spec`` carries any other spec field (``split``,
    ``seed``, ``max_epochs``, ``target``, ``features``...); the server fills the defaults."""
    full_spec = {**(spec or {}), "task": task}
    if family is not None:
        full_spec["family"] = family
    if hyperparameters:
        full_spec["hyperparameters"] = hyperparameters
    body = validated(
        SubmitJob,
        "training request",
        dataset=dataset,
        dataset_version=dataset_version,
        model=model,
        spec=full_spec,
    )
    response = yield Call("POST", JOBS, json=body.model_dump(mode="json", exclude_unset=True))
    return parse(response, JobInfo)


def list_jobs() -> Flow[list[JobInfo]]:
    response = yield Call("GET", JOBS)
    return parse_list(response, "jobs", JobInfo)


def get_job(job_id: str) -> Flow[JobInfo]:
    response = yield Call("GET", f"{JOBS}/{segment(job_id)}")
    return parse(response, JobInfo)


def cancel_job(job_id: str) -> Flow[JobInfo]:
    response = yield Call("POST", f"{JOBS}/{segment(job_id)}:cancel")
    return parse(response, JobInfo)


def job_logs(job_id: str) -> Flow[str]:
    response = yield Call("GET", f"{JOBS}/{segment(job_id)}/logs")
    raise_for_error(response)
    return response.text


def events_call(job_id: str, after: int = 0) -> Call:
    """The request for a job's event stream (no read timeout: epochs may be slow)."""
    return Call(
        "GET",
        f"{JOBS}/{segment(job_id)}/events",
        params={"after": str(after)},
        waits_on_server=True,
    )


def report(model: str, version: int | str) -> Flow[dict[str, Any]]:
    """The JSON evaluation report of a version a job trained."""
    response = yield Call("GET", f"{MODELS}/{segment(model)}/versions/{segment(version)}/report")
    body: dict[str, Any] = load_json(response)
    return body


def report_html(model: str, version: int | str) -> Flow[str]:
    """The report as a self-contained HTML page with plots."""
    response = yield Call(
        "GET",
        f"{MODELS}/{segment(model)}/versions/{segment(version)}/report",
        params={"format": "html"},
    )
    raise_for_error(response)
    return response.text


def compare(model: str, a: int, b: int, *, html: bool = False) -> Flow[Any]:
    """Two trained versions side by side: metrics with differences (JSON) or an HTML page."""
    params = {"a": str(a), "b": str(b), "format": "html" if html else "json"}
    response = yield Call("GET", f"{MODELS}/{segment(model)}/compare", params=params)
    if html:
        raise_for_error(response)
        return response.text
    return load_json(response)


class EventStreamDecoder:
    """Server-sent events, one line at a time, into :data:`JobUpdate` objects."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> JobUpdate | None:
        """The update a blank line completes, else None."""
        if line.startswith("event:"):
            self._event = line[6:].strip()
        elif line.startswith("data:"):
            self._data.append(line[5:].strip())
        elif not line and self._data:
            data = orjson.loads("\n".join(self._data))
            event, self._event, self._data = self._event, "", []
            if event == "progress":
                return as_model(self._response, JobEvent, data)
            return as_model(self._response, JobInfo, data)
        return None
