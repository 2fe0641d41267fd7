"""Across processes: rate limits shared through Redis, and a ledger that survives SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import _free_port
from tests.integration.billing.conftest import (
    IRIS_ROW,
    OPERATOR_KEY,
    client_for,
    make_org,
    serve_iris,
)

BIN = Path(sys.executable).parent


def test_rate_limits_hold_across_two_server_processes_sharing_redis(
    tmp_path: Path, redis_url: str, iris_file: Path
) -> None:
    data_dir, ports = tmp_path / "data", (_free_port(), _free_port())
    first = _serve(data_dir, ports[0], redis_url)
    second = None
    try:
        one, two = _Url(f"http://127.0.0.1:{ports[0]}"), _Url(f"http://127.0.0.1:{ports[1]}")
        with client_for(one, OPERATOR_KEY) as operator:
            body = {"name": "shared", "kind": "pay-as-you-go", "requests_per_minute": 4}
            assert operator.put("/v1/plans/shared", json=body).status_code == 200
            org = make_org(operator, "twin", plan="shared")
        with client_for(one, org.key) as client:
            serve_iris(client, "twin-iris", iris_file)
        # The second process shares the database, so it restores the deployment itself.
        second = _serve(data_dir, ports[1], redis_url)
        _wait_ready(two, org.key, "twin-iris")
        codes = []
        for index in range(6):
            with client_for(one if index % 2 == 0 else two, org.key) as caller:
                codes.append(caller.post("/v1/models/twin-iris:predict", json=IRIS_ROW).status_code)
        assert codes == [200, 200, 200, 200, 429, 429]
    finally:
        for server in (first, second):
            if server is not None:
                server.kill()
                server.wait(timeout=30)


def _wait_ready(url: _Url, key: str, deployment: str) -> None:
    with client_for(url, key) as client:
        deadline = time.monotonic() + 120
        while client.get(f"/v1/deployments/{deployment}").json().get("state") != "ready":
            assert time.monotonic() < deadline, f"{deployment} did not become ready"
            time.sleep(0.1)


def _serve(data_dir: Path, port: int, redis_url: str = "") -> subprocess.Popen[bytes]:
    env = {
        "MODELMART_REDIS_URL": redis_url,
        **os.environ,
        "MODELMART_AUTH_ENABLED": "true",
        "MODELMART_BOOTSTRAP_API_KEY": OPERATOR_KEY,
    }
    command = [str(BIN / "modelmart"), "serve", "--port", str(port), "--data-dir", str(data_dir)]
    process = subprocess.Popen(
        command, env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    pytest.fail("modelmart serve did not start within 60 s")


@dataclass(frozen=True)
class _Url:
    url: str


def test_sigkill_during_a_metered_burst_loses_and_doubles_nothing(
    tmp_path: Path, iris_file: Path
) -> None:
    port, data_dir = _free_port(), tmp_path / "data"
    server = _serve(data_dir, port)
    url = _Url(f"http://127.0.0.1:{port}")
    try:
        with client_for(url, OPERATOR_KEY) as operator:
            org = make_org(operator, "burst")
        with client_for(url, org.key) as client:
            serve_iris(client, "burst-iris", iris_file)
        keys = [uuid.uuid4().hex for _ in range(300)]
        served: list[str] = []

        def call(key: str) -> int:
            try:
                with client_for(url, org.key) as caller:
                    response = caller.post(
                        "/v1/models/burst-iris:predict",
                        json=IRIS_ROW,
                        headers={"Idempotency-Key": key},
                    )
            except httpx.TransportError:
                return 0
            if response.status_code == 200:
                served.append(key)
            return response.status_code

        with ThreadPoolExecutor(16) as pool:
            futures = [pool.submit(call, key) for key in keys]
            deadline = time.monotonic() + 60
            while len(served) < 30 and time.monotonic() < deadline:
                time.sleep(0.01)
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=30)
            first_round = [future.result() for future in futures]
        served_before = sum(1 for code in first_round if code == 200)
        assert 0 < served_before < len(keys), "the kill should land mid-burst"

        server = _serve(data_dir, port)
        _wait_ready(url, org.key, "burst-iris")
        with client_for(url, org.key) as client:
            # Clients retry what failed, with the same keys: nothing is billed twice.
            retried = [
                call(key) for key, code in zip(keys, first_round, strict=True) if code != 200
            ]
            assert all(code == 200 for code in retried)
            usage = client.get("/v1/usage", params={"group_by": "model"}).json()["usage"]
        billed = sum(float(row["quantity"]) for row in usage if row["unit"] == "requests")
        assert billed == len(keys)
    finally:
        server.kill()
        server.wait(timeout=30)
