"""POST /v1/chat/completions against fake endpoints: shapes, streaming, usage and errors."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from modelmart.gateway.routes import chat
from modelmart.gateway.usage import Usage, reported_usage
from modelmart.types import Datatype
from tests.unit.gateway.route_fakes import (
    FAKE_ENERGY_UJ,
    FakeChat,
    FakeEndpoint,
    app_with,
    embed,
    energy,
    text_signature,
)

EMBEDDING = ("embedding", Datatype.FP32, (-1, 3))
USAGE = {
    "prompt_tokens": 7,
    "completion_tokens": 3,
    "total_tokens": 10,
    "prompt_tokens_details": {"cached_tokens": 0},
    **energy(),
}


class RecordUsage:
    def __init__(self, app: FastAPI, seen: list[Usage | None]) -> None:
        self.app, self.seen = app, seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
        self.seen.append(reported_usage(scope))


@pytest.fixture
def endpoint() -> FakeChat:
    return FakeChat(["Hel", "lo", "!"])


@pytest.fixture
def seen() -> list[Usage | None]:
    return []


@pytest.fixture
async def http(
    endpoint: FakeChat, seen: list[Usage | None]
) -> AsyncGenerator[httpx.AsyncClient, None]:
    embedder = FakeEndpoint("embedder", text_signature(EMBEDDING), embed)
    deployed = {"chat": endpoint, "embedder": embedder, "broken": FakeChat(["a", "b"], 1)}
    app = app_with(deployed, modules=(chat,))
    transport = httpx.ASGITransport(app=RecordUsage(app, seen))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "chat", "messages": [{"role": "user", "content": "Hi"}], **fields}


def events(text: str) -> list[Any]:
    data = [line[len("data: ") :] for line in text.split("\n\n") if line.startswith("data: ")]
    return [item if item == "[DONE]" else json.loads(item) for item in data]


async def test_whole_answer_has_openai_shape_and_reports_usage(
    http: httpx.AsyncClient, endpoint: FakeChat, seen: list[Usage | None]
) -> None:
    response = await http.post("/v1/chat/completions", json=body(max_tokens=3, seed=1))
    assert response.status_code == 200
    answer = response.json()
    assert answer["object"] == "chat.completion"
    assert answer["id"].startswith("chatcmpl-")
    assert answer["model"] == "chat"
    assert answer["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hello!",
        "refusal": None,
    }
    assert answer["choices"][0]["finish_reason"] == "length"
    assert answer["usage"] == USAGE
    units = {"requests": 1.0, "tokens": 10.0, "prompt_tokens": 7.0, "completion_tokens": 3.0}
    assert seen == [Usage("smol", 4, units, energy_uj=FAKE_ENERGY_UJ)]
    assert endpoint.requests[0].max_tokens == 3
    assert endpoint.requests[0].seed == 1
    assert endpoint.closed == 1


async def test_stream_sends_role_content_finish_usage_then_done(
    http: httpx.AsyncClient, seen: list[Usage | None]
) -> None:
    options = {"include_usage": True}
    response = await http.post(
        "/v1/chat/completions", json=body(stream=True, stream_options=options)
    )
    assert response.headers["content-type"].startswith("text/event-stream")
    chunks = events(response.text)
    assert chunks[-1] == "[DONE]"
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks[:-2]]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"content": "Hel"},
        {"content": "lo"},
        {"content": "!"},
        {},
    ]
    assert chunks[-3]["choices"][0]["finish_reason"] == "length"
    assert all(chunk["usage"] is None for chunk in chunks[:-2])
    assert chunks[-2]["choices"] == []
    assert chunks[-2]["usage"] == USAGE
    assert len({chunk["id"] for chunk in chunks[:-1]}) == 1
    assert seen[0] is not None
    assert seen[0].units["tokens"] == 10


async def test_stream_without_usage_option_has_no_usage_chunk(http: httpx.AsyncClient) -> None:
    response = await http.post("/v1/chat/completions", json=body(stream=True))
    chunks = events(response.text)
    assert all("usage" not in chunk for chunk in chunks[:-1])
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"


async def test_a_failure_mid_stream_ends_with_an_error_event(
    http: httpx.AsyncClient, seen: list[Usage | None]
) -> None:
    response = await http.post("/v1/chat/completions", json=body(model="broken", stream=True))
    chunks = events(response.text)
    assert chunks[-1]["error"]["code"] == "worker_crashed"
    assert chunks[-1]["error"]["type"] == "server_error"
    assert chunks[-2]["choices"][0]["delta"] == {"content": "a"}
    assert seen == [None]  # nothing billed for a failed answer


async def test_a_failure_before_the_answer_is_a_plain_error(http: httpx.AsyncClient) -> None:
    response = await http.post("/v1/chat/completions", json=body(model="broken"))
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "worker_crashed"


@pytest.mark.parametrize("stream", [False, True])
async def test_context_overflow_is_400_before_the_stream(
    http: httpx.AsyncClient, stream: bool
) -> None:
    messages = [{"role": "user", "content": "too long"}]
    response = await http.post("/v1/chat/completions", json=body(messages=messages, stream=stream))
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["param"]) == ("context_length_exceeded", "messages")


@pytest.mark.parametrize(
    ("fields", "param", "fragment"),
    [
        ({"messages": []}, "messages", "'messages' is empty"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role", "'robot'"),
        ({"messages": [{"role": "function", "content": "x"}]}, "messages[0].role", "'tool'"),
        (
            {"messages": [{"role": "tool", "content": "x"}]},
            "messages[0].tool_call_id",
            "without 'tool_call_id'",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "messages[0].content",
            "text only",
        ),
        ({"n": 9}, "n", "at most 8"),
        ({"top_logprobs": 2}, "top_logprobs", "needs logprobs"),
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs", "less than or equal to 20"),
        ({"logit_bias": {"1": 5}}, "logit_bias", "Extra inputs"),
        ({"stop": ["a", "b", "c", "d", "e"]}, "stop", "up to 4"),
        ({"max_tokens": 5, "max_completion_tokens": 6}, "max_tokens", "disagree"),
        ({"temperature": 3}, "temperature", "less than or equal to 2"),
        ({"tool_choice": "required"}, "tool_choice", "needs tools"),
        ({"model": "embedder"}, "model", "not a chat model"),
    ],
)
async def test_bad_requests_get_400_naming_the_field(
    http: httpx.AsyncClient, fields: dict[str, Any], param: str, fragment: str
) -> None:
    response = await http.post("/v1/chat/completions", json=body(**fields))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"
    assert fragment in error["message"]


async def test_unknown_model_is_model_not_found(http: httpx.AsyncClient) -> None:
    response = await http.post("/v1/chat/completions", json=body(model="gpt-4o"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "model_not_found"


async def test_options_reach_the_model(http: httpx.AsyncClient, endpoint: FakeChat) -> None:
    messages = [
        {"role": "developer", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {"role": "assistant", "content": None},
    ]
    fields = {
        "messages": messages,
        "max_completion_tokens": 9,
        "temperature": 0,
        "top_p": 0.5,
        "stop": "END",
        "presence_penalty": 0.5,
        "frequency_penalty": -0.5,
        "n": 1,
        "user": "someone",
    }
    assert (await http.post("/v1/chat/completions", json=body(**fields))).status_code == 200
    sent = endpoint.requests[0]
    assert [(m.role, m.content) for m in sent.messages] == [
        ("system", "Be brief."),
        ("user", "a\nb"),
        ("assistant", ""),
    ]
    assert (sent.max_tokens, sent.temperature, sent.top_p, sent.stop) == (9, 0.0, 0.5, ("END",))
    assert (sent.presence_penalty, sent.frequency_penalty, sent.seed) == (0.5, -0.5, None)


async def test_a_client_gone_before_a_whole_answer_stops_the_model() -> None:
    endpoint = FakeChat(["word "] * 50)
    app = app_with({"chat": endpoint}, modules=(chat,))
    payload = json.dumps(body()).encode()
    incoming = [
        {"type": "http.request", "body": payload, "more_body": False},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json")],
        "server": ("test", 80),
        "client": ("test", 1234),
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == 499
    # Noticed within a few pieces: the rest were never made.
    assert endpoint.yielded < 10
    assert endpoint.closed == 1
