"""The entities and translation task routes against fake endpoints: their options, defaults
and errors."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator

import numpy as np
import pytest
from httpx import AsyncClient

from modelmart.arrays import Batch
from modelmart.types import Datatype
from tests.unit.gateway.route_fakes import (
    FakeEndpoint,
    app_with,
    client_for,
    energy,
    fake_endpoints,
    text_signature,
)

ENTITIES = text_signature(("entities", Datatype.BYTES, (-1,)), ("redacted", Datatype.BYTES, (-1,)))
TRANSLATION = text_signature(("translation", Datatype.BYTES, (-1,)))


def find_emails(texts: list[str]) -> Batch:
    """Every word with an @ is an e-mail address."""
    found, redacted = [], []
    for text in texts:
        spans, words, cursor = [], [], 0
        for word in text.split(" "):
            if "@" in word:
                spans.append({"type": "EMAIL_ADDRESS", "start": cursor,
                              "end": cursor + len(word), "text": word, "score": 1.0})  # fmt: skip
            words.append("<EMAIL_ADDRESS>" if "@" in word else word)
            cursor += len(word) + 1
        found.append(json.dumps(spans).encode())  # workers may return bytes
        redacted.append(" ".join(words))
    return {"entities": np.array(found, object), "redacted": np.array(redacted, object)}


def shout(texts: list[str]) -> Batch:
    return {"translation": np.array([text.upper() for text in texts], dtype=object)}


def translator(name: str, **parameters: str) -> FakeEndpoint:
    endpoint = FakeEndpoint(name, TRANSLATION, shout)
    load = dataclasses.replace(endpoint.spec.target.load, parameters=parameters)
    target = dataclasses.replace(endpoint.spec.target, load=load)
    endpoint.spec = dataclasses.replace(endpoint.spec, target=target)
    return endpoint


@pytest.fixture
def endpoints() -> dict[str, FakeEndpoint]:
    return {
        **fake_endpoints(),
        "pii-detector": FakeEndpoint("pii-detector", ENTITIES, find_emails),
        "apertium-en-es": translator("apertium-en-es", source="en", target="es"),
        "apertium-es-en": translator("apertium-es-en", source="es", target="en"),
        "my-translator": translator("my-translator"),
    }


@pytest.fixture
async def http(endpoints: dict[str, FakeEndpoint]) -> AsyncIterator[AsyncClient]:
    async with client_for(app_with(endpoints)) as client:
        yield client


async def test_entities_default_to_the_pii_detector(http: AsyncClient) -> None:
    text = "write to ana@example.com today"
    response = await http.post("/v1/tasks/entities", json={"input": text})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "model": "pii-detector",
        "version": 3,
        "results": [
            {
                "entities": [
                    {
                        "type": "EMAIL_ADDRESS",
                        "start": 9,
                        "end": 24,
                        "text": "ana@example.com",
                        "score": 1.0,
                    }
                ],
            }
        ],
        "usage": {"items": 1, "characters": len(text), **energy()},
    }


async def test_entities_can_return_the_redacted_text(http: AsyncClient) -> None:
    body = {"input": ["a@b.co and c@d.co", "nothing here"], "redact": True}
    results = (await http.post("/v1/tasks/entities", json=body)).json()["results"]
    assert [r["redacted"] for r in results] == [
        "<EMAIL_ADDRESS> and <EMAIL_ADDRESS>",
        "nothing here",
    ]
    assert [len(r["entities"]) for r in results] == [2, 0]


async def test_entities_refuse_a_model_of_another_kind(http: AsyncClient) -> None:
    response = await http.post("/v1/tasks/entities", json={"model": "langid", "input": "hi"})
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "model 'langid' cannot do entity detection" in message
    assert "deployed models that fit: ['pii-detector']" in message


async def test_translation_picks_the_catalogue_model_for_the_pair(
    http: AsyncClient, endpoints: dict[str, FakeEndpoint]
) -> None:
    body = {"input": ["hola", "adiós"], "source": "es", "target": "en"}
    response = await http.post("/v1/tasks/translation", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "model": "apertium-es-en",
        "version": 3,
        "results": [
            {"translation": "HOLA", "source": "es", "target": "en"},
            {"translation": "ADIÓS", "source": "es", "target": "en"},
        ],
        "usage": {"items": 2, "characters": 9, **energy()},
    }
    assert endpoints["apertium-en-es"].batches == []


async def test_an_unknown_pair_is_a_400_listing_the_pairs(http: AsyncClient) -> None:
    body = {"input": "bonjour", "source": "fr", "target": "en"}
    response = await http.post("/v1/tasks/translation", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert "no built-in model translates fr->en" in error["message"]
    assert error["details"]["pairs"] == ["en->es", "es->en"]


async def test_the_same_language_twice_is_a_400(http: AsyncClient) -> None:
    body = {"input": "hello", "source": "en", "target": "en"}
    response = await http.post("/v1/tasks/translation", json=body)
    assert response.status_code == 400
    assert "both 'en'" in response.json()["error"]["message"]


async def test_a_deployment_of_the_other_direction_is_refused_before_it_runs(
    http: AsyncClient, endpoints: dict[str, FakeEndpoint]
) -> None:
    body = {"model": "apertium-es-en", "input": "hello", "source": "en", "target": "es"}
    response = await http.post("/v1/tasks/translation", json=body)
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert message == "model 'apertium-es-en' translates es->en, not en->es; use apertium-en-es"
    assert endpoints["apertium-es-en"].batches == []


async def test_a_deployment_that_declares_no_languages_is_trusted(http: AsyncClient) -> None:
    body = {"model": "my-translator", "input": "salut", "source": "fr", "target": "en"}
    response = await http.post("/v1/tasks/translation", json=body)
    assert response.status_code == 200
    assert response.json()["results"] == [{"translation": "SALUT", "source": "fr", "target": "en"}]


async def test_translation_needs_both_languages(http: AsyncClient) -> None:
    response = await http.post("/v1/tasks/translation", json={"input": "hello"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_failed"


async def test_an_undeployed_translator_is_named_in_the_404(
    endpoints: dict[str, FakeEndpoint],
) -> None:
    del endpoints["apertium-en-es"]
    async with client_for(app_with(endpoints)) as http:
        body = {"input": "hello", "source": "en", "target": "es"}
        response = await http.post("/v1/tasks/translation", json=body)
    assert response.status_code == 404
    message = response.json()["error"]["message"]
    assert "no deployment named 'apertium-en-es' is serving" in message
    assert "deploy the model with POST /v1/deployments" in message


async def test_the_documented_examples_carry_the_options(http: AsyncClient) -> None:
    paths = (await http.get("/openapi.json")).json()["paths"]
    example = paths["/v1/tasks/translation"]["post"]["requestBody"]["content"]
    assert example["application/json"]["example"]["source"] == "en"
    entities = paths["/v1/tasks/entities"]["post"]["requestBody"]["content"]["application/json"]
    assert entities["example"]["redact"] is True
