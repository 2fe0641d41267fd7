"""The worker's training step, run in this process with the trainer and loader replaced."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from modelmart.datasets.stored import StoredDataset
from modelmart.errors import TrainingCancelled, ValidationFailed
from modelmart.jobs import worker
from modelmart.jobs.executor import JobTicket
from modelmart.schemas.datasets import DatasetKind
from modelmart.schemas.jobs import TrainingSpec
from modelmart.training.runs import ProgressEvent
from tests.unit.jobs.fakes import outcome_in


class Pipe:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def send(self, message: tuple[str, Any]) -> None:
        self.sent.append(message)


@pytest.fixture
def ticket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> JobTicket:
    monkeypatch.setattr("modelmart.datasets.loading.load_training_data", lambda stored: stored)
    stored = StoredDataset("toy", 1, DatasetKind.TABULAR, "csv", "label", "d" * 64,
                           tmp_path / "blob", tmp_path, 1000)  # fmt: skip
    spec = TrainingSpec(task="classification")
    return JobTicket("j1", spec, stored, tmp_path, tmp_path / "job.log")


def run(ticket: JobTicket, trainer: Any, cancelled: bool = False) -> tuple[Pipe, tuple[str, Any]]:
    event = multiprocessing.get_context("spawn").Event()
    if cancelled:
        event.set()
    pipe = Pipe()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(worker, "train", trainer)
        final = worker._train(ticket, pipe, event)  # type: ignore[arg-type]
    return pipe, final


def test_progress_then_the_outcome(ticket: JobTicket) -> None:
    def trainer(spec: Any, data: Any, workdir: Path, progress: Any, cancel: Any) -> Any:
        assert not cancel.cancelled()
        progress(ProgressEvent(1, 1, 0.1, 0.2, {"accuracy": 1.0}))
        return outcome_in(workdir)

    pipe, (kind, outcome) = run(ticket, trainer)
    assert [k for k, _ in pipe.sent] == ["progress"]
    assert kind == "succeeded"
    assert outcome.metrics == {"accuracy": 0.9}


def test_a_cancel_before_training_skips_the_trainer(ticket: JobTicket) -> None:
    def trainer(*_: Any) -> Any:
        raise AssertionError("the trainer ran")

    assert run(ticket, trainer, cancelled=True)[1] == ("cancelled", None)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (TrainingCancelled("stop"), ("cancelled", None)),
        (ValidationFailed("bad spec"), ("failed", "bad spec")),
        (RuntimeError("boom"), ("failed", "training raised RuntimeError: boom")),
    ],
)
def test_errors_become_final_messages(
    ticket: JobTicket, error: Exception, expected: tuple[str, Any]
) -> None:
    def trainer(*_: Any) -> Any:
        raise error

    assert run(ticket, trainer)[1] == expected
