"""Jobs that do not finish: a killed worker, a cancel, and a server killed mid-job. None of
them may leave a registered version, an orphan artifact or a job stuck ``running``."""

from __future__ import annotations

import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from modelmart.client import Client
from modelmart.config import Settings
from modelmart.errors import ModelNotFound
from modelmart.jobs.service import server_lost
from modelmart.schemas.jobs import JobInfo, JobState
from tests.integration.jobs.data import LONG_SPEC
from tests.integration.servers import LiveServer, live_server

BIN = Path(sys.executable).parent


def submit_long_job(mm: Client, model: str) -> JobInfo:
    """An MLP on digits that runs for minutes."""
    return mm.train("digits", "classification", family="mlp", model=model, spec=LONG_SPEC)


def wait_until_running(mm: Client, job: JobInfo) -> None:
    for update in mm.watch_job(job.id):
        if isinstance(update, JobInfo) and update.state is JobState.RUNNING:
            return
    pytest.fail(f"job ended before it ran: {mm.get_job(job.id).failure_reason}")


def blobs(server: LiveServer) -> set[str]:
    return {p.name for p in server.settings.artifacts_dir.rglob("*") if p.is_file()}


def test_killed_and_cancelled_jobs_register_nothing(server: LiveServer) -> None:
    before = blobs(server)
    with Client(server.url) as mm:
        killed, cancelled = submit_long_job(mm, "killed-mlp"), submit_long_job(mm, "cancelled-mlp")
        wait_until_running(mm, killed)
        wait_until_running(mm, cancelled)
        (worker,) = [p for p in multiprocessing.active_children() if killed.id in (p.name or "")]
        os.kill(worker.pid or 0, signal.SIGKILL)
        assert mm.cancel_job(cancelled.id).state in (JobState.RUNNING, JobState.CANCELLED)
        done = mm.wait_for_job(killed.id)
        assert done.state is JobState.FAILED
        assert "exited with code -9" in (done.failure_reason or "")
        assert mm.wait_for_job(cancelled.id).state is JobState.CANCELLED
        assert "cancelled" in mm.job_logs(cancelled.id)
        for model in ("killed-mlp", "cancelled-mlp"):
            with pytest.raises(ModelNotFound):
                mm.get_model(model)
    assert blobs(server) == before


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for a parent that will never reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _serve(data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    command = [str(BIN / "modelmart"), "serve", "--port", str(port), "--data-dir", str(data_dir)]
    server = subprocess.Popen(command, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.kill()
    pytest.fail("modelmart serve did not start within 90 s")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_server_killed_mid_job_leaves_no_job_running(data_dir: Path) -> None:
    port = _free_port()
    server = _serve(data_dir, port)
    try:
        with Client(f"http://127.0.0.1:{port}") as mm:
            job = submit_long_job(mm, "orphan-mlp")
            wait_until_running(mm, job)
        workers = _children(server.pid)
        server.kill()
        server.wait(timeout=60)
    finally:
        server.kill()
    deadline = time.monotonic() + 30
    while any(map(_alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if _alive(pid)]  # they died with the server
    # The restarted server is a new owner: it fails the killed one's job once that one has
    # been silent for the owner timeout (at start-up if that long has passed, else soon after).
    settings = Settings(
        data_dir=data_dir, json_logs=False, job_heartbeat_interval_s=0.2, job_owner_timeout_s=1
    )
    with live_server(settings) as restarted, Client(restarted.url) as mm:
        deadline = time.monotonic() + 30
        while (after := mm.get_job(job.id)).state is not JobState.FAILED:
            assert time.monotonic() < deadline, f"the job stayed {after.state.value}"
            time.sleep(0.1)
        assert after.failure_reason == server_lost(after.server, 1.0)
        assert after.server is not None
        with pytest.raises(ModelNotFound):
            mm.get_model("orphan-mlp")
