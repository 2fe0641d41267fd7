"""Two real gateways on one data folder and database (SQLite): B starting leaves a job that A
runs alone, and a cancel through B, answered at once with the job marked, stops it on A."""

from __future__ import annotations

from pathlib import Path

from modelmart.client import Client
from modelmart.config import Settings
from modelmart.schemas.jobs import JobState
from tests.integration.jobs.test_job_failures import submit_long_job, wait_until_running
from tests.integration.servers import live_server


def test_a_job_on_gateway_a_survives_b_starting_and_is_cancelled_through_b(
    tmp_path: Path,
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        json_logs=False,
        job_heartbeat_interval_s=0.2,
        job_owner_timeout_s=3,
    )
    with live_server(settings) as a, Client(a.url) as through_a:
        job = submit_long_job(through_a, "two-gateways-mlp")
        wait_until_running(through_a, job)
        with live_server(settings) as b, Client(b.url) as through_b:
            assert through_b.get_job(job.id).state is JobState.RUNNING
            marked = through_b.cancel_job(job.id)
            assert marked.state is JobState.RUNNING
            assert marked.cancel_requested
            assert marked.server == through_a.get_job(job.id).server
            assert through_b.wait_for_job(job.id).state is JobState.CANCELLED
