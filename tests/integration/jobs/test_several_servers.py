"""Two job services, as two gateways would run them, on one database (a SQLite file, then
PostgreSQL), each with its own worker processes and its heartbeat thread: B starting leaves A's
running job alone, a cancel through B stops the job in A's worker, and once A stops beating B
fails A's job as "server lost"."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from modelmart.datasets.samples import SAMPLES, install_samples
from modelmart.datasets.service import DatasetService
from modelmart.jobs.processes import ProcessExecutor
from modelmart.jobs.records import JobRecords
from modelmart.jobs.service import JobOwnership, JobService, server_lost
from modelmart.registry.service import Registry
from modelmart.schemas.jobs import JobInfo, JobState, SubmitJob, TrainingSpec
from modelmart.store.artifacts import LocalArtifactStore
from modelmart.store.db import create_engine_for, migrate, session_factory
from modelmart.tenancy import Principal
from tests.integration.jobs.data import LONG_SPEC

HEARTBEAT_S, TIMEOUT_S = 0.1, 2.0
USER = Principal.single_user()

StartServer = Callable[[], JobService]


@pytest.fixture
def start_server(database_url: str, tmp_path: Path) -> Iterator[StartServer]:
    """Starts job services on one database and data folder; closes them all at the end."""
    engine = create_engine_for(database_url)
    migrate(engine)
    sessions = session_factory(engine)
    datasets = DatasetService(
        sessions, LocalArtifactStore(tmp_path / "datasets"), tmp_path / "dcache", 10**8
    )
    install_samples(datasets, tuple(s for s in SAMPLES if s.name == "digits"))
    registry = Registry(sessions, LocalArtifactStore(tmp_path / "models"), tmp_path / "mc", 10**8)
    with ExitStack() as stack:

        def start() -> JobService:
            jobs = JobService(
                JobRecords(sessions),
                datasets,
                registry,
                ProcessExecutor(max_workers=1, cancel_grace_s=5),
                tmp_path / "jobs",
                JobOwnership(heartbeat_interval_s=HEARTBEAT_S, owner_timeout_s=TIMEOUT_S),
            )
            stack.callback(jobs.close)
            jobs.start()
            return jobs

        yield start
    engine.dispose()


def submit_long_job(jobs: JobService, model: str) -> str:
    spec = TrainingSpec(task="classification", family="mlp", **LONG_SPEC)
    return jobs.submit(USER, SubmitJob(dataset="digits", model=model, spec=spec)).id


def wait_for(jobs: JobService, job_id: str, state: JobState, timeout_s: float = 120) -> JobInfo:
    deadline = time.monotonic() + timeout_s
    while (job := jobs.get(job_id)).state is not state:
        assert time.monotonic() < deadline, f"job is {job.state.value}: {job.failure_reason}"
        time.sleep(0.05)
    return job


def test_b_starting_leaves_a_running_job_and_cancels_it_through_a(
    start_server: StartServer,
) -> None:
    a = start_server()
    job_id = submit_long_job(a, "cancelled-mlp")
    wait_for(a, job_id, JobState.RUNNING)
    b = start_server()
    time.sleep(TIMEOUT_S * 2)  # B's own checks ran many times meanwhile
    assert b.get(job_id).state is JobState.RUNNING
    assert b.cancel(USER, job_id).cancel_requested
    cancelled = wait_for(b, job_id, JobState.CANCELLED, timeout_s=30)
    assert cancelled.failure_reason == "cancelled on request"
    assert "cancelled" in a.log_file(job_id).read_text()


def test_a_silent_servers_job_is_failed_by_the_other(start_server: StartServer) -> None:
    a, b = start_server(), start_server()
    job_id = submit_long_job(a, "orphan-mlp")
    wait_for(a, job_id, JobState.RUNNING)
    started = time.monotonic()
    a.stop_heartbeat()  # as if A hung or was killed: its worker still trains
    failed = wait_for(b, job_id, JobState.FAILED, timeout_s=30)
    assert time.monotonic() - started >= TIMEOUT_S - HEARTBEAT_S
    assert failed.failure_reason == server_lost(a.server.name, TIMEOUT_S)
    assert failed.model_version is None
