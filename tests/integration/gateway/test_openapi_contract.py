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
CONFIG = Path(__file__).with_name("schemathesis.toml")
"""The few exceptions, each a rule no JSON schema can state, with its reason."""
# Starting a training run or a deployment (model weights loaded into new worker processes)
# is real, long work: a fuzzer would spend its minutes waiting on it. Their own integration
# tests cover them; here they get only requests that must be refused before work starts.
SLOW_OPERATIONS = "^/v1/(jobs|deployments)$"


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
            _without_rate_limits(operator)
        yield running


def _without_rate_limits(operator: httpx.Client) -> None:
    """The operator's key on a plan without per-minute limits: thousands of requests in a
    minute would otherwise be answered 429, which tells nothing about the contract."""
    plan = {"name": "contract-unmetered", "kind": "pay-as-you-go"}
    assert operator.put(f"/v1/plans/{plan['name']}", json=plan).status_code == 200
    moved = operator.patch("/v1/orgs/operator", json={"plan": plan["name"]})
    assert moved.status_code == 200, moved.text


def _schemathesis(server: LiveServer, workdir: Path, *options: str) -> str:
    """Schemathesis's report of a run; the test fails with it when the run found a problem."""
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
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
        # One worker: Hypothesis describes its strategies with the ast module, which Python
        # 3.11 does not parse safely from two threads at once.
        "--workers",
        "1",
        "--request-timeout",
        "60",
        "--no-shrink",
        "--suppress-health-check",
        "all",
        "--output-truncate",
        "false",
        *options,
    ]
    environment = {**os.environ, "NO_COLOR": "1"}
    run = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=RUN_LIMIT_S,
        env=environment,
        cwd=workdir,  # its cache and reports stay out of the repository
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    return output


def test_the_server_keeps_its_openapi_contract(server: LiveServer, tmp_path: Path) -> None:
    output = _schemathesis(server, tmp_path, "--exclude-path-regex", SLOW_OPERATIONS)
    assert "Stateful" in output  # every phase ran, the stateful one last


def test_the_slow_operations_refuse_invalid_requests(server: LiveServer, tmp_path: Path) -> None:
    # The coverage phase alone: its negative cases are derived from each constraint in turn.
    _schemathesis(
        server,
        tmp_path,
        "--mode",
        "negative",
        "--phases",
        "coverage",
        "--include-path-regex",
        SLOW_OPERATIONS,
        "--exclude-method",
        "GET",
    )


def test_the_document_names_an_error_shape_for_every_answer(server: LiveServer) -> None:
    document = httpx.get(f"{server.url}/openapi.json").json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            errors = {code for code in operation["responses"] if code >= "400"}
            if "security" in operation:  # every route but the probes needs a key
                assert {"401", "403"} & errors, f"{method} {path}"
            expected = "OpenAIError" if "openai-compatible" in operation["tags"] else "Error"
            for code in errors:
                schema = operation["responses"][code]["content"]["application/json"]["schema"]
                assert schema == {"$ref": f"#/components/schemas/{expected}"}, (method, path)
    assert "HTTPValidationError" not in document["components"]["schemas"]
