"""The OpenAI-compatible routes against fake endpoints: shapes, encodings and error bodies."""

import base64
from collections.abc import AsyncIterator

import numpy as np
import pytest
from httpx import AsyncClient

from modelmart.arrays import Batch
from modelmart.errors import DeploymentNotFound, InferenceTimeout, InvalidRequest
from modelmart.gateway.openai_errors import openai_error_body
from tests.unit.gateway.route_fakes import (
    CREATED,
    EMBEDDER,
    FakeEndpoint,
    app_with,
    client_for,
    energy,
    fake_endpoints,
)


@pytest.fixture
def endpoints() -> dict[str, FakeEndpoint]:
    return fake_endpoints()


@pytest.fixture
async def http(endpoints: dict[str, FakeEndpoint]) -> AsyncIterator[AsyncClient]:
    async with client_for(app_with(endpoints)) as client:
        yield client


def openai_error(body: dict, code: str, param: str | None = None) -> str:
    """The message of an OpenAI error body, after checking its other fields."""
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["code"], error["param"]) == (code, param)
    assert error["type"] == "invalid_request_error"
    return str(error["message"])


async def test_models_lists_every_serving_deployment(http: AsyncClient) -> None:
    listing = (await http.get("/v1/models")).json()
    assert listing["object"] == "list"
    assert [model["id"] for model in listing["data"]] == [
        "embedder",
        "iris",
        "langid",
        "vader-sentiment",
    ]
    created = int(CREATED.timestamp())
    assert listing["data"][0] == {
        "id": "embedder",
        "object": "model",
        "created": created,
        "owned_by": "modelmart",
    }
    one = await http.get("/v1/models/langid")
    assert one.json() == {
        "id": "langid",
        "object": "model",
        "created": created,
        "owned_by": "modelmart",
    }


async def test_an_unknown_model_is_openai_model_not_found(http: AsyncClient) -> None:
    response = await http.get("/v1/models/gpt-4")
    assert response.status_code == 404
    assert "no deployment named 'gpt-4'" in openai_error(response.json(), "model_not_found")


async def test_embeddings_as_floats(http: AsyncClient, endpoints: dict[str, FakeEndpoint]) -> None:
    response = await http.post(
        "/v1/embeddings",
        json={"model": "embedder", "input": ["hi", "there"], "encoding_format": "float"},
    )
    assert response.status_code == 200
    assert response.json() == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [2.0, 0.5, -1.0]},
            {"object": "embedding", "index": 1, "embedding": [5.0, 0.5, -1.0]},
        ],
        "model": "embedder",
        "usage": {"prompt_tokens": 4, "total_tokens": 4, **energy()},
    }
    assert endpoints["embedder"].batches[0]["text"].tolist() == ["hi", "there"]


async def test_embeddings_as_base64_little_endian_float32(http: AsyncClient) -> None:
    body = {"model": "embedder", "input": "one text", "encoding_format": "base64"}
    data = (await http.post("/v1/embeddings", json=body)).json()["data"]
    assert len(data) == 1
    raw = base64.b64decode(data[0]["embedding"])
    assert np.frombuffer(raw, dtype="<f4").tolist() == [8.0, 0.5, -1.0]


async def test_without_a_tokens_output_usage_counts_words(
    endpoints: dict[str, FakeEndpoint],
) -> None:
    def vectors_only(texts: list[str]) -> Batch:
        return {"embedding": np.ones((len(texts), 3), dtype=np.float64)}

    endpoints["plain"] = FakeEndpoint("plain", EMBEDDER, vectors_only)
    async with client_for(app_with(endpoints)) as http:
        body = {"model": "plain", "input": ["three words here", "two  words"]}
        response = (await http.post("/v1/embeddings", json=body)).json()
    assert response["usage"] == {"prompt_tokens": 5, "total_tokens": 5, **energy()}
    assert response["data"][1]["embedding"] == [1.0, 1.0, 1.0]


