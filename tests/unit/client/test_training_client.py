"""The dataset, job and report methods of both clients against a scripted transport."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from modelmart.client import AsyncClient, Client
from modelmart.errors import InvalidDataset, JobNotFound
from modelmart.schemas.jobs import JobEvent, JobInfo, JobState

NOW = datetime(2026, 1, 1, tzinfo=UTC).isoformat()
DATASET = {
    "name": "toy", "version": 1, "kind": "tabular", "file_format": "csv", "digest": "d" * 64,
    "size": 10, "target": "label", "description": "", "created_at": NOW,
    "summary": {"rows": 2, "columns": [], "class_balance": {"a": 1, "b": 1}},
}  # fmt: skip
JOB = {
    "id": "j1", "state": "succeeded", "spec": {"family": "logistic"}, "dataset": "toy",
    "dataset_version": 1, "model": "toy-logistic", "model_version": 1, "failure_reason": None,
    "created_at": NOW, "started_at": NOW, "finished_at": NOW,
}  # fmt: skip
EVENT = {"sequence": 1, "epoch": 1, "total_epochs": 2, "train_loss": 0.5,
         "validation_loss": None, "metrics": {"accuracy": 0.9}, "message": None,
         "created_at": NOW}  # fmt: skip
REPORT = {"metrics": {"accuracy": 0.9}}
STREAM = (
    b"event: state\ndata: " + orjson.dumps({**JOB, "state": "running"}) + b"\n\n"
    b"id: 1\nevent: progress\ndata: " + orjson.dumps(EVENT) + b"\n\n"
    b"event: state\ndata: " + orjson.dumps(JOB) + b"\n\n"
)


def answer(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path.endswith("/events"):
        return _events(path)
    if path == "/v1/datasets/bad/versions":
        error = {"error": {"code": "invalid_dataset", "message": "row 2", "details": {}}}
        return httpx.Response(422, json=error)
    if path.startswith("/v1/datasets"):
        return _datasets(path)
    if path.endswith("/logs"):
        return httpx.Response(200, text="log line\n")
    if path.endswith(("/report", "/compare")):
        return _reports(request)
    if path == "/v1/jobs" and request.method == "GET":
        return httpx.Response(200, json={"jobs": [JOB]})
    return httpx.Response(200, json=JOB)


def _events(path: str) -> httpx.Response:
    if "missing" in path:
        error = {"error": {"code": "job_not_found", "message": "no", "details": {}}}
        return httpx.Response(404, json=error)
    return httpx.Response(200, content=STREAM, headers={"content-type": "text/event-stream"})


def _reports(request: httpx.Request) -> httpx.Response:
    html = request.url.params.get("format") == "html"
    if request.url.path.endswith("/report"):
        if html:
            return httpx.Response(200, text="<html>report</html>")
        return httpx.Response(200, json=REPORT)
    if html:
        return httpx.Response(200, text="<html>both</html>")
    return httpx.Response(200, json={"model": "m", "a": 1, "b": 2, "metrics": {}})


def _datasets(path: str) -> httpx.Response:
    if path == "/v1/datasets":
        return httpx.Response(200, json={"datasets": [DATASET]})
    if path.endswith("/preview"):
        return httpx.Response(200, json={"name": "toy", "version": 1, "columns": ["x"],
                                         "rows": [{"x": 1}]})  # fmt: skip
    return httpx.Response(200, json=DATASET)


def test_the_blocking_client(tmp_path: Path) -> None:
    upload = tmp_path / "t.csv"
    upload.write_text("x,label\n1,a\n2,b\n")
    with Client("http://mm", transport=httpx.MockTransport(answer)) as mm:
        assert mm.push_dataset("toy", upload, target="label").version == 1
        with pytest.raises(InvalidDataset, match="row 2"):
            mm.push_dataset("bad", upload)
        assert [d.name for d in mm.list_datasets()] == ["toy"]
        assert mm.get_dataset("toy", 1).summary.rows == 2
        assert mm.preview_dataset("toy", 1, rows=1).rows == [{"x": 1}]
        updates = list(mm.watch_job("j1"))
        assert [type(u) for u in updates] == [JobInfo, JobEvent, JobInfo]
        with pytest.raises(JobNotFound):
            list(mm.watch_job("missing"))
        assert mm.wait_for_job("j1").state is JobState.SUCCEEDED


async def test_the_asyncio_client(tmp_path: Path) -> None:
    upload = tmp_path / "t.csv"
    upload.write_text("x,label\n1,a\n2,b\n")
    async with AsyncClient("http://mm", transport=httpx.MockTransport(answer)) as mm:
        assert (await mm.push_dataset("toy", upload)).name == "toy"
        assert len(await mm.list_datasets()) == 1
        assert (await mm.get_dataset("toy")).version == 1
        assert (await mm.preview_dataset("toy")).columns == ["x"]
        job = await mm.train("toy", "classification", family="logistic",
                             hyperparameters={"C": 1.0}, spec={"seed": 3})  # fmt: skip
        assert job.model == "toy-logistic"
        assert [j.id for j in await mm.list_jobs()] == ["j1"]
        assert (await mm.get_job("j1")).model_version == 1
        assert (await mm.cancel_job("j1")).id == "j1"
        assert await mm.job_logs("j1") == "log line\n"
        updates: list[Any] = [u async for u in mm.watch_job("j1")]
        assert len(updates) == 3
        with pytest.raises(JobNotFound):
            [u async for u in mm.watch_job("missing")]
        assert (await mm.wait_for_job("j1")).state is JobState.SUCCEEDED
        assert await mm.report("m", 1) == REPORT
        assert "report" in await mm.report_html("m", 1)
        assert (await mm.compare("m", 1, 2))["b"] == 2
        assert "both" in await mm.compare("m", 1, 2, html=True)
