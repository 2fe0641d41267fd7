"""Hostile and careless requests against a real server on loopback, with accounts on: bodies
over the limit sent in chunks, bodies in the wrong content type, keys that do not work,
methods a path does not serve, and the headers that keep a browser from misusing answers."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from modelmart.config import Settings
from tests.integration.billing.conftest import OPERATOR_KEY, client_for, serve_iris
from tests.integration.models import iris_skops
from tests.integration.servers import LiveServer, live_server

REQUEST_LIMIT = 4_000
UPLOAD_LIMIT = 200_000  # an iris artifact fits


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("hostile") / "data",
        json_logs=False,
        auth_enabled=True,
        bootstrap_api_key=OPERATOR_KEY,
        max_request_bytes=REQUEST_LIMIT,
        max_upload_bytes=UPLOAD_LIMIT,
    )
    with live_server(settings) as running:
        with client_for(running, OPERATOR_KEY) as operator:
            serve_iris(operator, "iris", iris_skops(tmp_path_factory.mktemp("m") / "iris.skops"))
        yield running


@pytest.fixture
def operator(server: LiveServer) -> Iterator[httpx.Client]:
    with client_for(server, OPERATOR_KEY) as client:
        yield client


def _chunks(head: bytes, total: int) -> Iterator[bytes]:
    """``total`` bytes without a Content-Length: the server can only count them."""
    yield head
    sent = len(head)
    while sent < total:
        yield b"0" * 1024
        sent += 1024


def _multipart(field: str, filename: str, total: int) -> Iterator[bytes]:
    yield (
        f'--b\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    yield from _chunks(b"", total)
    yield b"\r\n--b--\r\n"


JSON_ROUTES = [
    # The handler reads the body itself (ClientDisconnect used to end as a 500).
    ("/v1/models/iris:predict", b'{"instances": [[', {}),
    # Admission reads it first, to fingerprint the idempotency key.
    ("/v1/models/iris:predict", b'{"instances": [[', {"Idempotency-Key": "chunked-1"}),
    # FastAPI parses it into the route's model.
    ("/v1/registry/models", b'{"name": "m", "description": "', {}),
    ("/v1/tasks/sentiment", b'{"input": "', {}),
    ("/v1/embeddings", b'{"model": "iris", "input": "', {}),
    ("/v1/chat/completions", b'{"model": "iris", "messages": [{"role": "user", "content": "', {}),
]


@pytest.mark.parametrize(("path", "head", "headers"), JSON_ROUTES)
def test_a_chunked_body_over_the_limit_is_413(
    operator: httpx.Client, path: str, head: bytes, headers: dict[str, str]
) -> None:
    response = operator.post(
        path,
        content=_chunks(head, REQUEST_LIMIT * 4),
        headers={"Content-Type": "application/json", **headers},
    )
    assert response.status_code == 413, response.text
    assert "content-length" not in {name.lower() for name in response.request.headers}
    error = response.json()["error"]
    assert error["code"] == "payload_too_large"
    if path in ("/v1/embeddings", "/v1/chat/completions"):  # OpenAI's shape there
        assert error["type"] == "invalid_request_error"
    else:
        assert error["details"] == {"limit_bytes": REQUEST_LIMIT}


@pytest.mark.parametrize(
    ("path", "field", "filename"),
    [
        ("/v1/registry/models/iris/versions", "artifact", "big.skops"),
        ("/v1/datasets/big/versions", "file", "big.csv"),
    ],
)
def test_a_chunked_upload_over_the_limit_is_413_and_leaves_nothing(
    operator: httpx.Client, path: str, field: str, filename: str
) -> None:
    response = operator.post(
        path,
        content=_multipart(field, filename, UPLOAD_LIMIT * 2),
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 413, response.text
    assert response.json()["error"]["details"] == {"limit_bytes": UPLOAD_LIMIT}
    assert [
        v["version"] for v in operator.get("/v1/registry/models/iris/versions").json()["versions"]
    ] == [1]
    assert operator.get("/v1/datasets/big").status_code == 404


def test_a_declared_length_over_the_limit_is_413_before_the_body(operator: httpx.Client) -> None:
    response = operator.post("/v1/models/iris:predict", json={"instances": [[0.0] * 2000]})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


ROW = {"instances": [[5.1, 3.5, 1.4, 0.2]]}


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_predict_takes_json_only(operator: httpx.Client, content_type: str) -> None:
    response = operator.post(
        "/v1/models/iris:predict",
        content=b'{"instances": [[5.1, 3.5, 1.4, 0.2]]}',
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_format"
    assert "application/json" in response.json()["error"]["message"]


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8"])
def test_predict_reads_json(operator: httpx.Client, content_type: str) -> None:
    response = operator.post(
        "/v1/models/iris:predict",
        content=b'{"instances": [[5.1, 3.5, 1.4, 0.2]]}',
        headers={"Content-Type": content_type},
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 1


def test_revoked_unknown_and_wrong_keys_get_one_answer(
    server: LiveServer, operator: httpx.Client
) -> None:
    created = operator.post("/v1/orgs/operator/keys", json={"name": "soon-revoked"}).json()
    revoked = created["key"]
    with client_for(server, revoked) as client:
        assert client.get("/v1/me").status_code == 200
    assert operator.delete(f"/v1/orgs/operator/keys/{created['id']}").status_code == 200
    prefix = revoked.split("_")[1]
    keys = {
        "revoked": revoked,
        "unknown prefix": "mm_ffffffffffff_" + "x" * 32,
        "wrong secret": f"mm_{prefix}_{'y' * 32}",
        "malformed": "not-a-key",
    }
    answers = {}
    for what, key in keys.items():
        with client_for(server, key) as client:
            response = client.get("/v1/me")
        assert response.status_code == 401, what
        answers[what] = response.json()
    assert len({str(answer) for answer in answers.values()}) == 1, answers


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/v1/orgs/operator", "GET, PATCH"),
        ("OPTIONS", "/v1/registry/models", "GET, POST"),
        ("GET", "/v1/models/iris:predict", "POST"),
        ("DELETE", "/v1/jobs/7:cancel", "POST"),
        ("GET", "/v1/orgs/operator/invoices/2026-01:finalize", "POST"),
        ("DELETE", "/v1/orgs/operator/keys/3:rotate", "POST"),
    ],
)
def test_405_names_every_method_the_path_serves(
    operator: httpx.Client, method: str, path: str, allowed: str
) -> None:
    response = operator.request(method, path)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allowed
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_api_answers_carry_the_hardening_headers(
    server: LiveServer, operator: httpx.Client
) -> None:
    answers = [
        operator.get("/v1/registry/models"),
        httpx.get(f"{server.url}/v1/registry/models"),  # 401
        operator.get("/v1/no-such-route"),  # 404
        httpx.get(f"{server.url}/healthz"),
    ]
    for response in answers:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["content-security-policy"].startswith("default-src 'none'")


def test_the_console_policy_allows_only_its_own_files(server: LiveServer) -> None:
    page = httpx.get(f"{server.url}/console/")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert "https:" not in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"


def test_the_docs_pages_may_load_their_viewer(server: LiveServer) -> None:
    docs = httpx.get(f"{server.url}/docs")
    assert docs.status_code == 200
    assert "https://cdn.jsdelivr.net" in docs.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]


def test_schema_checked_bounds_are_refused_not_crashed(operator: httpx.Client) -> None:
    """Integers past what the database holds are a 422, not an overflow inside it."""
    huge = 2**70
    compare = operator.get(f"/v1/registry/models/iris/compare?a={huge}&b=1")
    assert compare.status_code == 422
    key = operator.post(
        "/v1/orgs/operator/keys", json={"name": "fast", "requests_per_minute": huge}
    )
    assert key.status_code == 422
    assert operator.delete(f"/v1/orgs/operator/keys/{huge}").status_code == 422
