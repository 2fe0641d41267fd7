"""Task routes and OpenAI embeddings through the built-in catalogue's real models."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import numpy as np
import openai
import pytest

from modelmart import Settings
from tests.integration.energy import billed
from tests.integration.servers import LiveServer, live_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The catalogue's VADER, langid and int8 MiniLM, deployed in the server process."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("tasks") / "data", json_logs=False)
    with live_server(settings) as running:
        for model in ("vader-sentiment", "langid", "minilm-int8"):
            body = {"model": model, "isolation": "thread"}
            response = httpx.post(f"{running.url}/v1/deployments", json=body, timeout=120)
            assert response.status_code == 201, response.text
        yield running


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def test_sentiment_with_the_default_model(http: httpx.Client) -> None:
    texts = ["I love this phone, it is great!", "This is the worst day ever.", "It is a table."]
    response = http.post("/v1/tasks/sentiment", json={"input": texts})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["version"]) == ("vader-sentiment", 1)
    assert [result["label"] for result in body["results"]] == ["positive", "negative", "neutral"]
    love = body["results"][0]
    assert 0.5 < love["score"] <= 1
    assert set(love["scores"]) == {"negative", "neutral", "positive"}
    assert sum(love["scores"].values()) == pytest.approx(1, abs=0.01)
    assert billed(body["usage"]) == {"items": 3, "characters": sum(len(text) for text in texts)}


def test_language_identification(http: httpx.Client) -> None:
    texts = ["Ceci n'est pas une pipe.", "Das ist ein Haus.", "This is a house."]
    response = http.post("/v1/tasks/language", json={"model": "langid", "input": texts})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [result["language"] for result in results] == ["fr", "de", "en"]
    assert all(0 < result["probability"] <= 1 for result in results)


def test_task_errors(http: httpx.Client) -> None:
    blank = http.post("/v1/tasks/language", json={"input": "   "})
    assert blank.status_code == 400
    assert "blank" in blank.json()["error"]["message"]
    wrong = http.post("/v1/tasks/sentiment", json={"model": "langid", "input": "hi"})
    assert wrong.status_code == 400
    assert "deployed models that fit: ['vader-sentiment']" in wrong.json()["error"]["message"]
    missing = http.post("/v1/tasks/sentiment", json={"model": "minilm", "input": "hi"})
    assert missing.status_code == 404
    assert "no deployment named 'minilm' is serving" in missing.json()["error"]["message"]


def test_int8_embeddings_report_real_token_counts(server: LiveServer) -> None:
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0) as sdk:
        assert "minilm-int8" in [model.id for model in sdk.models.list()]
        texts = ["A man is playing a guitar.", "Someone plays an instrument.", "Markets fell."]
        response = sdk.embeddings.create(model="minilm-int8", input=texts)
    vectors = np.array([item.embedding for item in response.data])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-3)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    # The ONNX model counts its own tokens, [CLS] and [SEP] included: more than words.
    words = sum(len(text.split()) for text in texts)
    assert response.usage.prompt_tokens == response.usage.total_tokens > words
