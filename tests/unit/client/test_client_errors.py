"""Error bodies, odd answers and unreachable servers become ModelMart errors in both clients."""

from __future__ import annotations

import httpx
import pytest

from modelmart.client import AsyncClient, Client
from modelmart.errors import (
    InferenceTimeout,
    ModelMartError,
    ModelNotFound,
    NotReady,
    PayloadTooLarge,
    SchemaMismatch,
    UnsafeFormat,
    all_error_classes,
)

from .client_fakes import BASE_URL, FakeServer

MODELS = "/v1/registry/models"


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda cls: cls.code)
def test_every_error_code_raises_its_own_class(mm, server: FakeServer, cls):
    server.fail("GET", f"{MODELS}/iris", cls.status, cls.code, "what happened")

    with pytest.raises(cls) as caught:
        mm.get_model("iris")

    assert type(caught.value) is cls
    assert caught.value.message == "what happened"
    assert caught.value.details == {"hint": "x"}


def test_subclasses_are_caught_by_their_parents(mm, server: FakeServer):
    server.fail("GET", f"{MODELS}/iris", 404, "model_not_found")
    server.fail("GET", f"{MODELS}/x", 415, "unsafe_format")

    with pytest.raises(ModelMartError):
        mm.get_model("iris")
    with pytest.raises(UnsafeFormat):
        mm.get_model("x")


def test_an_unknown_code_keeps_the_code_and_status(mm, server: FakeServer):
    server.fail("GET", f"{MODELS}/iris", 418, "teapot", "short and stout")

    with pytest.raises(ModelMartError, match="short and stout") as caught:
        mm.get_model("iris")

    assert type(caught.value) is ModelMartError
    assert caught.value.details == {"hint": "x", "code": "teapot", "status": 418}


@pytest.mark.parametrize(
    ("status", "answer"),
    [(502, {"text": "<html>Bad Gateway</html>"}), (404, {"json": {"detail": "Not Found"}}),
     (500, {})],
    ids=["html", "foreign-json", "empty"],
)  # fmt: skip
def test_a_body_that_is_no_error_body_raises_the_base_error(mm, server, status, answer):
    server.on("GET", f"{MODELS}/iris", status, **answer)

    with pytest.raises(ModelMartError) as caught:
        mm.get_model("iris")

    assert type(caught.value) is ModelMartError
    assert f"HTTP {status}" in caught.value.message
    assert caught.value.details["status"] == status


def test_html_error_text_is_quoted(mm, server: FakeServer):
    server.on("GET", f"{MODELS}/iris", 502, text="<html>Bad Gateway</html>")

    with pytest.raises(ModelMartError, match="Bad Gateway"):
        mm.get_model("iris")


def test_a_success_that_is_not_the_promised_shape_is_reported(mm, server: FakeServer):
    server.on("GET", f"{MODELS}/iris", json={"unexpected": True})
    server.on("GET", MODELS, json=[1, 2])

    with pytest.raises(ModelMartError, match="does not describe a ModelInfo"):
        mm.get_model("iris")
    with pytest.raises(ModelMartError, match="has no 'models' list"):
        mm.list_models()


def _raising(exc_type):
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc_type("nope", request=request)

    return httpx.MockTransport(handler)


@pytest.mark.parametrize("exc_type", [httpx.ConnectError, httpx.ConnectTimeout])
def test_an_unreachable_server_says_how_to_start_one(exc_type):
    client = Client(BASE_URL, transport=_raising(exc_type))
    with client, pytest.raises(NotReady, match="modelmart serve") as caught:
        client.list_models()
    assert BASE_URL in caught.value.message
    assert caught.value.details["url"] == f"{BASE_URL}/v1/registry/models"


def test_a_slow_server_says_to_raise_the_timeout():
    client = Client(BASE_URL, transport=_raising(httpx.ReadTimeout))
    with client, pytest.raises(NotReady, match="larger timeout"):
        client.health()


async def test_the_async_client_maps_the_same_failures():
    async with AsyncClient(BASE_URL, transport=_raising(httpx.ConnectError)) as client:
        with pytest.raises(NotReady, match="modelmart serve"):
            await client.health()


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (413, "payload_too_large", PayloadTooLarge),
        (504, "inference_timeout", InferenceTimeout),
        (422, "schema_mismatch", SchemaMismatch),
        (404, "model_not_found", ModelNotFound),
    ],
)
async def test_async_errors_carry_message_and_details(server: FakeServer, status, code, cls):
    server.fail("POST", "/v1/models/iris:predict", status, code, "explained")

    async with AsyncClient(BASE_URL, transport=server.transport()) as client:
        with pytest.raises(cls, match="explained") as caught:
            await client.predict("iris", [[1]])
    assert caught.value.details == {"hint": "x"}
