"""The whole lifecycle through the SDK against a real server: upload a dataset, train, watch
the server-sent progress, read the report, compare, deploy and predict over HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from modelmart.client import Client
from modelmart.errors import InvalidDataset, JobNotFound, ReportNotFound, ValidationFailed
from modelmart.schemas.jobs import JobEvent, JobInfo, JobState
from tests.integration.jobs.data import blobs_csv, ratings_csv, reviews_jsonl
from tests.integration.servers import LiveServer


@pytest.fixture(scope="module")
def trained(server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> tuple[JobInfo, list]:
    path = blobs_csv(tmp_path_factory.mktemp("blobs") / "blobs.csv")
    with Client(server.url) as mm:
        dataset = mm.push_dataset("blobs", path, description="three blobs")
        assert (dataset.kind, dataset.target, dataset.summary.rows) == ("tabular", "label", 90)
        job = mm.train("blobs", "classification", family="logistic", model="blobs-clf")
        assert job.state is JobState.QUEUED
        # A second version, trained alongside, for the comparison.
        weak = mm.train("blobs", "classification", family="logistic", model="blobs-clf",
                        hyperparameters={"C": 0.001})  # fmt: skip
        updates = list(mm.watch_job(job.id))
        assert mm.wait_for_job(weak.id).state is JobState.SUCCEEDED
        # Both versions register as they finish: either may be 1.
        return mm.get_job(job.id), updates


def test_progress_streams_until_the_job_succeeds(trained: tuple[JobInfo, list]) -> None:
    job, updates = trained
    states = [u.state for u in updates if isinstance(u, JobInfo)]
    events = [u for u in updates if isinstance(u, JobEvent)]
    assert states[-1] is JobState.SUCCEEDED, job.failure_reason
    assert JobState.RUNNING in states or states[0] is JobState.SUCCEEDED
    assert events
    assert "accuracy" in events[-1].metrics
    assert job.model == "blobs-clf"
    assert job.model_version in (1, 2)


def test_the_version_carries_metrics_lineage_and_a_report(
    server: LiveServer, trained: tuple[JobInfo, list]
) -> None:
    job, _ = trained
    with Client(server.url) as mm:
        version = mm.get_version("blobs-clf", job.model_version or 0)
        assert version.lineage["job_id"] == job.id
        assert version.lineage["dataset"] == "blobs"
        assert version.lineage["dataset_digest"] == mm.get_dataset("blobs").digest
        report = mm.report("blobs-clf", version.version)
        assert report["metrics"]["accuracy"] == pytest.approx(version.metrics["accuracy"])
        assert version.metrics["accuracy"] > 0.9  # three well-separated blobs
        assert "confusion_matrix" in report
        html = mm.report_html("blobs-clf", version.version)
        assert html.lstrip().lower().startswith("<!doctype html")
        assert f"blobs-clf version {version.version}" in html
        assert "test" in mm.job_logs(job.id)


def test_two_versions_compare_side_by_side(server: LiveServer, trained: tuple) -> None:
    with Client(server.url) as mm:
        versions = {v.version: v for v in mm.list_versions("blobs-clf")}
        assert set(versions) == {1, 2}
        comparison = mm.compare("blobs-clf", 1, 2)
        accuracy = comparison["metrics"]["accuracy"]
        assert accuracy["a"] == pytest.approx(versions[1].metrics["accuracy"])
        assert accuracy["difference"] == pytest.approx(accuracy["b"] - accuracy["a"])
        assert "<html" in mm.compare("blobs-clf", 1, 2, html=True).lower()


def test_the_trained_version_deploys_and_predicts_over_http(
    server: LiveServer, trained: tuple[JobInfo, list]
) -> None:
    job, _ = trained
    with Client(server.url) as mm:
        mm.deploy("blobs-clf", version=job.model_version)
    response = httpx.post(
        f"{server.url}/v1/models/blobs-clf:predict",
        json={"instances": [[0.1, -0.2], [3.1, 2.9], [6.0, 6.2]]},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 3


def test_bad_requests_are_refused_with_precise_errors(server: LiveServer, tmp_path: Path) -> None:
    one_class = tmp_path / "one.csv"
    one_class.write_text("x,label\n1,a\n2,a\n3,a\n")
    with Client(server.url) as mm:
        with pytest.raises(InvalidDataset, match="single value"):
            mm.push_dataset("one", one_class)
        with pytest.raises(ValidationFailed):
            mm.train("blobs", "classification", family="no-such-family")
        with pytest.raises(ValidationFailed, match=r"hyperparameter|unknown"):
            mm.train("blobs", "classification", hyperparameters={"nonsense": 1})
        with pytest.raises(JobNotFound):
            mm.get_job("nope")
        with pytest.raises(JobNotFound):
            list(mm.watch_job("nope"))
        catalogue_model = mm.list_models()[0].name  # registered, not trained: no report
        with pytest.raises(ReportNotFound):
            mm.report(catalogue_model, "latest")


def test_samples_are_registered_and_previewable(server: LiveServer) -> None:
    with Client(server.url) as mm:
        names = {d.name for d in mm.list_datasets()}
        assert {"iris", "wine", "breast_cancer", "diabetes", "digits", "digits-images"} <= names
        preview = mm.preview_dataset("iris", rows=3)
        assert len(preview.rows) == 3
        assert "label" in preview.columns
        assert mm.get_dataset("digits-images").summary.files == 1797


def test_text_and_interaction_datasets_train_through_jobs(
    server: LiveServer, tmp_path: Path
) -> None:
    with Client(server.url) as mm:
        reviews = mm.push_dataset("reviews", reviews_jsonl(tmp_path / "r.jsonl"))
        ratings = mm.push_dataset("ratings", ratings_csv(tmp_path / "r.csv"))
        assert (reviews.kind, ratings.kind, ratings.target) == ("text", "interactions", None)
        text_job = mm.train("reviews", "classification")
        ratings_job = mm.train("ratings", "recommendation", spec={"max_epochs": 2})
        text_done, ratings_done = mm.wait_for_job(text_job.id), mm.wait_for_job(ratings_job.id)
    assert text_done.state is JobState.SUCCEEDED, text_done.failure_reason
    assert ratings_done.state is JobState.SUCCEEDED, ratings_done.failure_reason
    assert ratings_done.spec["family"] == "als"
    with Client(server.url) as mm:
        assert "ndcg_at_10" in mm.get_version(ratings_done.model, 1).metrics


def test_events_resume_after_a_sequence_and_delete_cancels(
    server: LiveServer, trained: tuple[JobInfo, list]
) -> None:
    job, updates = trained
    events = [u for u in updates if isinstance(u, JobEvent)]
    url = f"{server.url}/v1/jobs/{job.id}/events"
    resumed = httpx.get(url, headers={"Last-Event-ID": str(events[-1].sequence)}, timeout=30)
    assert resumed.headers["content-type"].startswith("text/event-stream")
    assert "event: progress" not in resumed.text  # nothing after the last one
    assert "event: state" in resumed.text
    deleted = httpx.delete(f"{server.url}/v1/jobs/{job.id}", timeout=30)
    assert deleted.json()["state"] == "succeeded"  # a finished job stays as it was
