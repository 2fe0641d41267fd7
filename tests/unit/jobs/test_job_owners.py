"""Several servers on one database, each with its own executor and a shared fake clock: a server
starting fails only the jobs of servers silent for longer than the timeout, a cancel through
any server stops the job where it runs, orphans are failed by exactly one server (SQLite and
PostgreSQL)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from modelmart.config import Settings
from modelmart.datasets.service import DatasetService
from modelmart.jobs.executor import JobExecutor
from modelmart.jobs.records import JobRecords, ServerIdentity
from modelmart.jobs.service import JobOwnership, JobService, server_lost
from modelmart.registry.service import Registry
from modelmart.schemas.datasets import DatasetMetadata
from modelmart.schemas.jobs import JobState, SubmitJob, TrainingSpec
from modelmart.store.artifacts import MemoryArtifactStore
from modelmart.store.db import create_engine_for, migrate, session_factory
from modelmart.store.tables import JobServerRow, utc_now
from tests.unit.conftest import FakeInspector
from tests.unit.datasets.files import TABLE, write
from tests.unit.jobs.fakes import FakeExecutor, RunningExecutor
from tests.unit.registry.builders import SINGLE_USER

INTERVAL_S, TIMEOUT_S = 2.0, 30.0


@dataclass
class FakeClock:
    now: datetime = field(default_factory=utc_now)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Gateway:
    jobs: JobService
    executor: Any  # RunningExecutor unless the test passed another


@dataclass
class Cluster:
    """What the servers share (the database, the data folder, the clock), and a way to start
    one more server on it."""

    sessions: sessionmaker[Session]
    records: JobRecords
    datasets: DatasetService
    registry: Registry
    jobs_dir: Path
    clock: FakeClock

    def gateway(self, pid: int = 100, executor: JobExecutor | None = None) -> Gateway:
        executor = executor or RunningExecutor()
        server = ServerIdentity(uuid.uuid4().hex, "host-a", pid, self.clock())
        ownership = JobOwnership(server, INTERVAL_S, TIMEOUT_S, self.clock)
        jobs = JobService(
            self.records, self.datasets, self.registry, executor, self.jobs_dir, ownership
        )
        jobs.recover()
        return Gateway(jobs, executor)


@pytest.fixture
def cluster(database_url: str, tmp_path: Path) -> Iterator[Cluster]:
    engine = create_engine_for(database_url)
    migrate(engine)
    sessions = session_factory(engine)
    datasets = DatasetService(sessions, MemoryArtifactStore(), tmp_path / "cache", 10**7)
    datasets.register(
        SINGLE_USER, "toy", write(tmp_path / "t.csv", TABLE), "t.csv", DatasetMetadata()
    )
    registry = Registry(
        sessions, MemoryArtifactStore(), tmp_path / "mcache", 10**7, FakeInspector()
    )
    yield Cluster(
        sessions, JobRecords(sessions), datasets, registry, tmp_path / "jobs", FakeClock()
    )
    engine.dispose()


def submit(gateway: Gateway, model: str = "m") -> str:
    request = SubmitJob(dataset="toy", model=model, spec=TrainingSpec(task="classification"))
    return gateway.jobs.submit(SINGLE_USER, request).id


def test_a_server_starting_leaves_a_live_servers_jobs_alone(cluster: Cluster) -> None:
    a = cluster.gateway(pid=1)
    job_id = submit(a)
    cluster.clock.advance(TIMEOUT_S - 1)
    a.jobs.tick()
    cluster.clock.advance(TIMEOUT_S - 1)  # A beat TIMEOUT_S - 1 ago: late, but not lost
    b = cluster.gateway(pid=2)
    b.jobs.tick()
    job = b.jobs.get(job_id)
    assert job.state is JobState.RUNNING
    assert job.server == "host-a pid 1"
    a.executor.finish(job_id)
    assert b.jobs.get(job_id).state is JobState.SUCCEEDED


def test_a_cancel_through_another_server_stops_the_job_where_it_runs(cluster: Cluster) -> None:
    a, b = cluster.gateway(pid=1), cluster.gateway(pid=2)
    job_id = submit(a)
    marked = b.jobs.cancel(SINGLE_USER, job_id)
    assert marked.state is JobState.RUNNING  # cancelled only once A's executor stopped it
    assert marked.cancel_requested
    assert job_id in a.executor.running
    b.jobs.tick()
    assert job_id in a.executor.running  # B cannot stop what A runs
    a.jobs.tick()
    assert a.executor.cancel_calls == [job_id]
    assert b.jobs.get(job_id).state is JobState.CANCELLED
    a.jobs.tick()
    assert a.executor.cancel_calls == [job_id]  # passed on once


def test_a_queued_job_is_cancelled_at_once_through_any_server(cluster: Cluster) -> None:
    a, b = cluster.gateway(pid=1, executor=FakeExecutor(hold=True)), cluster.gateway(pid=2)
    through_b, through_a = submit(a, "b"), submit(a, "a")
    assert b.jobs.cancel(SINGLE_USER, through_b).state is JobState.CANCELLED
    assert a.jobs.cancel(SINGLE_USER, through_a).state is JobState.CANCELLED
    assert a.executor.cancelled_ids == [through_a]  # its own: dropped from the queue at once
    a.jobs.tick()
    assert a.executor.cancelled_ids == [through_a, through_b]  # B's: on A's next beat
    a.executor.run_all()
    for job_id in (through_a, through_b):
        job = a.jobs.get(job_id)
        assert (job.state, job.started_at) == (JobState.CANCELLED, None)


def test_a_cancel_through_the_running_server_stops_it_at_once(cluster: Cluster) -> None:
    a = cluster.gateway()
    job_id = submit(a)
    assert a.jobs.cancel(SINGLE_USER, job_id).state is JobState.CANCELLED
    assert not a.jobs.get(job_id).cancel_requested


def test_a_job_whose_server_is_gone_is_cancelled_at_once(cluster: Cluster) -> None:
    a, b = cluster.gateway(pid=1), cluster.gateway(pid=2)
    job_id = submit(a)
    cluster.clock.advance(TIMEOUT_S + 1)  # A stopped beating; B has not checked since
    cancelled = b.jobs.cancel(SINGLE_USER, job_id)
    assert cancelled.state is JobState.CANCELLED
    assert cancelled.failure_reason == "cancelled on request"
    assert a.executor.cancel_calls == []


def test_a_silent_servers_jobs_fail_as_server_lost_once(cluster: Cluster) -> None:
    a = cluster.gateway(pid=1)
    running, queued = submit(a, "r"), submit(a, "q")
    b, c = cluster.gateway(pid=2), cluster.gateway(pid=3)
    cluster.clock.advance(TIMEOUT_S / 2)
    b.jobs.tick()
    c.jobs.tick()
    assert b.jobs.get(running).state is JobState.RUNNING  # A is late, not lost yet
    cluster.clock.advance(TIMEOUT_S)  # A beat last TIMEOUT_S * 1.5 ago: killed
    b.jobs.tick()
    c.jobs.tick()
    for job_id in (running, queued):
        job = c.jobs.get(job_id)
        assert job.state is JobState.FAILED
        assert job.failure_reason == server_lost("host-a pid 1", TIMEOUT_S)
        log = c.jobs.log_file(job_id).read_text()
        assert log.count("server lost") == 1  # one server acted, not both


def test_a_guarded_update_lets_one_of_two_servers_finish_an_orphan(cluster: Cluster) -> None:
    a = cluster.gateway(pid=1)
    job_id = submit(a)
    cluster.clock.advance(TIMEOUT_S + 1)
    cutoff = cluster.clock() - timedelta(seconds=TIMEOUT_S)
    first = cluster.records.finish_orphan(job_id, cutoff, JobState.FAILED, "lost")
    second = cluster.records.finish_orphan(job_id, cutoff, JobState.FAILED, "lost")
    assert (first, second) == (True, False)


def test_an_orphan_check_spares_a_server_that_beat_again(cluster: Cluster) -> None:
    a = cluster.gateway(pid=1)
    job_id = submit(a)
    cluster.clock.advance(TIMEOUT_S + 1)
    (orphan,) = cluster.records.orphans(cluster.clock() - timedelta(seconds=TIMEOUT_S), "other")
    a.jobs.tick()  # A beats between another server's read and its update
    cutoff = cluster.clock() - timedelta(seconds=TIMEOUT_S)
    assert not cluster.records.finish_orphan(orphan.id, cutoff, JobState.FAILED, "lost")
    assert a.jobs.get(job_id).state is JobState.RUNNING


def test_a_restarted_server_is_a_new_owner(cluster: Cluster) -> None:
    """Same host, same pid (a container restarted), but a new id: the previous life's job is
    not taken for one this process runs, and fails once that life has been silent too long."""
    first_life = cluster.gateway(pid=1)
    job_id = submit(first_life)
    second_life = cluster.gateway(pid=1)
    assert second_life.jobs.server.id != first_life.jobs.server.id
    second_life.jobs.tick()
    assert second_life.jobs.get(job_id).state is JobState.RUNNING  # within the timeout
    assert second_life.jobs.cancel(SINGLE_USER, job_id).cancel_requested
    assert second_life.executor.cancel_calls == []  # not its job to stop
    cluster.clock.advance(TIMEOUT_S + 1)
    second_life.jobs.tick()
    job = second_life.jobs.get(job_id)
    assert job.state is JobState.FAILED
    assert job.failure_reason == server_lost("host-a pid 1", TIMEOUT_S)


def test_a_server_stops_a_job_that_another_server_failed(cluster: Cluster) -> None:
    """A paused past the timeout: B failed its job. A stops it on its next beat, and a success
    reported meanwhile registers nothing."""
    a = cluster.gateway(pid=1)
    stopped, finished = submit(a, "stopped"), submit(a, "finished")
    cluster.clock.advance(TIMEOUT_S + 1)
    b = cluster.gateway(pid=2)
    assert b.jobs.get(stopped).state is JobState.FAILED
    a.executor.finish(finished)
    assert b.jobs.get(finished).state is JobState.FAILED
    assert b.jobs.get(finished).model_version is None
    a.jobs.tick()
    assert a.executor.cancel_calls == [stopped]
    assert b.jobs.get(stopped).state is JobState.FAILED


def test_a_server_that_closes_leaves_orphans_for_the_next(cluster: Cluster) -> None:
    a = cluster.gateway(pid=1)
    job_id = submit(a)
    a.executor.running.clear()  # a job its executor lost track of while closing
    a.jobs.close()
    b = cluster.gateway(pid=2)  # no wait for the timeout: A said it was gone
    assert b.jobs.get(job_id).state is JobState.FAILED


def test_a_pruned_server_row_is_made_again_by_its_heartbeat(cluster: Cluster) -> None:
    a = cluster.gateway(pid=1)
    job_id = submit(a)
    assert cluster.records.prune_servers(cluster.clock() + timedelta(seconds=1)) == 1
    a.jobs.tick()
    b = cluster.gateway(pid=2)
    assert b.jobs.get(job_id).state is JobState.RUNNING


def test_the_owner_timeout_must_span_several_heartbeats(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="three times"):
        Settings(data_dir=tmp_path, job_heartbeat_interval_s=5, job_owner_timeout_s=10)
    Settings(data_dir=tmp_path, job_heartbeat_interval_s=1, job_owner_timeout_s=3)


def test_server_rows_record_host_and_pid(cluster: Cluster) -> None:
    a = cluster.gateway(pid=42)
    with cluster.sessions() as session:
        row = session.get(JobServerRow, a.jobs.server.id)
        assert row is not None
        assert (row.host, row.pid) == ("host-a", 42)


def test_the_default_clock_is_the_databases(cluster: Cluster) -> None:
    now = cluster.records.database_now()
    assert now.utcoffset() == timedelta(0)
    assert abs(now - utc_now()) < timedelta(seconds=5)  # one machine here: the same clock
    jobs = JobService(
        cluster.records, cluster.datasets, cluster.registry, RunningExecutor(), cluster.jobs_dir
    )
    jobs.recover()
    with cluster.sessions() as session:
        row = session.get(JobServerRow, jobs.server.id)
        assert row is not None
        assert abs(row.last_seen - utc_now()) < timedelta(seconds=5)
