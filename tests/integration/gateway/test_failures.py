"""Bad inputs get clear 4xx errors; a crashing model fails only its request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelmart.config import Settings
from modelmart.serving.local import LocalPlacement
from tests.integration.servers import live_server

from .conftest import deploy, push
from .crashing import KILL_VALUE, crashing_instances

SETOSA = [5.1, 3.5, 1.4, 0.2]


def error_code(response: httpx.Response) -> str:
    body = response.json()
    assert set(body["error"]) == {"code", "message", "details"}
    return str(body["error"]["code"])


@pytest.fixture
def crash_http(tmp_path: Path) -> Iterator[httpx.Client]:
    settings = Settings(data_dir=tmp_path / "data", json_logs=False)
    placement = LocalPlacement(instance_factory=crashing_instances)
    with (
        live_server(settings, placement) as server,
        httpx.Client(base_url=server.url, timeout=120) as client,
    ):
        yield client


def test_crashing_model_fails_only_its_request(
    crash_http: httpx.Client, iris_artifacts: tuple[Path, Path]
) -> None:
    for name in ("fragile", "steady"):
        crash_http.post("/v1/registry/models", json={"name": name})
        assert push(crash_http, name, iris_artifacts[0]).status_code == 201
        assert deploy(crash_http, model=name).status_code == 201

    crashed = crash_http.post("/v1/models/fragile:predict", json={"instances": [[KILL_VALUE] * 4]})
    assert crashed.status_code == 502
    assert error_code(crashed) == "worker_crashed"

    assert crash_http.get("/healthz").status_code == 200
    assert (
        crash_http.post("/v1/models/steady:predict", json={"instances": [SETOSA]}).status_code
        == 200
    )
    again = crash_http.post("/v1/models/fragile:predict", json={"instances": [SETOSA]})
    assert again.status_code == 200, again.text


def test_bad_requests_get_clear_errors(
    http: httpx.Client, iris_artifacts: tuple[Path, Path]
) -> None:
    http.post("/v1/registry/models", json={"name": "iris"})
    push(http, "iris", iris_artifacts[0])
    deploy(http, model="iris")
    cases = [
        (
            http.post("/v1/models/nope:predict", json={"instances": [SETOSA]}),
            404,
            "deployment_not_found",
        ),
        (http.post("/v1/models/iris:predict", content=b"{not json"), 400, "invalid_request"),
        (http.post("/v1/models/iris:predict", json={"rows": []}), 400, "invalid_request"),
        (
            http.post("/v1/models/iris:predict", json={"instances": [[1, 2, 3]]}),
            422,
            "schema_mismatch",
        ),
        (
            http.post("/v1/models/iris:predict", json={"instances": [["a", "b", "c", "d"]]}),
            422,
            "schema_mismatch",
        ),
        (http.post("/v1/models/iris:predict", json={"instances": []}), 400, "invalid_request"),
        (http.post("/v1/registry/models", json={"name": "iris"}), 409, "already_exists"),
        (http.post("/v1/registry/models", json={"nam": "x"}), 422, "validation_failed"),
        (http.get("/v1/registry/models/ghost"), 404, "model_not_found"),
        (http.get("/v1/registry/models/iris/versions/7"), 404, "version_not_found"),
        (deploy(http, model="ghost"), 404, "model_not_found"),
        (deploy(http, model="iris"), 409, "already_exists"),
        (http.get("/v2/models/iris/versions/5"), 404, "version_not_found"),
        (http.get("/no/such/route"), 404, "not_found"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, (response.request.url, response.text)
        assert error_code(response) == code, response.text


def test_oversized_body_is_refused(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", max_request_bytes=1000, json_logs=False)
    with live_server(settings) as server, httpx.Client(base_url=server.url) as client:
        response = client.post("/v1/models/any:predict", json={"instances": [[0.0] * 500]})
        assert response.status_code == 413
        assert error_code(response) == "payload_too_large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield b'{"name": "m", "description": "'
            for _ in range(200):
                yield b"0123456789"
            yield b'"}'

        streamed = client.post("/v1/registry/models", content=chunks())
        assert streamed.status_code == 413
        assert error_code(streamed) == "payload_too_large"
        names = [m["name"] for m in client.get("/v1/registry/models").json()["models"]]
        assert "m" not in names


def test_unsafe_and_broken_uploads_leave_nothing(
    http: httpx.Client, tmp_path: Path, iris_artifacts: tuple[Path, Path]
) -> None:
    http.post("/v1/registry/models", json={"name": "iris"})
    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(b"\x80\x04\x95" + b"\x00" * 32)
    refused = push(http, "iris", pickled)
    assert refused.status_code == 415
    assert error_code(refused) == "unsafe_format"
    assert "skops" in refused.json()["error"]["message"]

    truncated = tmp_path / "truncated.skops"
    truncated.write_bytes(iris_artifacts[0].read_bytes()[:200])
    broken = push(http, "iris", truncated)
    assert broken.status_code == 422
    assert error_code(broken) == "invalid_artifact"

    wrong_schema = push(
        http,
        "iris",
        iris_artifacts[0],
        '{"signature": {"inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 5]}],'
        ' "outputs": [{"name": "label", "datatype": "INT64", "shape": [-1]}]}}',
    )
    assert wrong_schema.status_code == 422
    assert error_code(wrong_schema) == "schema_mismatch"
    assert http.get("/v1/registry/models/iris/versions").json()["versions"] == []


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file() and "modelmart.db" not in p.name}


def test_upload_over_the_limit_is_refused_and_leaves_nothing(
    tmp_path: Path, iris_artifacts: tuple[Path, Path]
) -> None:
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir, max_upload_bytes=2000, json_logs=False)
    with live_server(settings) as server, httpx.Client(base_url=server.url) as client:
        before = _files(data_dir)  # the catalogue's manifests, stored at start-up
        client.post("/v1/registry/models", json={"name": "iris"})
        refused = push(client, "iris", iris_artifacts[0])
        assert refused.status_code == 413
        assert error_code(refused) == "payload_too_large"
        assert client.get("/v1/registry/models/iris/versions").json() == {"versions": []}
        assert _files(data_dir) == before
