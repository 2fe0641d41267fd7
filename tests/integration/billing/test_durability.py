"""Across processes: rate limits shared through Redis, and a ledger that survives SIGKILL."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.integration.billing.conftest import (
    IRIS_ROW,
    OPERATOR_KEY,
    client_for,
    make_org,
    secure_settings,
    serve_iris,
)
from tests.integration.servers import live_server

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (Debian package redis-server)")
    port = _free_port()
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_rate_limits_hold_across_two_servers_sharing_redis(
    tmp_path: Path, redis_url: str, iris_file: Path
) -> None:
    settings = secure_settings(tmp_path / "data", redis_url=redis_url)
    with live_server(settings) as first, live_server(settings) as second:
        with client_for(first, OPERATOR_KEY) as operator:
            body = {"name": "shared", "kind": "pay-as-you-go", "requests_per_minute": 4}
            assert operator.put("/v1/plans/shared", json=body).status_code == 200
            org = make_org(operator, "twin", plan="shared")
        with org.client(first) as one, org.client(second) as two:
            serve_iris(one, "twin-iris", iris_file)
            # The second server deploys the same model under its own placement.
            assert (
                two.post(
                    "/v1/deployments", json={"model": "twin-iris", "isolation": "thread"}
                ).status_code
                == 201
            )
            codes = []
            for index in range(6):
                client = one if index % 2 == 0 else two
                codes.append(client.post("/v1/models/twin-iris:predict", json=IRIS_ROW).status_code)
    assert codes == [200, 200, 200, 200, 429, 429]


def _serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
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


class _Url:
    def __init__(self, url: str) -> None:
        self.url = url


def test_sigkill_during_a_metered_burst_loses_and_doubles_nothing(
    tmp_path: Path, iris_file: Path
) -> None:
    port, data_dir = _free_port(), tmp_path / "data"
    server = _serve(data_dir, port)
    url = _Url(f"http://127.0.0.1:{port}")
    try:
        with client_for(url, OPERATOR_KEY) as operator:  # type: ignore[arg-type]
            org = make_org(operator, "burst")
        with client_for(url, org.key) as client:  # type: ignore[arg-type]
            serve_iris(client, "burst-iris", iris_file)
        keys = [uuid.uuid4().hex for _ in range(300)]
        served: list[str] = []

        def call(key: str) -> int:
            try:
                with client_for(url, org.key) as caller:  # type: ignore[arg-type]
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
        with client_for(url, org.key) as client:  # type: ignore[arg-type]
            deadline = time.monotonic() + 60
            while client.get("/v1/deployments/burst-iris").json().get("state") != "ready":
                assert time.monotonic() < deadline
                time.sleep(0.1)
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
