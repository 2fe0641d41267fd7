"""A fake ModelMart server for CLI tests, and sample answers of the real one."""

from __future__ import annotations

from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import httpx

CREATED = "2025-01-02T03:04:05Z"
SIGNATURE = {
    "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}],
    "outputs": [{"name": "label", "datatype": "INT64", "shape": [-1]}],
}


class FakeServer:
    """Answers (method, path) routes with fresh JSON responses and records every request;
    other routes get the gateway's 404 error body."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], tuple[int, Any]] = {}
        self.requests: list[httpx.Request] = []
        self.urls: list[str] = []

    def on(self, method: str, path: str, status: int = 200, json: Any = None) -> None:
        self.routes[(method, path)] = (status, json)

    def fail(self, method: str, path: str, status: int, code: str, message: str) -> None:
        self.on(method, path, status, {"error": {"code": code, "message": message,
                                                 "details": {}}})  # fmt: skip

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status, body = self.routes.get(
            (request.method, request.url.path),
            (404, {"error": {"code": "not_found", "message": "no route", "details": {}}}),
        )
        return httpx.Response(status, json=body)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


def model_info(name: str = "iris", **changes: Any) -> dict[str, Any]:
    info = {"name": name, "task": "classification", "description": "", "owner": "",
            "created_at": CREATED, "latest_version": 2, "aliases": {"production": 1}}  # fmt: skip
    return {**info, **changes}


def version_info(model: str = "iris", version: int = 1, **changes: Any) -> dict[str, Any]:
    info = {"model": model, "version": version, "format": "onnx", "runtime": "onnx",
            "task": "classification", "signature": SIGNATURE, "parameters": {},
            "metrics": {"accuracy": 0.97}, "lineage": {}, "artifact_size": 2048,
            "artifact_digest": "sha256:" + "ab" * 32, "created_at": CREATED}  # fmt: skip
    return {**info, **changes}


def deployment_view(name: str = "iris", **changes: Any) -> dict[str, Any]:
    view = {"name": name, "model": "iris", "version": 1, "alias": None, "served_version": 1,
            "instances": 1, "ready_instances": 1, "max_batch_size": 32, "max_delay_ms": 5.0,
            "timeout_s": 30.0, "isolation": "process", "state": "ready", "error": None,
            "queue_depth": 0}  # fmt: skip
    return {**view, **changes}


def form_parts(request: httpx.Request) -> dict[str, tuple[str | None, bytes]]:
    """The fields of a multipart body: name -> (file name, content)."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.content)
    return {
        str(part.get_param("name", header="content-disposition")): (
            part.get_filename(),
            part.get_payload(decode=True),
        )
        for part in message.iter_parts()
    }
