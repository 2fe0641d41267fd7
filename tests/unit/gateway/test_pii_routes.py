"""The PII policy on every text route: what the model receives, what the caller gets back,
the ``pii`` report beside the answer, and which policy is in force."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from starlette.requests import Request

from modelmart.gateway.pii import PII_GUARD_STATE, PiiService, guard_for, guarded_inputs
from modelmart.gateway.routes import chat, completions, inference, openai, tasks, v2
from modelmart.privacy.guard import PiiGuard
from modelmart.schemas.pii import PiiPolicy
from modelmart.serving.placement import Endpoint
from modelmart.types import Datatype, Signature, TensorSpec
from tests.unit.gateway.generation_fakes import ScriptedChat, pieces_of
from tests.unit.gateway.route_fakes import (
    EMBEDDER,
    SENTIMENT,
    FakeEndpoint,
    app_with,
    client_for,
    embed,
    fake_pii,
    sentiment,
    tenant,
)
from tests.unit.privacy.fakes import PatternDetector

MAIL = "jane.doe@example.com"
PHONE = "212-555-0198"
TEXT = f"I am Jane, mail {MAIL} or call {PHONE}."
MODULES = (inference, openai, tasks, chat, completions)


@dataclass(frozen=True)
class TextRoute:
    """A text route: how to send it ``TEXT``, and what its model received."""

    path: str
    body: dict[str, Any]
    model: str
    received: Callable[[dict[str, Endpoint]], str]


def _chat_message(endpoints: dict[str, Endpoint]) -> str:
    model = endpoints["chat"]
    assert isinstance(model, ScriptedChat)
    return model.requests[0].messages[0].content


def _chat_prompt(endpoints: dict[str, Endpoint]) -> str:
    model = endpoints["chat"]
    assert isinstance(model, ScriptedChat)
    return model.requests[0].prompt or ""


def _batch_text(name: str) -> Callable[[dict[str, Endpoint]], str]:
    def received(endpoints: dict[str, Endpoint]) -> str:
        model = endpoints[name]
        assert isinstance(model, FakeEndpoint)
        (batch,) = model.batches
        return " ".join(str(value) for value in batch["text"].tolist())

    return received


ROUTES = {
    "chat": TextRoute(
        "/v1/chat/completions",
        {"model": "chat", "messages": [{"role": "user", "content": TEXT}]},
        "chat",
        _chat_message,
    ),
    "completions": TextRoute(
        "/v1/completions", {"model": "chat", "prompt": TEXT}, "chat", _chat_prompt
    ),
    "embeddings": TextRoute(
        "/v1/embeddings",
        {"model": "embedder", "input": [TEXT]},
        "embedder",
        _batch_text("embedder"),
    ),
    "tasks": TextRoute(
        "/v1/tasks/sentiment",
        {"model": "vader-sentiment", "input": [TEXT]},
        "vader-sentiment",
        _batch_text("vader-sentiment"),
    ),
    "predict": TextRoute(
        "/v1/models/embedder:predict", {"instances": [TEXT]}, "embedder", _batch_text("embedder")
    ),
}


def endpoints(answer: str = "Fine.") -> dict[str, Endpoint]:
    return {
        "chat": ScriptedChat(pieces_of(answer)),
        "embedder": FakeEndpoint("embedder", EMBEDDER, embed),
        "vader-sentiment": FakeEndpoint("vader-sentiment", SENTIMENT, sentiment),
    }


async def _send(route: TextRoute, policy: PiiPolicy, served: dict[str, Endpoint]) -> httpx.Response:
    app = app_with(served, modules=MODULES, pii=fake_pii({route.model: policy}))
    async with client_for(app) as client:
        return await client.post(route.path, json=route.body)


@pytest.mark.parametrize("name", ROUTES)
async def test_redact_input_keeps_the_entities_from_the_model(name: str) -> None:
    route, served = ROUTES[name], endpoints()
    response = await _send(route, PiiPolicy.REDACT_INPUT, served)
    assert response.status_code == 200, response.text
    received = route.received(served)
    assert MAIL not in received
    assert PHONE not in received
    assert "<EMAIL_ADDRESS>" in received
    assert "<PHONE_NUMBER>" in received
    report = response.json()["pii"]
    assert report["policy"] == "redact-input"
    assert [e["type"] for e in report["input"][0]] == ["EMAIL_ADDRESS", "PHONE_NUMBER"]


@pytest.mark.parametrize("name", ROUTES)
async def test_detect_reports_the_entities_and_sends_the_text_as_it_is(name: str) -> None:
    route, served = ROUTES[name], endpoints()
    response = await _send(route, PiiPolicy.DETECT, served)
    assert response.status_code == 200, response.text
    assert MAIL in route.received(served)
    report = response.json()["pii"]
    assert report["policy"] == "detect"
    (found,) = report["input"]
    assert [TEXT[e["start"] : e["end"]] for e in found] == [MAIL, PHONE]
    assert MAIL not in str(report)


@pytest.mark.parametrize("name", ROUTES)
async def test_off_changes_nothing_and_reports_nothing(name: str) -> None:
    route, served = ROUTES[name], endpoints()
    response = await _send(route, PiiPolicy.OFF, served)
    assert response.status_code == 200, response.text
    assert MAIL in route.received(served)
    assert "pii" not in response.json()


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [words[0], *(f" {word}" for word in words[1:])]


ANSWER = f"Sure. Write to {MAIL} today. Or call {PHONE} now"


async def test_redact_output_removes_the_entities_from_a_chat_answer() -> None:
    served = endpoints()
    served["chat"] = ScriptedChat(pieces_of(*_words(ANSWER)))
    response = await _send(ROUTES["chat"], PiiPolicy.REDACT_OUTPUT, served)
    content = response.json()["choices"][0]["message"]["content"]
    assert content == "Sure. Write to <EMAIL_ADDRESS> today. Or call <PHONE_NUMBER> now"
    assert _chat_message(served) == TEXT  # the model read what was sent
    report = response.json()["pii"]
    assert [content[e["start"] : e["end"]] for e in report["output"][0]] == [
        "<EMAIL_ADDRESS>",
        "<PHONE_NUMBER>",
    ]


def _events(body: str) -> list[dict[str, Any]]:
    lines = [line.removeprefix("data: ") for line in body.splitlines() if line.startswith("data: ")]
    return [orjson.loads(line) for line in lines if line != "[DONE]"]


@pytest.mark.parametrize("name", ["chat", "completions"])
async def test_redact_output_removes_the_entities_from_a_streamed_answer(name: str) -> None:
    served = endpoints()
    served["chat"] = ScriptedChat(pieces_of(*_words(ANSWER)))
    route = ROUTES[name]
    streamed = TextRoute(route.path, {**route.body, "stream": True}, route.model, route.received)
    response = await _send(streamed, PiiPolicy.REDACT_OUTPUT, served)
    events = _events(response.text)
    pieces = [
        choice["delta"].get("content") or "" if name == "chat" else choice["text"]
        for event in events
        for choice in event["choices"]
    ]
    assert "".join(pieces) == "Sure. Write to <EMAIL_ADDRESS> today. Or call <PHONE_NUMBER> now"
    assert MAIL not in response.text
    assert PHONE not in response.text
    # Sent a sentence at a time: the first sentence before the model's last word.
    assert "Sure." in pieces
    assert events[-1]["pii"]["policy"] == "redact-output"


async def test_redact_output_leaves_out_the_log_probabilities() -> None:
    served = endpoints()
    served["chat"] = ScriptedChat(pieces_of(*_words(ANSWER)))
    body = {**ROUTES["chat"].body, "logprobs": True}
    route = TextRoute("/v1/chat/completions", body, "chat", _chat_message)
    response = await _send(route, PiiPolicy.REDACT_OUTPUT, served)
    assert MAIL not in response.text
    assert response.json()["choices"][0]["logprobs"]["content"] == []


async def test_redact_output_removes_the_entities_from_a_text_output() -> None:
    echo = FakeEndpoint(
        "echo", SENTIMENT, lambda texts: {**sentiment(texts), "label": _objects(texts)}
    )
    app = app_with({"echo": echo}, modules=MODULES, pii=fake_pii({"echo": PiiPolicy.REDACT_OUTPUT}))
    async with client_for(app) as client:
        response = await client.post("/v1/models/echo:predict", json={"instances": [TEXT]})
    assert response.status_code == 200, response.text
    assert MAIL not in response.text
    assert "<EMAIL_ADDRESS>" in response.json()["predictions"][0]["label"]
    (found,) = response.json()["pii"]["output"]
    assert {e["field"] for e in found} == {"label"}


def _objects(texts: list[str]) -> Any:
    return np.array(texts, dtype=object)


# --- which policy is in force ------------------------------------------------------------


def _request() -> Request:
    return Request({"type": "http", "state": {}})


@pytest.mark.parametrize(
    ("caller", "deployment", "in_force"),
    [
        (PiiPolicy.REDACT_INPUT, PiiPolicy.OFF, PiiPolicy.REDACT_INPUT),
        (PiiPolicy.OFF, PiiPolicy.DETECT, PiiPolicy.DETECT),
        (PiiPolicy.DETECT, None, PiiPolicy.DETECT),
        (PiiPolicy.REDACT_OUTPUT, PiiPolicy.REDACT_INPUT, PiiPolicy.REDACT_INPUT),
        (PiiPolicy.OFF, None, PiiPolicy.OFF),
    ],
)
def test_the_stricter_of_caller_and_deployment_is_in_force(
    caller: PiiPolicy, deployment: PiiPolicy | None, in_force: PiiPolicy
) -> None:
    detector = PatternDetector()
    policies = {} if deployment is None else {"embedder": deployment}
    pii = PiiService(lambda: detector, policies.get)
    principal = tenant("acme")
    principal = type(principal)(**{**principal.__dict__, "pii_policy": caller})
    request = _request()
    guard = guard_for(request, pii, principal, FakeEndpoint("embedder", EMBEDDER, embed))
    assert guard.policy is in_force
    assert getattr(request.state, PII_GUARD_STATE) is guard
    assert isinstance(guard, PiiGuard)


async def test_open_inference_v2_applies_the_policy_too() -> None:
    served = endpoints()
    app = app_with(
        served, modules=(*MODULES, v2), pii=fake_pii({"embedder": PiiPolicy.REDACT_INPUT})
    )
    body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": [TEXT]}]}
    async with client_for(app) as client:
        response = await client.post("/v2/models/embedder/infer", json=body)
    assert response.status_code == 200, response.text
    received = _batch_text("embedder")(served)
    assert MAIL not in received
    assert "<EMAIL_ADDRESS>" in received


async def test_encoded_files_are_never_read_as_text() -> None:
    """An image's or a sound's bytes (or their base64) pass untouched, even when they happen
    to spell something the detector would redact: redacting them would corrupt the file.
    The text input beside them is redacted."""
    looks_like_pii = f"{MAIL}{PHONE}"
    signature = Signature(
        inputs=tuple(
            TensorSpec(name=name, datatype=Datatype.BYTES, shape=(-1,))
            for name in ("image", "audio", "text")
        ),
        outputs=(TensorSpec(name="label", datatype=Datatype.BYTES, shape=(-1,)),),
    )
    batch = {
        "image": np.array([looks_like_pii], dtype=object),
        "audio": np.array([looks_like_pii.encode()], dtype=object),
        "text": np.array([looks_like_pii], dtype=object),
    }
    guard = PiiGuard(PiiPolicy.REDACT_INPUT, PatternDetector())
    guarded = await guarded_inputs(guard, signature, batch)
    assert guarded["image"].tolist() == [looks_like_pii]
    assert guarded["audio"].tolist() == [looks_like_pii.encode()]
    assert MAIL not in guarded["text"][0]
