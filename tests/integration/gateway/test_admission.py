"""Bounded work against the real HTTP server: a flooded deployment answers 503 with
Retry-After, and oversized uploads (a wide CSV, a zip bomb, a request of many large images)
are refused before they cost memory or time."""

from __future__ import annotations

import base64
import dataclasses
import io
import socket
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from PIL import Image

from modelmart.config import Settings
from modelmart.schemas.deployments import Isolation
from modelmart.serving.batcher import Admission
from modelmart.serving.instances import Instance, ThreadInstance
from modelmart.serving.local import LocalPlacement
from modelmart.serving.placement import ServedVersion
from tests.integration.servers import LiveServer, live_server
from tests.unit.registry.builders import hf_dir_entries
from tests.unit.serving.fakes import make_runtime

from .conftest import deploy, push

QUEUE_LIMIT = 3
FLOOD = 16


def slow_instance(target: ServedVersion, isolation: Isolation) -> Instance:
    """Whatever the deployment's model, a fake that takes 0.3 s per batch."""
    load = dataclasses.replace(target.load, parameters={"delay_s": 0.3})
    return ThreadInstance(target.runtime, load, make_runtime)


@pytest.fixture
def flooded_server(tmp_path: Path) -> Iterator[LiveServer]:
    settings = Settings(data_dir=tmp_path / "data", json_logs=False, max_queued_requests=3)
    admission = Admission(settings.max_queued_requests, settings.max_queue_wait_s)
    placement = LocalPlacement(instance_factory=slow_instance, admission=admission)
    with live_server(settings, placement) as running:
        yield running


def _deploy_slow(http: httpx.Client, artifact: Path, **options: object) -> dict[str, object]:
    """Register, push and deploy model ``slow``, one request per batch; its view."""
    http.post("/v1/registry/models", json={"name": "slow", "task": "classification"})
    assert push(http, "slow", artifact).status_code == 201
    deployed = deploy(http, model="slow", max_batch_size=1, isolation="thread", **options)
    assert deployed.status_code == 201, deployed.text
    view: dict[str, object] = deployed.json()
    return view


def test_a_flooded_deployment_answers_503_with_retry_after_past_its_queue(
    flooded_server: LiveServer, iris_artifacts: tuple[Path, Path]
) -> None:
    with httpx.Client(base_url=flooded_server.url, timeout=60) as http:
        _deploy_slow(http, iris_artifacts[0])

        def call(_: int) -> httpx.Response:
            return http.post("/v1/models/slow:predict", json={"instances": [[1.0, 2.0]]})

        with ThreadPoolExecutor(FLOOD) as pool:
            responses = list(pool.map(call, range(FLOOD)))
        metrics = http.get("/metrics").text

    statuses = [response.status_code for response in responses]
    refused = [response for response in responses if response.status_code == 503]
    assert set(statuses) == {200, 503}
    assert statuses.count(200) >= QUEUE_LIMIT  # the queue's worth (and what ran) was served
    for response in refused:
        assert response.json()["error"]["code"] == "overloaded"
        assert int(response.headers["retry-after"]) >= 1
    assert f'modelmart_queue_limit{{deployment="slow"}} {QUEUE_LIMIT}.0' in metrics
    assert f'modelmart_rejected_requests_total{{deployment="slow"}} {len(refused)}.0' in metrics


def _fill_queue(http: httpx.Client, pool: ThreadPoolExecutor, queued: int) -> None:
    """One request running on the slow model and ``queued`` waiting behind it."""
    for _ in range(queued + 1):
        pool.submit(http.post, "/v1/models/slow:predict", json={"instances": [[1.0, 2.0]]})
    deadline = time.monotonic() + 10
    while http.get("/v1/deployments/slow").json()["queue_depth"] < queued:
        assert time.monotonic() < deadline, "the queue did not fill"
        time.sleep(0.02)


