"""The CLI against a real server: datasets, training with a progress bar, jobs and reports."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner, Result

from modelmart.cli.main import app
from tests.integration.jobs.data import blobs_csv
from tests.integration.servers import LiveServer


@pytest.fixture
def cli(server: LiveServer, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, ["--url", server.url, *args])

    return run


def test_push_show_preview_and_refuse_datasets(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pushed = cli("datasets", "push", "cli-blobs", str(blobs_csv(tmp_path / "b.csv")))
    assert pushed.exit_code == 0, pushed.output
    assert "Pushed dataset cli-blobs v1 (tabular, 90 rows)" in pushed.output
    assert "cli-blobs" in cli("datasets", "list").output
    shown = cli("datasets", "show", "cli-blobs")
    assert "class_0: 30" in shown.output
    assert "x1" in cli("datasets", "preview", "cli-blobs", "--rows", "2").output
    bad = tmp_path / "bad.csv"
    bad.write_text("x,label\n1,a\n2,\n")
    refused = cli("datasets", "push", "bad", str(bad))
    assert refused.exit_code == 1
    assert "error [invalid_dataset]: row 2 (line 3) has no value" in refused.output


def test_train_jobs_report_and_compare(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("datasets", "push", "cli-train", str(blobs_csv(tmp_path / "t.csv"))).exit_code == 0
    first = cli("train", "--dataset", "cli-train", "--task", "classification", "--param", "C=0.5")
    assert first.exit_code == 0, first.output
    assert "Trained cli-train-logistic v1" in first.output
    listed = cli("--json", "jobs", "list")
    job = next(j for j in orjson.loads(listed.output) if j["model"] == "cli-train-logistic")
    assert (job["state"], job["model_version"]) == ("succeeded", 1)
    assert job["spec"]["hyperparameters"]["C"] == 0.5
    assert job["id"] in cli("jobs", "list").output
    assert "succeeded" in cli("jobs", "show", job["id"]).output
    assert "job succeeded" in cli("jobs", "logs", job["id"]).output
    assert "accuracy" in cli("report", "cli-train-logistic", "1").output
    page = tmp_path / "report.html"
    assert cli("report", "cli-train-logistic", "1", "--html", str(page)).exit_code == 0
    assert "<svg" in page.read_text()
    compared = cli("compare", "cli-train-logistic", "1", "1")
    assert "Difference" in compared.output
    assert cli("jobs", "cancel", job["id"]).exit_code == 0  # finished: reported unchanged
