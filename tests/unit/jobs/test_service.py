"""The job service with an inline executor: states, events, registration with lineage,
reports, cancellation, and recovery of jobs no server owns (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelmart.errors import (
    DatasetNotFound,
    JobNotFound,
    ModelNotFound,
    ReportNotFound,
    ValidationFailed,
)
from modelmart.jobs.service import server_lost
from modelmart.schemas.jobs import JobState, SubmitJob, TrainingSpec
from modelmart.store.tables import JobRow, utc_now
from tests.unit.jobs.conftest import World
from tests.unit.jobs.fakes import REPORT
from tests.unit.registry.builders import SINGLE_USER


def submit(world: World, model: str | None = None) -> str:
    request = SubmitJob(dataset="toy", model=model, spec=TrainingSpec(task="classification"))
    return world.jobs.submit(SINGLE_USER, request).id


def test_a_successful_job_registers_a_version_with_lineage_and_report(any_world: World) -> None:
    job = any_world.jobs.get(submit(any_world))
    assert job.state is JobState.SUCCEEDED
    assert (job.model, job.model_version) == ("toy-logistic", 1)
    assert job.spec["family"] == "logistic"  # the spec is stored completed
    version = any_world.registry.get_version("toy-logistic", 1)
    assert version.metrics == {"accuracy": 0.9}
    assert version.parameters == {"labels": ["a", "b"]}
    assert version.lineage["dataset"] == "toy"
    assert version.lineage["job_id"] == job.id
    assert version.lineage["dataset_version"] == 1
    assert len(version.lineage["dataset_digest"]) == 64
    assert any_world.jobs.report("toy-logistic", "latest") == (1, REPORT)
    assert not (any_world.jobs_dir / job.id / "work").exists()  # the work folder is cleaned up
    assert "succeeded: model toy-logistic version 1" in any_world.jobs.logs(SINGLE_USER, job.id)


def test_progress_is_recorded_with_non_finite_numbers_dropped(any_world: World) -> None:
    job_id = submit(any_world)
    events = any_world.jobs.events(job_id)
    assert [(e.epoch, e.train_loss, e.metrics) for e in events] == [
        (1, 0.7, {"accuracy": 0.5}), (2, None, {}),
    ]  # fmt: skip
    assert any_world.jobs.events(job_id, after=events[0].sequence) == events[1:]
    latest = any_world.jobs.get(job_id).latest_event
    assert latest is not None
    assert latest.epoch == 2


@pytest.mark.parametrize("script", ["fail", "cancel"])
def test_failed_and_cancelled_jobs_register_nothing(world: World, script: str) -> None:
    world.executor.script = script
    job = world.jobs.get(submit(world))
    assert job.state is (JobState.FAILED if script == "fail" else JobState.CANCELLED)
    assert job.failure_reason
    assert job.model_version is None
    with pytest.raises(ModelNotFound):
        world.registry.get_model("toy-logistic")


def test_a_registration_failure_fails_the_job(world: World) -> None:
    world.inspector.error = ValidationFailed("the model does not load")
    job = world.jobs.get(submit(world))
    assert job.state is JobState.FAILED
    assert job.failure_reason == (
        "the trained model could not be registered: the model does not load"
    )
    assert world.registry.list_versions("toy-logistic") == []


def test_a_queued_job_can_be_cancelled(world: World) -> None:
    world.executor.hold = True
    job_id = submit(world, model="held")
    assert world.jobs.get(job_id).state is JobState.QUEUED
    world.jobs.cancel(SINGLE_USER, job_id)
    world.executor.run_all()
    assert world.jobs.get(job_id).state is JobState.CANCELLED
    assert world.jobs.cancel(SINGLE_USER, job_id).state is JobState.CANCELLED  # finished: unchanged


def test_an_open_job_unknown_to_the_executor_is_cancelled_at_once(world: World) -> None:
    world.executor.hold = True
    job_id = submit(world)
    world.executor.pending.clear()
    assert world.jobs.cancel(SINGLE_USER, job_id).state is JobState.CANCELLED


def test_recover_fails_open_jobs_that_no_server_owns(any_world: World) -> None:
    for job_id, state in (("a" * 32, "running"), ("b" * 32, "queued"), ("c" * 32, "succeeded")):
        row = JobRow(id=job_id, state=state, spec={}, dataset_name="toy", dataset_version=1,
                     model_name="m", created_at=utc_now())  # fmt: skip
        any_world.records.create(row)
    assert any_world.jobs.recover() == 2
    assert any_world.jobs.get("a" * 32).state is JobState.FAILED
    assert any_world.jobs.get("a" * 32).failure_reason == server_lost(None, 30.0)
    assert any_world.jobs.get("c" * 32).state is JobState.SUCCEEDED
    assert any_world.jobs.recover() == 0


def test_bad_requests_are_refused_before_anything_is_queued(world: World) -> None:
    with pytest.raises(DatasetNotFound):
        world.jobs.submit(
            SINGLE_USER, SubmitJob(dataset="nope", spec=TrainingSpec(task="classification"))
        )
    with pytest.raises(ValidationFailed):
        world.jobs.submit(
            SINGLE_USER,
            SubmitJob(dataset="toy", spec=TrainingSpec(task="classification", family="nope")),
        )
    assert world.executor.tickets == []
    assert world.jobs.visible(SINGLE_USER) == []


def test_unknown_jobs_and_reports(world: World) -> None:
    with pytest.raises(JobNotFound):
        world.jobs.get("nope")
    with pytest.raises(JobNotFound):
        world.jobs.logs(SINGLE_USER, "nope")
    with pytest.raises(ModelNotFound):
        world.jobs.report("missing", 1)
    world.jobs.close()
    assert world.executor.closed


def test_jobs_are_listed_newest_first(world: World) -> None:
    first, second = submit(world), submit(world)
    assert [job.id for job in world.jobs.visible(SINGLE_USER)] == [second, first]
    assert world.jobs.get(second).model_version == 2


def test_a_version_not_trained_by_a_job_has_no_report(world: World, tmp_path: Path) -> None:
    world.registry.create_model(SINGLE_USER, "plain", "classification")
    upload = tmp_path / "model.onnx"
    upload.write_bytes(b"onnx")
    world.registry.register_version("plain", upload, "model.onnx")
    with pytest.raises(ReportNotFound, match="only versions trained by a ModelMart job"):
        world.jobs.report("plain", 1)