def test_a_deployment_s_own_queue_limit_overrides_the_server_s(
    flooded_server: LiveServer, iris_artifacts: tuple[Path, Path]
) -> None:
    with httpx.Client(base_url=flooded_server.url, timeout=60) as http:
        assert (
            _deploy_slow(http, iris_artifacts[0], max_queued_requests=1)["max_queued_requests"] == 1
        )

        with ThreadPoolExecutor(4) as pool:
            _fill_queue(http, pool, queued=1)
            refused = http.post("/v1/models/slow:predict", json={"instances": [[1.0, 2.0]]})
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"]["details"]["max_queued"] == 1

        back = http.patch("/v1/deployments/slow", json={"max_queued_requests": None})
        assert back.status_code == 200, back.text
        assert back.json()["max_queued_requests"] == QUEUE_LIMIT  # the server's again
        metrics = http.get("/metrics").text
    assert f'modelmart_queue_limit{{deployment="slow"}} {QUEUE_LIMIT}.0' in metrics


def test_a_full_queue_refuses_before_the_body_is_sent(
    flooded_server: LiveServer, iris_artifacts: tuple[Path, Path]
) -> None:
    """The refusal needs none of the body: a client declaring a large body gets its 503
    without sending a byte of it."""
    with httpx.Client(base_url=flooded_server.url, timeout=60) as http:
        _deploy_slow(http, iris_artifacts[0])
        with ThreadPoolExecutor(QUEUE_LIMIT + 1) as pool:
            _fill_queue(http, pool, queued=QUEUE_LIMIT)
            head = _status_line_without_body(flooded_server.url, "/v1/models/slow:predict")
    assert head.startswith(b"HTTP/1.1 503"), head


def _status_line_without_body(url: str, path: str) -> bytes:
    """POST headers declaring a megabyte of JSON, send none of it, read the status line."""
    host, port = httpx.URL(url).host, httpx.URL(url).port
    assert port is not None
    with socket.create_connection((host, port), timeout=5) as conn:
        conn.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {1024 * 1024}\r\n\r\n".encode()
        )
        return conn.recv(64)  # times out (a test failure) if the server waits for the body


def test_a_csv_wider_than_the_column_limit_is_refused(http: httpx.Client) -> None:
    header = ",".join(f"c{i}" for i in range(100_000))
    data = (header + "\n" + ",".join(["1"] * 100_000) + "\n").encode()

    response = http.post(
        "/v1/datasets/wide/versions", files={"file": ("wide.csv", data, "text/csv")}
    )

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_dataset"
    assert "a dataset may have at most 2000" in error["message"]
    listed = http.get("/v1/datasets").json()["datasets"]
    assert all(not dataset["name"].endswith("wide") for dataset in listed)


def test_a_zip_bomb_shaped_like_a_model_directory_is_refused_by_its_ratio(
    http: httpx.Client, tmp_path: Path
) -> None:
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for name, data in hf_dir_entries().items():
            zipped.writestr(name, data)
        zipped.writestr("my-model/extra.safetensors", bytes(80 * 1024 * 1024))
    assert archive.stat().st_size < 1024 * 1024
    http.post("/v1/registry/models", json={"name": "bomb", "task": "embedding"})

    response = push(http, "bomb", archive)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["details"]["reason"] == "ratio"
    assert "MODELMART_MAX_UNPACK_RATIO" in error["message"]


def test_sixteen_large_images_are_refused_by_the_request_pixel_budget(
    http: httpx.Client,
) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (2600, 2600), "white").save(buffer, "PNG")  # 6.76 MP, a few KB
    image = base64.b64encode(buffer.getvalue()).decode()

    response = http.post("/v1/tasks/image-classification", json={"input": [image] * 16})

    assert response.status_code == 413, response.text
    error = response.json()["error"]
    assert error["code"] == "image_too_large"
    assert error["details"]["max_request_pixels"] == 100_000_000
    assert error["details"]["pixels"] == 16 * 2600 * 2600
