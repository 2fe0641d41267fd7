"""A deployment pinned to CPUs over HTTP: its worker processes run on those CPUs only, a
change of CPUs swaps its instances while it serves, and CPUs the machine lacks are refused
with ``cpus_unavailable`` while the running instances keep serving."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .conftest import deploy, push

pytestmark = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity"), reason="CPU affinity is a Linux feature"
)
ROW = [[5.1, 3.5, 1.4, 0.2]]


def _workers_on(cpus: str) -> list[int]:
    """Processes of this test's process tree (the server runs in it) allowed on ``cpus``
    only, found through /proc."""
    pinned = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        mine = fields.get("PPid", "").strip() == str(os.getpid())
        if mine and fields.get("Cpus_allowed_list", "").strip() == cpus:
            pinned.append(int(entry))
    return pinned


def test_a_deployment_pinned_to_cpus_serves_from_workers_on_them(
    http: httpx.Client, iris_artifacts: tuple[Path, Path]
) -> None:
    cpu = max(os.sched_getaffinity(0))
    http.post("/v1/registry/models", json={"name": "iris", "task": "classification"})
    assert push(http, "iris", iris_artifacts[0]).status_code == 201

    deployed = deploy(http, model="iris", cpus=[cpu])
    assert deployed.status_code == 201, deployed.text
    assert deployed.json()["cpus"] == [cpu]
    assert http.post("/v1/models/iris:predict", json={"instances": ROW}).status_code == 200
    assert len(_workers_on(str(cpu))) == 1

    refused = http.patch("/v1/deployments/iris", json={"cpus": [1023]})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "cpus_unavailable"
    assert http.get("/v1/deployments/iris").json()["cpus"] == [cpu]
    assert http.post("/v1/models/iris:predict", json={"instances": ROW}).status_code == 200

    anywhere = http.patch("/v1/deployments/iris", json={"cpus": []})
    assert anywhere.status_code == 200, anywhere.text
    assert anywhere.json()["cpus"] == []
    assert http.post("/v1/models/iris:predict", json={"instances": ROW}).status_code == 200
    if len(os.sched_getaffinity(0)) > 1:
        assert _workers_on(str(cpu)) == []


def test_cpus_for_a_thread_instance_are_refused(
    http: httpx.Client, iris_artifacts: tuple[Path, Path]
) -> None:
    http.post("/v1/registry/models", json={"name": "iris", "task": "classification"})
    assert push(http, "iris", iris_artifacts[0]).status_code == 201

    response = deploy(http, model="iris", cpus=[0], isolation="thread")

    assert response.status_code == 400, response.text
    assert "only worker processes" in response.json()["error"]["message"]


def test_the_server_keeps_to_its_server_cpus(tmp_path: Path) -> None:
    cpu = min(os.sched_getaffinity(0))
    port = _free_port()
    env = {**os.environ, "MODELMART_SERVER_CPUS": str(cpu), "MODELMART_AUTH_ENABLED": "false"}
    command = [str(Path(sys.executable).with_name("modelmart")), "serve", "--port", str(port)]
    command += ["--data-dir", str(tmp_path / "data")]
    server = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not _answers(f"http://127.0.0.1:{port}/healthz"):
            assert server.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        threads = os.listdir(f"/proc/{server.pid}/task")
        assert {_allowed_list(server.pid, thread) for thread in threads} == {str(cpu)}
    finally:
        server.terminate()
        server.wait(timeout=60)


def _allowed_list(pid: int, thread: str) -> str:
    status = Path(f"/proc/{pid}/task/{thread}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("Cpus_allowed_list"))
    return line.split(":", 1)[1].strip()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
