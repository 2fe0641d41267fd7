"""PII policies through the real HTTP server, set with the SDK, applied by the catalogue's
PII detector: a chat model that echoes what it received shows what reached it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, Iterator
from dataclasses import dataclass, field

import httpx
import openai
import pytest

from modelmart import Client
from modelmart.arrays import Batch
from modelmart.runtimes.generation import (
    CHAT_SIGNATURE,
    GenerationDone,
    GenerationEvent,
    GenerationRequest,
    TextDelta,
)
from modelmart.serving.batcher import ClientGone
from modelmart.serving.placement import (
    Endpoint,
    EndpointSpec,
    EndpointStatus,
    Placement,
    Prediction,
)
from tests.integration.billing.conftest import (
    OPERATOR_KEY,
    client_for,
    make_org,
    secure_settings,
)
from tests.integration.servers import LiveServer, live_server

CHAT = "smollm2-135m-instruct"
MAIL = "jane.doe@example.com"
PHONE = "212-555-0198"
MESSAGE = f"Please write to {MAIL} or call me on {PHONE} tomorrow."


class EchoChat(Endpoint):
    """A chat model that answers with the last message it received, word by word."""

    generative = True

    def __init__(self, spec: EndpointSpec, received: list[GenerationRequest]) -> None:
        self.spec = spec
        self.signature = CHAT_SIGNATURE
        self.received = received

    async def generate(self, request: GenerationRequest) -> AsyncGenerator[GenerationEvent, None]:
        self.received.append(request)
        text = request.messages[-1].content if request.messages else request.prompt or ""
        words = text.split(" ")
        for index, word in enumerate(words):
            yield TextDelta(word if index == 0 else f" {word}")
            await asyncio.sleep(0)
        yield GenerationDone(len(words), len(words), "stop")

    async def predict(self, inputs: Batch, gone: ClientGone | None = None) -> Prediction:
        raise NotImplementedError

    async def apply(self, spec: EndpointSpec) -> None:
        self.spec = spec

    def status(self) -> EndpointStatus:
        return EndpointStatus(1, 0, self.spec.target.version, 0)

    async def close(self) -> None:
        return None


@dataclass
class RecordingPlacement(Placement):
    """Starts every deployment as an :class:`EchoChat`; ``received`` is what they were sent."""

    received: list[GenerationRequest] = field(default_factory=list)

    async def start(self, spec: EndpointSpec) -> Endpoint:
        return EchoChat(spec, self.received)


@dataclass(frozen=True)
class Setup:
    server: LiveServer
    placement: RecordingPlacement
    owner: Client
    owner_key: str


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    placement = RecordingPlacement()
    settings = secure_settings(tmp_path_factory.mktemp("pii") / "data")
    with live_server(settings, placement) as server:
        with client_for(server, OPERATOR_KEY) as operator:
            acme = make_org(operator, "acme")
        with Client(server.url, api_key=acme.key) as owner:
            owner.deploy(CHAT, name="echo")
            yield Setup(server, placement, owner, acme.key)


def _chat(setup: Setup, key: str, **extra: object) -> httpx.Response:
    body = {"model": "echo", "messages": [{"role": "user", "content": MESSAGE}], **extra}
    with client_for(setup.server, key) as http:
        return http.post("/v1/chat/completions", json=body)


def test_a_redact_input_keys_chat_reaches_the_model_without_the_pii(setup: Setup) -> None:
    key = setup.owner.create_key("acme", "redacting", pii_policy="redact-input").key
    with openai.OpenAI(
        base_url=f"{setup.server.url}/v1", api_key=key, max_retries=0, timeout=60
    ) as sdk:
        answer = sdk.chat.completions.create(
            model="echo", messages=[{"role": "user", "content": MESSAGE}]
        )
    received = setup.placement.received[-1].messages[-1].content
    assert MAIL not in received
    assert PHONE not in received
    assert "<EMAIL_ADDRESS>" in received
    assert "<PHONE_NUMBER>" in received
    # The echo proves it: the model never had them to give back.
    assert MAIL not in (answer.choices[0].message.content or "")
    # The audit log names the policy and what kinds were found, never the values.
    with client_for(setup.server, setup.owner_key) as http:
        entries = http.get("/v1/audit").json()["entries"]
    chats = [e for e in entries if e["action"] == "POST /v1/chat/completions"]
    assert chats
    assert chats[0]["details"]["pii_policy"] == "redact-input"
    assert chats[0]["details"]["pii_entities"]["EMAIL_ADDRESS"] >= 1
    assert MAIL not in str(entries)
    assert PHONE not in str(entries)


def test_tool_call_arguments_in_the_history_are_redacted_too(setup: Setup) -> None:
    key = setup.owner.create_key("acme", "redacting-tools", pii_policy="redact-input").key
    arguments = json.dumps({"to": MAIL, "subject": "hello", "copies": 2})
    history = [
        {"role": "user", "content": "Mail my friend."},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "send_mail", "arguments": arguments},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sent"},
        {"role": "user", "content": "Thanks."},
    ]
    with client_for(setup.server, key) as http:
        response = http.post("/v1/chat/completions", json={"model": "echo", "messages": history})
    assert response.status_code == 200, response.text
    sent = setup.placement.received[-1].messages[1].tool_calls[0].arguments
    assert MAIL not in sent
    assert json.loads(sent) == {"to": "<EMAIL_ADDRESS>", "subject": "hello", "copies": 2}


def test_a_keys_policy_changes_while_the_key_stays(setup: Setup) -> None:
    created = setup.owner.create_key("acme", "changing")
    assert _chat(setup, created.key).status_code == 200
    assert setup.placement.received[-1].messages[-1].content == MESSAGE

    changed = setup.owner.update_key("acme", created.id, pii_policy="redact-input")
    assert changed.pii_policy == "redact-input"
    assert _chat(setup, created.key).status_code == 200  # the same secret, redacted now
    assert MAIL not in setup.placement.received[-1].messages[-1].content

    cleared = setup.owner.update_key("acme", created.id, pii_policy=None)
    assert cleared.pii_policy is None
    assert _chat(setup, created.key).status_code == 200
    assert setup.placement.received[-1].messages[-1].content == MESSAGE


def test_another_organisations_key_cannot_be_changed(setup: Setup) -> None:
    with client_for(setup.server, OPERATOR_KEY) as operator_http:
        operator_key_id = operator_http.get("/v1/orgs/operator/keys").json()["keys"][0]["id"]
    with client_for(setup.server, setup.owner_key) as http:
        response = http.patch(
            f"/v1/orgs/acme/keys/{operator_key_id}", json={"pii_policy": "redact-input"}
        )
        missing = http.patch("/v1/orgs/acme/keys/999999", json={"pii_policy": "redact-input"})
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == missing.json()["error"]["code"]


def test_an_organisations_detect_reports_the_entities(setup: Setup) -> None:
    key = setup.owner.create_key("acme", "plain").key
    setup.owner.set_org_pii_policy("acme", "detect")
    try:
        response = _chat(setup, key)
    finally:
        setup.owner.set_org_pii_policy("acme", "off")
    assert response.status_code == 200, response.text
    assert setup.placement.received[-1].messages[-1].content == MESSAGE
    report = response.json()["pii"]
    assert report["policy"] == "detect"
    found = {MESSAGE[e["start"] : e["end"]] for e in report["input"][0]}
    assert {MAIL, PHONE} <= found
    assert MAIL not in str(report)


@pytest.mark.parametrize("stream", [False, True])
def test_a_redact_output_deployment_redacts_answers(setup: Setup, stream: bool) -> None:
    setup.owner.update_deployment("echo", pii_policy="redact-output")
    try:
        response = _chat(setup, setup.owner_key, stream=stream)
    finally:
        setup.owner.update_deployment("echo", pii_policy="off")
    assert response.status_code == 200, response.text
    assert setup.placement.received[-1].messages[-1].content == MESSAGE  # input untouched
    assert MAIL not in response.text
    assert PHONE not in response.text
    assert "<EMAIL_ADDRESS>" in response.text


def test_an_unknown_policy_is_refused_naming_the_valid_ones(setup: Setup) -> None:
    own_key = setup.owner.list_keys("acme")[0].id
    with client_for(setup.server, setup.owner_key) as http:
        refused = [
            http.post("/v1/orgs/acme/keys", json={"name": "k", "pii_policy": "redact"}),
            http.patch("/v1/orgs/acme", json={"pii_policy": "everything"}),
            http.patch("/v1/deployments/echo", json={"pii_policy": "on"}),
            http.patch(f"/v1/orgs/acme/keys/{own_key}", json={"pii_policy": "all"}),
        ]
    for response in refused:
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["code"] == "invalid_pii_policy"
        assert "off, detect, redact-output, redact-input" in error["message"]
