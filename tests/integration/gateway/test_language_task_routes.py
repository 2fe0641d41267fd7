"""The entities and translation task routes through a real server and the catalogue's real
models: Presidio with spaCy, and the apertium program (skipped where it is not installed)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import httpx
import pytest

from modelmart import Settings
from tests.integration.energy import billed
from tests.integration.servers import LiveServer, live_server

HAS_APERTIUM = shutil.which("apertium") is not None
needs_apertium = pytest.mark.skipif(
    not HAS_APERTIUM, reason="needs the apertium program: apt-get install apertium apertium-eng-spa"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The catalogue's pii-detector and, where apertium is installed, both translators."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("language") / "data", json_logs=False)
    models = ["pii-detector", "langid"]
    if HAS_APERTIUM:
        models += ["apertium-en-es", "apertium-es-en"]
    with live_server(settings) as running:
        for model in models:
            body = {"model": model, "isolation": "thread"}
            response = httpx.post(f"{running.url}/v1/deployments", json=body, timeout=120)
            assert response.status_code == 201, response.text
        yield running


@pytest.fixture
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


def test_entities_with_offsets_and_redaction(http: httpx.Client) -> None:
    texts = ["Email ana.ruiz@example.com or call 212-555-0123.", "Nothing personal here."]
    response = http.post("/v1/tasks/entities", json={"input": texts, "redact": True})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["version"]) == ("pii-detector", 1)
    first, second = body["results"]
    assert [(e["type"], e["text"]) for e in first["entities"]] == [
        ("EMAIL_ADDRESS", "ana.ruiz@example.com"),
        ("PHONE_NUMBER", "212-555-0123"),
    ]
    assert first["entities"][0]["start"] == texts[0].index("ana")
    assert first["redacted"] == "Email <EMAIL_ADDRESS> or call <PHONE_NUMBER>."
    assert second == {"entities": [], "redacted": "Nothing personal here."}
    assert billed(body["usage"]) == {"items": 2, "characters": sum(len(text) for text in texts)}


def test_entities_without_redaction_return_only_the_entities(http: httpx.Client) -> None:
    response = http.post("/v1/tasks/entities", json={"input": "Jane Doe lives in Boston."})
    (result,) = response.json()["results"]
    assert set(result) == {"entities"}
    assert [(e["type"], e["text"]) for e in result["entities"]] == [
        ("PERSON", "Jane Doe"),
        ("LOCATION", "Boston"),
    ]


def test_entity_errors(http: httpx.Client) -> None:
    blank = http.post("/v1/tasks/entities", json={"input": ""})
    assert blank.status_code == 400
    wrong = http.post("/v1/tasks/entities", json={"model": "langid", "input": "hi"})
    assert wrong.status_code == 400
    assert "deployed models that fit: ['pii-detector']" in wrong.json()["error"]["message"]
    unknown = http.post("/v1/tasks/entities", json={"model": "nope", "input": "hi"})
    assert unknown.status_code == 404


@needs_apertium
def test_translation_both_ways(http: httpx.Client) -> None:
    to_spanish = http.post(
        "/v1/tasks/translation",
        json={
            "input": ["The house is red.", "Thank you very much."],
            "source": "en",
            "target": "es",
        },
    )
    assert to_spanish.status_code == 200, to_spanish.text
    body = to_spanish.json()
    assert (body["model"], body["version"]) == ("apertium-en-es", 1)
    assert [r["translation"] for r in body["results"]] == ["La casa es roja.", "Muchas gracias."]
    assert body["results"][0]["source"] == "en"
    assert billed(body["usage"]) == {"items": 2, "characters": 37}
    to_english = http.post(
        "/v1/tasks/translation", json={"input": "La casa es roja.", "source": "es", "target": "en"}
    )
    assert to_english.json()["model"] == "apertium-es-en"
    assert to_english.json()["results"][0]["translation"] == "The house is red."


@needs_apertium
def test_translation_errors(http: httpx.Client) -> None:
    pair = http.post(
        "/v1/tasks/translation", json={"input": "Hello", "source": "en", "target": "de"}
    )
    assert pair.status_code == 400
    assert "the catalogue translates en->es, es->en" in pair.json()["error"]["message"]
    direction = http.post(
        "/v1/tasks/translation",
        json={"model": "apertium-es-en", "input": "Hello", "source": "en", "target": "es"},
    )
    assert direction.status_code == 400
    assert "use apertium-en-es" in direction.json()["error"]["message"]
    wrong_kind = http.post(
        "/v1/tasks/translation",
        json={"model": "pii-detector", "input": "Hello", "source": "en", "target": "es"},
    )
    assert wrong_kind.status_code == 400
    assert "cannot do translation" in wrong_kind.json()["error"]["message"]
