"""The OpenAPI document is the contract: Schemathesis, with every check it has, against a real
server on loopback with accounts on and iris deployed. Each operation gets a bounded number of
generated requests (valid and invalid), and every answer must be one the document describes:
its status, content type, headers and body schema; valid requests accepted, invalid ones
refused, ``405`` with a truthful ``Allow`` and no route reachable without a key."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from modelmart.config import Settings
from tests.integration.billing.conftest import OPERATOR_KEY, client_for, serve_iris
from tests.integration.models import iris_skops
from tests.integration.servers import LiveServer, live_server

pytest.importorskip("schemathesis", reason="Schemathesis comes with the dev extra")

EXAMPLES_PER_OPERATION = 6
RUN_LIMIT_S = 240
# Operations whose valid requests start real, long work (training runs, loading model
# weights into new worker processes): a fuzzer would spend its minutes waiting on them.
# Their contract is exercised by their own integration tests; here they are fuzzed only
# with requests that are refused before any work starts (the negative mode below).
SLOW_OPERATIONS = ("/v1/jobs$", "/v1/deployments$")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("contract") / "data",
        json_logs=False,
        auth_enabled=True,
        bootstrap_api_key=OPERATOR_KEY,
    )
    with live_server(settings) as running:
        with client_for(running, OPERATOR_KEY) as operator:
            iris = iris_skops(tmp_path_factory.mktemp("iris") / "iris.skops")
            serve_iris(operator, "iris", iris)
        yield running


def _schemathesis(
    server: LiveServer, report: Path, *options: str
) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{server.url}/openapi.json",
        "--checks",
        "all",
        "--header",
        f"Authorization: Bearer {OPERATOR_KEY}",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--seed",
        "16",
        "--workers",
        "2",
        "--request-timeout",
        "60",
        "--no-shrink",
        "--suppress-health-check",
        "all",
        "--report",
        "junit",
        "--report-dir",
        str(report),
        *options,
    ]
    environment = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=RUN_LIMIT_S, env=environment, check=False
    )


def test_the_server_keeps_its_openapi_contract(server: LiveServer, tmp_path: Path) -> None:
    slow = [option for path in SLOW_OPERATIONS for option in ("--exclude-path-regex", path)]
    run = _schemathesis(server, tmp_path / "report", *slow)
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-4000:]


def test_the_slow_operations_refuse_invalid_requests(server: LiveServer, tmp_path: Path) -> None:
    only_slow = [option for path in SLOW_OPERATIONS for option in ("--include-path-regex", path)]
    run = _schemathesis(server, tmp_path / "report", "--mode", "negative", *only_slow)
    assert run.returncode == 0, run.stdout[-20000:] + run.stderr[-4000:]


def test_the_document_names_an_error_shape_for_every_answer(server: LiveServer) -> None:
    document = httpx.get(f"{server.url}/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            errors = {code for code in operation["responses"] if code >= "400"}
            assert errors, f"{method} {path} documents no error"
            for code in errors:
                schema = operation["responses"][code]["content"]["application/json"]["schema"]
                expected = "OpenAIError" if "openai-compatible" in operation["tags"] else "Error"
                assert schema == {"$ref": f"#/components/schemas/{expected}"}, (method, path)
