"""A fake ModelMart server on ``httpx.MockTransport`` and sample answers of the real one."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import httpx

from modelmart.client import AsyncClient

BASE_URL = "http://modelmart.test"
CREATED = "2025-01-02T03:04:05Z"

Answer = Callable[[httpx.Request], httpx.Response]


class FakeServer:
    """Answers requests from a table of (method, path) routes and records every request.

    Routes without an answer get the server's 404 error body, as the real gateway sends.
    """

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Answer] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, status: int = 200, json: Any = None, **kw: Any) -> None:
        """Answer ``method path`` with a fresh response each time (clients consume them)."""
        self.routes[(method, path)] = lambda _: httpx.Response(status, json=json, **kw)

    def fail(self, method: str, path: str, status: int, code: str, message: str = "boom") -> None:
        body = {"error": {"code": code, "message": message, "details": {"hint": "x"}}}
        self.on(method, path, status, body)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.routes.get((request.method, request.url.raw_path.decode().split("?")[0]))
        if answer is None:
            error = {"code": "not_found", "message": f"no route {request.url.path}"}
            return httpx.Response(404, json={"error": {**error, "details": {}}})
        return answer(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


class Blocking:
    """An :class:`AsyncClient` whose coroutine methods are run to completion on each call."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        return lambda *args, **kwargs: asyncio.run(method(*args, **kwargs))


def form_parts(request: httpx.Request) -> dict[str, tuple[str | None, bytes]]:
    """The fields of a multipart body: name -> (file name, content)."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.content)
    parts: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        parts[str(name)] = (part.get_filename(), part.get_payload(decode=True))
    return parts


def model_info(name: str = "iris", **changes: Any) -> dict[str, Any]:
    info = {
        "name": name,
        "task": "classification",
        "description": "",
        "owner": "",
        "created_at": CREATED,
        "latest_version": 1,
        "aliases": {"production": 1},
    }
    return {**info, **changes}


def version_info(model: str = "iris", version: int = 1, **changes: Any) -> dict[str, Any]:
    info = {
        "model": model,
        "version": version,
        "format": "onnx",
        "runtime": "onnx",
        "task": "classification",
        "signature": {
            "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}],
            "outputs": [{"name": "label", "datatype": "INT64", "shape": [-1]}],
        },
        "parameters": {},
        "metrics": {"accuracy": 0.97},
        "lineage": {},
        "artifact_digest": "sha256:" + "ab" * 32,
        "artifact_size": 1234,
        "created_at": CREATED,
    }
    return {**info, **changes}


def deployment_view(name: str = "iris", **changes: Any) -> dict[str, Any]:
    view = {
        "name": name,
        "model": "iris",
        "version": 1,
        "alias": None,
        "served_version": 1,
        "instances": 1,
        "ready_instances": 1,
        "max_batch_size": 32,
        "max_delay_ms": 5.0,
        "timeout_s": 30.0,
        "isolation": "process",
        "state": "ready",
        "error": None,
        "queue_depth": 0,
    }
    return {**view, **changes}