async def test_dimensions_must_be_the_models_own(
    http: AsyncClient, endpoints: dict[str, FakeEndpoint]
) -> None:
    same = await http.post(
        "/v1/embeddings", json={"model": "embedder", "input": "a", "dimensions": 3}
    )
    assert same.status_code == 200
    other = await http.post(
        "/v1/embeddings", json={"model": "embedder", "input": "a", "dimensions": 2}
    )
    assert other.status_code == 400
    message = openai_error(other.json(), "invalid_request", "dimensions")
    assert "returns 3 dimensions and cannot shorten them" in message
    assert len(endpoints["embedder"].batches) == 1  # refused before running the model


async def test_dimensions_are_checked_after_running_when_the_signature_leaves_them_open(
    endpoints: dict[str, FakeEndpoint],
) -> None:
    open_width = EMBEDDER.model_copy(
        update={
            "outputs": (EMBEDDER.outputs[0].model_copy(update={"shape": (-1, -1)}),),
        }
    )
    endpoints["open"] = FakeEndpoint("open", open_width, endpoints["embedder"].run)
    async with client_for(app_with(endpoints)) as http:
        body = {"model": "open", "input": "a", "dimensions": 384}
        response = await http.post("/v1/embeddings", json=body)
    assert response.status_code == 400
    assert "returns 3 dimensions" in openai_error(response.json(), "invalid_request", "dimensions")


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        ({"model": "embedder", "input": []}, "input", "'input' is an empty list"),
        ({"model": "embedder", "input": ""}, "input", "'input' is blank"),
        ({"model": "embedder", "input": [[101, 2023]]}, "input", "text only"),
        ({"model": "embedder"}, "input", "input: Field required"),
        (
            {"model": "embedder", "input": "a", "encoding_format": "int8"},
            "encoding_format",
            "encoding_format: Input should be 'float' or 'base64'",
        ),
        ({"model": "embedder", "input": "a", "temperature": 1}, "temperature", "Extra inputs"),
    ],
)
async def test_bad_requests_are_openai_400s(
    http: AsyncClient, body: dict, param: str, message: str
) -> None:
    response = await http.post("/v1/embeddings", json=body)
    assert response.status_code == 400
    code = "invalid_request"
    assert message in openai_error(response.json(), code, param)


async def test_a_body_that_is_not_json_is_an_openai_400(http: AsyncClient) -> None:
    response = await http.post(
        "/v1/embeddings", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "JSON" in openai_error(response.json(), "invalid_request")


async def test_embedding_with_an_unknown_or_unfit_model(http: AsyncClient) -> None:
    missing = await http.post("/v1/embeddings", json={"model": "nope", "input": "a"})
    assert missing.status_code == 404
    assert "deploy the model with POST /v1/deployments" in openai_error(
        missing.json(), "model_not_found", "model"
    )
    wrong = await http.post("/v1/embeddings", json={"model": "vader-sentiment", "input": "a"})
    assert wrong.status_code == 400
    message = openai_error(wrong.json(), "invalid_request", "model")
    assert "cannot do embeddings" in message
    assert "such as minilm-int8 or minilm; deployed models that fit: ['embedder']" in message


async def test_a_bug_still_answers_in_openai_shape(endpoints: dict[str, FakeEndpoint]) -> None:
    def broken(texts: list[str]) -> Batch:
        raise RuntimeError("boom")

    endpoints["embedder"].run = broken
    async with client_for(app_with(endpoints)) as http:
        response = await http.post("/v1/embeddings", json={"model": "embedder", "input": "a"})
    assert response.status_code == 500
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("server_error", "internal_error")
    assert "RuntimeError" in error["message"]


async def test_the_rest_of_the_api_keeps_modelmarts_error_shape(http: AsyncClient) -> None:
    response = await http.post("/v1/models/nope:predict", json={"instances": ["a"]})
    assert response.status_code == 404
    assert set(response.json()["error"]) == {"code", "message", "details"}


def test_error_types_follow_the_status() -> None:
    assert openai_error_body(InferenceTimeout("slow"))["error"]["type"] == "server_error"
    assert openai_error_body(DeploymentNotFound("x"))["error"]["code"] == "model_not_found"
    body = openai_error_body(InvalidRequest("bad", details={"param": 3}))
    assert body["error"]["param"] is None
