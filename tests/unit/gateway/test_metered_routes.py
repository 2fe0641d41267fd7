"""The inference routes with accounts on: who may call which deployment, idempotent replays,
admission errors, and responses whose end waits for their usage record."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import Message

from modelmart.arrays import Batch
from modelmart.billing.ledger import Ledger
from modelmart.catalog.vision_entries import CLASSIFIER_SIGNATURE
from modelmart.errors import RateLimited
from modelmart.gateway.routes import chat, completions, inference, openai, tasks, v2, vision
from modelmart.serving.batcher import Admission, Batcher, ClientGone
from modelmart.serving.placement import Endpoint, Prediction
from modelmart.serving.router import Router
from modelmart.store.tables import OrganizationRow
from modelmart.tenancy import Principal
from tests.unit.gateway.route_fakes import (
    SENTIMENT,
    FakeAccounts,
    FakeBilling,
    FakeChat,
    FakeEndpoint,
    app_with,
    client_for,
    energy,
    fake_endpoints,
    sentiment,
    serve,
    tenant,
)
from tests.unit.gateway.test_vision_routes import classify, png

MODULES = (inference, openai, tasks, chat, completions, vision, v2)
V2_ROW = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": [1, 2, 3, 4]}]}
SENTENCE = {"input": "a good day"}


@pytest.fixture
def orgs(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        rows = [OrganizationRow(slug=slug, name=slug, plan="free") for slug in ("acme", "beta")]
        session.add_all(rows)
        session.commit()
        return {row.slug: row.id for row in rows}


@pytest.fixture
def keys(orgs: dict[str, int]) -> dict[str, Principal]:
    acme, beta = orgs["acme"], orgs["beta"]
    return {
        "acme-key": tenant("acme", org_id=acme, key_id=11),
        "acme-other-key": tenant("acme", org_id=acme, key_id=12),
        "acme-langid-only": tenant("acme", org_id=acme, key_id=13, models={"langid"}),
        "beta-key": tenant("beta", org_id=beta, key_id=21),
    }


@pytest.fixture
async def billing(sessions: sessionmaker[Session]) -> AsyncIterator[FakeBilling]:
    ledger = Ledger(sessions, inline=True)
    yield FakeBilling(ledger)
    await ledger.close()


@pytest.fixture
def endpoints() -> dict[str, Endpoint]:
    return {**fake_endpoints(), "chat": FakeChat(["Hel", "lo"])}


def metered_app(
    endpoints: Mapping[str, Endpoint],
    keys: dict[str, Principal],
    billing: FakeBilling,
    router: Router | None = None,
) -> FastAPI:
    accounts = FakeAccounts(keys)
    return app_with(endpoints, modules=MODULES, router=router, accounts=accounts, billing=billing)


@pytest.fixture
async def http(
    endpoints: dict[str, Endpoint], keys: dict[str, Principal], billing: FakeBilling
) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(metered_app(endpoints, keys, billing)) as client:
        yield client


def auth(key: str, idempotency_key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {key}"}
    return headers | ({"Idempotency-Key": idempotency_key} if idempotency_key else {})


# --- idempotency ---------------------------------------------------------------------------


async def test_a_repeated_idempotency_key_replays_the_response_without_billing_again(
    http: httpx.AsyncClient, endpoints: dict[str, FakeEndpoint], billing: FakeBilling
) -> None:
    headers = auth("acme-key", "order-42")
    first = await http.post("/v1/tasks/sentiment", json=SENTENCE, headers=headers)
    again = await http.post("/v1/tasks/sentiment", json=SENTENCE, headers=headers)
    assert first.status_code == again.status_code == 200
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.content == first.content
    assert len(endpoints["vader-sentiment"].batches) == 1
    assert [entry.idempotency_key for entry in billing.settled] == ["order-42"]
    assert billing.ledger.count() == 1


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions"])
async def test_generations_bill_once_and_replay_by_idempotency_key(
    http: httpx.AsyncClient, endpoints: dict[str, FakeChat], billing: FakeBilling, path: str
) -> None:
    body = {"model": "chat", "n": 2, "stream": False}
    body |= (
        {"prompt": "Hi"}
        if path == "/v1/completions"
        else {"messages": [{"role": "user", "content": "Hi"}]}
    )
    headers = auth("acme-key", "gen-1")
    first = await http.post(path, json=body, headers=headers)
    again = await http.post(path, json=body, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert len(endpoints["chat"].requests) == 2  # two choices, generated once
    assert billing.ledger.count() == 1
    assert billing.settled[0].units["tokens"] == 2 * (7 + 2)


@pytest.mark.parametrize(
    ("key", "path", "body"),
    [
        ("acme-key", "/v1/tasks/sentiment", {"input": "a bad day"}),
        ("acme-key", "/v1/tasks/language", SENTENCE),
        ("acme-other-key", "/v1/tasks/sentiment", SENTENCE),
    ],
    ids=["another-body", "another-path", "another-api-key"],
)
async def test_an_idempotency_key_replays_only_its_own_request(
    http: httpx.AsyncClient,
    endpoints: dict[str, FakeEndpoint],
    billing: FakeBilling,
    key: str,
    path: str,
    body: dict[str, Any],
) -> None:
    served = await http.post("/v1/tasks/sentiment", json=SENTENCE, headers=auth("acme-key", "k"))
    assert served.status_code == 200
    reused = await http.post(path, json=body, headers=auth(key, "k"))
    assert reused.status_code == 422
    error = reused.json()["error"]
    assert error["code"] == "idempotency_key_reused"
    assert "use a new key for a new request" in error["message"]
    assert error["details"] == {"idempotency_key": "k"}
    ran = len(endpoints["vader-sentiment"].batches) + len(endpoints["langid"].batches)
    assert ran == 1  # the refused request never reached a model
    assert billing.ledger.count() == 1


async def test_idempotency_keys_belong_to_their_organisation(
    http: httpx.AsyncClient, billing: FakeBilling, orgs: dict[str, int]
) -> None:
    for key in ("acme-key", "beta-key"):
        response = await http.post("/v1/tasks/sentiment", json=SENTENCE, headers=auth(key, "k"))
        assert response.status_code == 200
        assert "idempotent-replayed" not in response.headers
    assert (billing.ledger.count(orgs["acme"]), billing.ledger.count(orgs["beta"])) == (1, 1)


@pytest.mark.parametrize("key", ["", "k" * 256])
async def test_an_idempotency_key_that_cannot_be_stored_is_refused_before_running(
    http: httpx.AsyncClient, endpoints: dict[str, FakeEndpoint], key: str
) -> None:
    headers = {**auth("acme-key"), "Idempotency-Key": key}
    response = await http.post("/v1/tasks/sentiment", json=SENTENCE, headers=headers)
    assert response.status_code == 400
    assert "send 1 to 255, one unique value per request" in response.json()["error"]["message"]
    assert not endpoints["vader-sentiment"].batches


async def test_a_failed_request_is_not_billed_and_its_key_stays_free(
    http: httpx.AsyncClient, billing: FakeBilling
) -> None:
    failed = await http.post(
        "/v1/tasks/sentiment", json={"input": ""}, headers=auth("acme-key", "k")
    )
    assert failed.status_code == 400
    assert billing.ledger.count() == 0
    retried = await http.post("/v1/tasks/sentiment", json=SENTENCE, headers=auth("acme-key", "k"))
    assert retried.status_code == 200


# --- the end of a response waits for its usage record ---------------------------------------


async def call(
    app: FastAPI, path: str, body: dict[str, Any], headers: dict[str, str]
) -> tuple[asyncio.Task[None], list[Message]]:
    """Start ``app`` on one request from a client that stays connected; what it sent."""
    sent: list[Message] = []
    pending = [{"type": "http.request", "body": json.dumps(body).encode(), "more_body": False}]

    async def receive() -> Message:
        if pending:
            return pending.pop()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"content-type", b"application/json"),
            *((name.lower().encode(), value.encode()) for name, value in headers.items()),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("modelmart", 80),
    }
    return asyncio.create_task(app(scope, receive, send)), sent


async def held_until_settled(billing: FakeBilling, task: asyncio.Task[None]) -> None:
    """Wait until the usage record is being written, and let the app run on meanwhile."""
    await asyncio.wait_for(billing.settling.wait(), timeout=5)
    for _ in range(20):
        await asyncio.sleep(0)
    assert not task.done()


async def test_a_streams_headers_go_at_once_and_its_end_waits_for_the_usage_record(
    endpoints: dict[str, Endpoint], keys: dict[str, Principal], billing: FakeBilling
) -> None:
    billing.gate = asyncio.Event()
    body = {"model": "chat", "messages": [{"role": "user", "content": "Hi"}], "stream": True}
    app = metered_app(endpoints, keys, billing)
    task, sent = await call(app, "/v1/chat/completions", body, auth("acme-key"))
    await held_until_settled(billing, task)
    assert sent[0]["type"] == "http.response.start"
    assert sent[0]["status"] == 200
    chunks = [message for message in sent if message["type"] == "http.response.body"]
    assert b"Hel" in b"".join(chunk["body"] for chunk in chunks)
    assert all(chunk.get("more_body") for chunk in chunks), "the stream ended unbilled"
    billing.gate.set()
    await asyncio.wait_for(task, timeout=5)
    assert sent[-1] == {"type": "http.response.body", "body": b"", "more_body": False}
    assert billing.ledger.count() == 1
    assert billing.settled[0].units["tokens"] == 9


async def test_a_whole_response_is_sent_only_once_its_usage_record_is_durable(
    endpoints: dict[str, Endpoint], keys: dict[str, Principal], billing: FakeBilling
) -> None:
    billing.gate = asyncio.Event()
    app = metered_app(endpoints, keys, billing)
    task, sent = await call(
        app, "/v1/models/iris:predict", {"instances": [[1, 2, 3, 4]]}, auth("acme-key")
    )
    await held_until_settled(billing, task)
    assert sent == []  # not even the headers
    billing.gate.set()
    await asyncio.wait_for(task, timeout=5)
    assert sent[0]["status"] == 200
    assert json.loads(sent[-1]["body"])["usage"] == {"items": 1, **energy()}
    assert billing.ledger.count() == 1


async def test_an_unreachable_ledger_fails_the_request_instead_of_serving_it_unbilled(
    http: httpx.AsyncClient, billing: FakeBilling, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(entries: object) -> None:
        raise ConnectionError("the database is gone")

    monkeypatch.setattr(billing.ledger, "_write", broken)
    response = await http.post("/v1/tasks/sentiment", json=SENTENCE, headers=auth("acme-key"))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "not_ready"
    assert "was not completed; retry shortly" in response.json()["error"]["message"]


# --- admission -----------------------------------------------------------------------------


async def test_a_missing_key_on_an_openai_route_is_openais_401_with_a_challenge(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post("/v1/embeddings", json={"model": "embedder", "input": "a"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["code"]) == ("authentication_error", "unauthenticated")
    listing = await http.get("/v1/models", headers={"Authorization": "Bearer wrong"})
    assert listing.status_code == 401
    assert listing.json()["error"]["type"] == "authentication_error"
    assert listing.headers["www-authenticate"] == "Bearer"


async def test_a_missing_key_elsewhere_is_modelmarts_401_with_a_challenge(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post("/v1/tasks/sentiment", json=SENTENCE)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthenticated"


@pytest.mark.parametrize(
    ("path", "body", "openai_shape"),
    [
        ("/v1/embeddings", {"model": "embedder", "input": "a"}, True),
        ("/v1/models/iris:predict", {"instances": [[1, 2, 3, 4]]}, False),
    ],
)
async def test_a_rate_limited_request_says_when_to_retry(
    http: httpx.AsyncClient,
    billing: FakeBilling,
    endpoints: dict[str, FakeEndpoint],
    path: str,
    body: dict[str, Any],
    openai_shape: bool,
) -> None:
    billing.refusal = RateLimited(
        "the organisation's 2 requests a minute are used", retry_after_s=7
    )
    response = await http.post(path, json=body, headers=auth("acme-key"))
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    error = response.json()["error"]
    assert error["code"] == "rate_limited"
    assert ("type" in error) is openai_shape
    assert not endpoints["embedder"].batches
    assert not endpoints["iris"].batches


async def test_a_data_sharing_organisations_input_is_kept_and_its_form_still_parses(
    keys: dict[str, Principal], billing: FakeBilling
) -> None:
    billing.shares_data = True
    classifier = FakeEndpoint("mobilenet-v2", CLASSIFIER_SIGNATURE, classify)
    app = metered_app({"mobilenet-v2": classifier, **fake_endpoints()}, keys, billing)
    async with client_for(app) as http:
        form = await http.post(
            "/v1/tasks/image-classification",
            files={"image": ("a.png", png())},
            data={"top_k": "1"},
            headers=auth("acme-key", "form-1"),
        )
        text = await http.post("/v1/tasks/sentiment", json=SENTENCE, headers=auth("acme-key"))
    assert form.status_code == 200, form.text
    assert form.json()["results"][0]["labels"][0]["label"] == "class 0"
    assert text.status_code == 200
    kept = billing.retention.kept
    assert [item.model for item in kept] == ["mobilenet-v2", "vader-sentiment"]
    assert png() in kept[0].body
    assert json.loads(kept[1].body) == SENTENCE


async def test_with_accounts_off_nothing_is_metered(endpoints: dict[str, Endpoint]) -> None:
    # No billing at all: a metered route that tried to admit or settle would fail.
    async with client_for(app_with(endpoints, modules=MODULES)) as http:
        response = await http.post("/v1/tasks/sentiment", json=SENTENCE, headers=auth("x", "k"))
    assert response.status_code == 200


# --- tenancy: which deployments a caller may use --------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "deployment"),
    [
        ("/v1/tasks/sentiment", {"model": "vader-sentiment", **SENTENCE}, "vader-sentiment"),
        ("/v1/tasks/sentiment", SENTENCE, "vader-sentiment"),  # the task's default
        ("/v1/models/iris:predict", {"instances": [[1, 2, 3, 4]]}, "iris"),
        ("/v1/embeddings", {"model": "embedder", "input": "a"}, "embedder"),
        ("/v2/models/iris/infer", V2_ROW, "iris"),
    ],
)
async def test_a_key_scoped_to_other_models_gets_the_404_of_a_missing_deployment(
    endpoints: dict[str, FakeEndpoint],
    keys: dict[str, Principal],
    billing: FakeBilling,
    path: str,
    body: dict[str, Any],
    deployment: str,
) -> None:
    async with client_for(metered_app(endpoints, keys, billing)) as http:
        scoped = await http.post(path, json=body, headers=auth("acme-langid-only"))
        allowed = await http.post(
            "/v1/tasks/language", json=SENTENCE, headers=auth("acme-langid-only")
        )
        listed = await http.get("/v1/models", headers=auth("acme-langid-only"))
    others = {name: e for name, e in endpoints.items() if name != deployment}
    async with client_for(metered_app(others, keys, billing)) as http:
        missing = await http.post(path, json=body, headers=auth("acme-key"))
    assert scoped.status_code == missing.status_code == 404
    assert scoped.json() == missing.json()
    assert not endpoints[deployment].batches
    assert allowed.status_code == 200
    assert [model["id"] for model in listed.json()["data"]] == ["langid"]


async def test_a_task_never_defaults_to_another_organisations_deployment(
    keys: dict[str, Principal], billing: FakeBilling
) -> None:
    beta_own = FakeEndpoint("beta:vader-sentiment", SENTIMENT, sentiment, "beta:vader")
    router = serve(Router(), {"beta:vader-sentiment": beta_own}, owner="beta")
    async with client_for(metered_app({}, keys, billing, router)) as http:
        acme = await http.post("/v1/tasks/sentiment", json=SENTENCE, headers=auth("acme-key"))
        named = await http.post(
            "/v1/tasks/sentiment",
            json={"model": "beta:vader-sentiment", **SENTENCE},
            headers=auth("acme-key"),
        )
        listed = await http.get("/v1/models", headers=auth("acme-key"))
        beta = await http.post("/v1/tasks/sentiment", json=SENTENCE, headers=auth("beta-key"))
    assert acme.status_code == named.status_code == 404
    assert acme.json()["error"]["details"] == {"deployment": "vader-sentiment", "param": "model"}
    assert listed.json()["data"] == []
    assert beta.status_code == 200
    assert beta.json()["model"] == "beta:vader"
    assert len(beta_own.batches) == 1  # beta's own call, never acme's


async def test_a_callers_own_deployment_of_a_default_name_comes_before_the_platforms(
    endpoints: dict[str, FakeEndpoint], keys: dict[str, Principal], billing: FakeBilling
) -> None:
    acme_own = FakeEndpoint("acme:vader-sentiment", SENTIMENT, sentiment, "acme:vader")
    router = serve(Router(), {"acme:vader-sentiment": acme_own}, owner="acme")
    async with client_for(metered_app(endpoints, keys, billing, router)) as http:
        acme = await http.post("/v1/tasks/sentiment", json=SENTENCE, headers=auth("acme-key"))
        beta = await http.post("/v1/tasks/sentiment", json=SENTENCE, headers=auth("beta-key"))
    assert acme.json()["model"] == "acme:vader"
    assert beta.json()["model"] == "vader-sentiment"
    assert len(acme_own.batches) == len(endpoints["vader-sentiment"].batches) == 1


async def test_what_fits_a_task_lists_only_the_callers_deployments(
    endpoints: dict[str, FakeEndpoint], keys: dict[str, Principal], billing: FakeBilling
) -> None:
    beta_own = FakeEndpoint("beta:langid", endpoints["langid"].signature, endpoints["langid"].run)
    router = serve(Router(), {"beta:langid": beta_own}, owner="beta")
    async with client_for(metered_app(endpoints, keys, billing, router)) as http:
        body = {"model": "embedder", **SENTENCE}
        response = await http.post("/v1/tasks/language", json=body, headers=auth("acme-key"))
    assert response.status_code == 400
    assert response.json()["error"]["details"]["fitting"] == ["langid"]
    assert "beta" not in response.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/v2/models/iris", "/v2/models/iris/ready", "/v1/models/iris"])
async def test_a_deployment_outside_a_keys_scope_cannot_be_read_either(
    endpoints: dict[str, FakeEndpoint],
    keys: dict[str, Principal],
    billing: FakeBilling,
    path: str,
) -> None:
    async with client_for(metered_app(endpoints, keys, billing)) as http:
        allowed = await http.get(path, headers=auth("acme-key"))
        scoped = await http.get(path, headers=auth("acme-langid-only"))
    others = {name: e for name, e in endpoints.items() if name != "iris"}
    async with client_for(metered_app(others, keys, billing)) as http:
        missing = await http.get(path, headers=auth("acme-key"))
    assert allowed.status_code == 200
    assert scoped.status_code == missing.status_code == 404
    assert scoped.json() == missing.json()


# --- admission control: refused and dropped requests are not billed -------------------------


class QueuedEndpoint(FakeEndpoint):
    """Queues every request in a real :class:`Batcher` that no instance drains."""

    def __init__(self, admission: Admission) -> None:
        super().__init__("vader-sentiment", SENTIMENT, sentiment)
        self.batcher = Batcher(8, 0, admission, name="deployment 'vader-sentiment'")
        self.watched: list[bool] = []

    async def predict(self, inputs: Batch, gone: ClientGone | None = None) -> Prediction:
        self.watched.append(gone is not None)
        outputs, version, _ = await self.batcher.submit(inputs, gone)
        return Prediction(outputs, self.spec.target.model, version)


@pytest.mark.parametrize("route", ["/v1/tasks/sentiment", "/v1/models/vader-sentiment:predict"])
async def test_a_full_queue_answers_503_with_retry_after_and_bills_nothing(
    keys: dict[str, Principal], billing: FakeBilling, route: str
) -> None:
    queued = QueuedEndpoint(Admission(max_queued=1))
    body = SENTENCE if route.startswith("/v1/tasks") else {"instances": ["a good day"]}
    async with client_for(metered_app({"vader-sentiment": queued}, keys, billing)) as http:
        waiting = asyncio.create_task(http.post(route, json=body, headers=auth("acme-key")))
        while queued.batcher.queue_depth < 1:
            await asyncio.sleep(0.01)
        refused = await http.post(route, json=body, headers=auth("acme-key", "retry-me"))
        waiting.cancel()

    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["code"] == "overloaded"
    assert queued.watched == [True, True]  # the routes let the queue watch the client
    assert billing.settled == []
    assert billing.ledger.count() == 0
    assert queued.batcher.counts.rejected == 1


async def test_a_request_dropped_at_its_queue_deadline_is_a_503_and_not_billed(
    keys: dict[str, Principal], billing: FakeBilling
) -> None:
    queued = QueuedEndpoint(Admission(max_queued=4, max_wait_s=0.05))
    async with client_for(metered_app({"vader-sentiment": queued}, keys, billing)) as http:
        response = await http.post("/v1/tasks/sentiment", json=SENTENCE, headers=auth("acme-key"))

    assert response.status_code == 503
    assert "waited 0.05 s" in response.json()["error"]["message"]
    assert int(response.headers["retry-after"]) >= 1
    assert billing.ledger.count() == 0
    assert queued.batcher.queue_depth == 0
