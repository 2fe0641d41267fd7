"""Energy per request through the real server, on every inference route: each response says
what its request used (more than 0 J), and the ledger, the usage API and the invoice add up to
exactly what the responses said."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from modelmart.billing.ledger import Ledger
from modelmart.catalog.vision_sets import encode, photo
from modelmart.store.db import create_engine_for, session_factory
from tests.integration.billing.conftest import (
    Org,
    client_for,
    make_org,
    secure_settings,
    serve_iris,
)
from tests.integration.servers import LiveServer, live_server

IRIS = "energy:iris"
ROW = [5.1, 3.5, 1.4, 0.2]
CATALOGUE = {
    "vader-sentiment": "thread",
    "minilm-int8": "thread",
    "mobilenet-v2": "thread",
    "hibari-tts": "thread",
    "pocketsphinx-en": "process",  # measured in a worker process
    "smollm2-135m-instruct": "process",
}


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, iris_file: Path
) -> Iterator[tuple[LiveServer, Org]]:
    data_dir = tmp_path_factory.mktemp("energy") / "data"
    settings = secure_settings(data_dir, grid_intensity_g_per_kwh=250.0)
    with live_server(settings) as server:
        with client_for(server, "mm_0123456789ab_operator-secret-for-tests") as operator:
            org = make_org(operator, "energy")
        with org.client(server) as client:
            client.timeout = httpx.Timeout(300)
            serve_iris(client, "iris", iris_file)
            for model, isolation in CATALOGUE.items():
                body = {"model": model, "isolation": isolation}
                deployed = client.post("/v1/deployments", json=body)
                assert deployed.status_code == 201, deployed.text
        yield server, org


def _joules(usage: dict[str, object]) -> Decimal:
    assert usage["energy_method"] in {"rapl", "cpu-time-estimate"}, usage
    joules = Decimal(str(usage["energy_joules"]))
    assert joules > 0, usage
    grams = usage["co2e_grams"]
    assert isinstance(grams, float)
    assert grams == pytest.approx(float(joules) / 3_600_000 * 250.0)
    return joules


def _every_route(client: httpx.Client) -> dict[str, Decimal]:
    """Joules each inference route's response reported."""
    said: dict[str, Decimal] = {}
    rows = {"instances": [ROW, ROW]}
    said["predict"] = _joules(client.post("/v1/models/iris:predict", json=rows).json()["usage"])
    tensor = {"name": "input", "shape": [1, 4], "datatype": "FP32", "data": ROW}
    v2 = client.post("/v2/models/iris/infer", json={"inputs": [tensor]})
    said["v2"] = _joules(v2.json()["usage"])
    sentiment = client.post("/v1/tasks/sentiment", json={"input": ["great", "awful"]})
    said["tasks"] = _joules(sentiment.json()["usage"])
    embedded = client.post("/v1/embeddings", json={"model": "minilm-int8", "input": ["a", "b"]})
    said["embeddings"] = _joules(embedded.json()["usage"])
    image = {"input": base64.b64encode(encode(photo("chelsea"), "JPEG")).decode()}
    vision = client.post("/v1/tasks/image-classification", json=image)
    said["vision"] = _joules(vision.json()["usage"])
    speech = client.post("/v1/audio/speech", json={"model": "hibari-tts", "input": "Hello."})
    assert speech.status_code == 200, speech.text
    assert speech.headers["x-energy-method"] in {"rapl", "cpu-time-estimate"}
    said["speech"] = Decimal(speech.headers["x-energy-joules"])
    assert said["speech"] > 0
    files = {"file": ("hello.wav", speech.content)}
    heard = client.post("/v1/audio/transcriptions", data={"model": "pocketsphinx-en"}, files=files)
    said["transcription"] = _joules(heard.json()["usage"])
    spoken = client.post("/v1/tasks/speech", json={"input": ["Hi."]})
    said["speech task"] = _joules(spoken.json()["usage"])
    encoded = base64.b64encode(speech.content).decode()
    transcribed = client.post("/v1/tasks/transcription", json={"input": [encoded]})
    said["transcription task"] = _joules(transcribed.json()["usage"])
    said.update(_generation_routes(client))
    return said


def _generation_routes(client: httpx.Client) -> dict[str, Decimal]:
    chat = {
        "model": "smollm2-135m-instruct",
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 4,
        "temperature": 0,
    }
    said = {"chat": _joules(client.post("/v1/chat/completions", json=chat).json()["usage"])}
    streamed = {**chat, "stream": True, "stream_options": {"include_usage": True}}
    with client.stream("POST", "/v1/chat/completions", json=streamed) as response:
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    final = json.loads(events[-2])  # the usage chunk, then [DONE]
    said["chat stream"] = _joules(final["usage"])
    prompt = {"model": "smollm2-135m-instruct", "prompt": "Once", "max_tokens": 3}
    said["completions"] = _joules(client.post("/v1/completions", json=prompt).json()["usage"])
    return said


def _energy_so_far(server: LiveServer, client: httpx.Client) -> tuple[Decimal, ...]:
    """Joules in the usage API, the invoice and the ledger, and the ledger's record count."""
    usage = client.get("/v1/usage", params={"group_by": "model"}).json()["usage"]
    reported = sum((Decimal(r["quantity"]) for r in usage if r["unit"] == "energy_joules"), 0)
    month = datetime.now(UTC).strftime("%Y-%m")
    invoice = client.get(f"/v1/orgs/energy/invoices/{month}").json()
    assert all(line["unit"] != "energy_joules" for line in invoice["lines"])  # never charged
    engine = create_engine_for(server.settings.resolved_database_url)
    try:
        ledger = Ledger(session_factory(engine))
        records = list(ledger.rows(None, datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC)))
    finally:
        engine.dispose()
    in_ledger = Decimal(sum(record.energy_uj for record in records)).scaleb(-6)
    return Decimal(reported), Decimal(invoice["energy_joules"]), in_ledger, Decimal(len(records))


def test_every_route_reports_energy_and_it_adds_up_everywhere(
    served: tuple[LiveServer, Org],
) -> None:
    server, org = served
    with org.client(server) as client:
        client.timeout = httpx.Timeout(300)
        before = _energy_so_far(server, client)
        said = _every_route(client)
        after = _energy_so_far(server, client)
        method = client.get("/v1/energy/method").json()
    total = sum(said.values(), Decimal(0))
    added = [later - earlier for earlier, later in zip(before, after, strict=True)]
    assert added == [total, total, total, len(said)]  # usage API, invoice, ledger, records
    assert method["method"] in {"rapl", "cpu-time-estimate"}
    assert method["grid_intensity_g_per_kwh"] == 250.0


def test_the_joules_counter_per_deployment(served: tuple[LiveServer, Org]) -> None:
    server, org = served
    with org.client(server) as client:
        assert client.post("/v1/models/iris:predict", json={"instances": [ROW]}).status_code == 200
        text = client.get("/v1/metrics").text
    samples = {
        line.split("{")[1].split("}")[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("modelmart_energy_joules_total{")
    }
    assert samples[f'deployment="{IRIS}"'] > 0
