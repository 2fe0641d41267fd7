"""Push, deploy, call over v1 JSON and v2 (raw and with Triton's client), swap under load."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.integration.energy import billed

from .conftest import deploy, push

SETOSA = [5.1, 3.5, 1.4, 0.2]
VIRGINICA = [6.7, 3.0, 5.2, 2.3]


@pytest.fixture
def iris_deployed(http: httpx.Client, iris_artifacts: tuple[Path, Path]) -> str:
    assert (
        http.post(
            "/v1/registry/models", json={"name": "iris", "task": "classification"}
        ).status_code
        == 201
    )
    pushed = push(http, "iris", iris_artifacts[0], '{"metrics": {"accuracy": 0.97}}')
    assert pushed.status_code == 201, pushed.text
    assert pushed.json()["version"] == 1
    response = deploy(http, model="iris", version=1, max_batch_size=16, max_delay_ms=2)
    assert response.status_code == 201, response.text
    assert response.json()["state"] == "ready"
    return "iris"


def test_v1_json_prediction(http: httpx.Client, iris_deployed: str) -> None:
    response = http.post("/v1/models/iris:predict", json={"instances": [SETOSA, VIRGINICA]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == 1
    assert [p["label"] for p in body["predictions"]] == [0, 2]
    assert billed(body["usage"]) == {"items": 2}
    assert np.isclose(sum(body["predictions"][0]["probabilities"]), 1.0)
    assert response.headers["x-request-id"]


def test_v2_raw_json_inference(http: httpx.Client, iris_deployed: str) -> None:
    assert http.get("/v2/health/live").status_code == 200
    assert http.get("/v2/health/ready").json() == {"ready": True}
    assert http.get("/v2/models/iris/ready").status_code == 200
    metadata = http.get("/v2/models/iris").json()
    assert metadata["inputs"][0]["shape"] == [-1, 4]
    request = {
        "inputs": [
            {"name": "input", "shape": [2, 4], "datatype": "FP32", "data": SETOSA + VIRGINICA}
        ]
    }
    response = http.post("/v2/models/iris/versions/1/infer", json=request)
    assert response.status_code == 200, response.text
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    assert outputs["label"]["data"] == [0, 2]
    assert outputs["probabilities"]["shape"] == [2, 3]


def test_v2_with_the_standard_triton_client(server, iris_deployed: str) -> None:  # type: ignore[no-untyped-def]
    tritonclient_http = pytest.importorskip("tritonclient.http")
    client = tritonclient_http.InferenceServerClient(server.url.removeprefix("http://"))
    assert client.is_server_live()
    assert client.is_model_ready("iris")
    tensor = tritonclient_http.InferInput("input", [2, 4], "FP32")
    tensor.set_data_from_numpy(np.array([SETOSA, VIRGINICA], dtype=np.float32))
    result = client.infer("iris", [tensor])
    assert result.as_numpy("label").tolist() == [0, 2]
    assert result.as_numpy("probabilities").shape == (2, 3)
    client.close()


def test_alias_swap_under_concurrent_load_fails_nothing(
    http: httpx.Client,
    server,
    iris_artifacts: tuple[Path, Path],  # type: ignore[no-untyped-def]
) -> None:
    http.post("/v1/registry/models", json={"name": "flower", "task": "classification"})
    for artifact in iris_artifacts:
        assert push(http, "flower", artifact).status_code == 201
    assert (
        http.put("/v1/registry/models/flower/aliases/production", json={"version": 1}).status_code
        == 200
    )
    assert deploy(http, model="flower", alias="production", instances=2).status_code == 201

    stop = threading.Event()
    statuses: Counter[int] = Counter()
    versions: list[int] = []

    def hammer() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for _ in range(2000):  # bounded, in case the stop signal never comes
                if stop.is_set():
                    return
                response = client.post("/v1/models/flower:predict", json={"instances": [SETOSA]})
                statuses[response.status_code] += 1
                if response.status_code == 200:
                    versions.append(response.json()["version"])

    threads = [threading.Thread(target=hammer) for _ in range(6)]
    for thread in threads:
        thread.start()
    try:
        moved = http.put("/v1/registry/models/flower/aliases/production", json={"version": 2})
        assert moved.status_code == 200, moved.text
        deadline_hits = len(versions) + 30
        while len(versions) < deadline_hits and any(t.is_alive() for t in threads):
            threading.Event().wait(0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert set(statuses) == {200}, statuses
    assert versions[0] == 1
    assert versions[-1] == 2
    assert http.get("/v1/deployments/flower").json()["served_version"] == 2


def test_scale_and_undeploy_while_running(http: httpx.Client, iris_deployed: str) -> None:
    scaled = http.patch("/v1/deployments/iris", json={"instances": 2})
    assert scaled.status_code == 200, scaled.text
    assert scaled.json()["ready_instances"] == 2
    assert http.post("/v1/models/iris:predict", json={"instances": [SETOSA]}).status_code == 200
    assert http.delete("/v1/deployments/iris").status_code == 204
    gone = http.post("/v1/models/iris:predict", json={"instances": [SETOSA]})
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "deployment_not_found"


def test_metrics_report_requests_and_batches(http: httpx.Client, iris_deployed: str) -> None:
    for _ in range(3):
        http.post("/v1/models/iris:predict", json={"instances": [SETOSA]})
    text = http.get("/metrics").text
    assert 'modelmart_batch_size_count{deployment="iris"} 3.0' in text
    assert 'modelmart_queue_depth{deployment="iris"} 0.0' in text
    ready = next(line for line in text.splitlines() if line.startswith("modelmart_ready_inst"))
    desired = ready.replace("ready", "desired")  # a fixed count: as many wanted as ready
    assert desired in text
    assert 'route="/v1/models/{name}:predict"' in text


def test_openapi_docs_are_served(http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()
    assert "/v1/models/{name}:predict" in spec["paths"]
    assert http.get("/docs").status_code == 200
