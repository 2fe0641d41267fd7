"""The embedded executor with real worker processes: a failing job reports its reason, a job
cancelled while queued never starts, and closing stops what runs."""

from __future__ import annotations

import threading
from pathlib import Path

from modelmart.datasets.stored import StoredDataset
from modelmart.jobs.executor import JobTicket
from modelmart.jobs.processes import ProcessExecutor
from modelmart.schemas.datasets import DatasetKind
from modelmart.schemas.jobs import TrainingSpec
from modelmart.training.runs import ProgressEvent, TrainingOutcome


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, object]] = []
        self.finished: dict[str, threading.Event] = {}

    def _record(self, kind: str, job_id: str, detail: object = None) -> None:
        self.calls.append((kind, job_id, detail))
        if kind in ("succeeded", "failed", "cancelled"):
            self.finished.setdefault(job_id, threading.Event()).set()

    def wait(self, job_id: str) -> None:
        assert self.finished.setdefault(job_id, threading.Event()).wait(120)

    def started(self, job_id: str) -> None:
        self._record("started", job_id)

    def progress(self, job_id: str, event: ProgressEvent) -> None:
        self._record("progress", job_id, event)

    def succeeded(self, job_id: str, outcome: TrainingOutcome) -> None:
        self._record("succeeded", job_id, outcome)

    def failed(self, job_id: str, reason: str) -> None:
        self._record("failed", job_id, reason)

    def cancelled(self, job_id: str) -> None:
        self._record("cancelled", job_id)


def ticket(tmp_path: Path, job_id: str) -> JobTicket:
    missing = StoredDataset("toy", 1, DatasetKind.TABULAR, "csv", "label", "d" * 64,
                            tmp_path / "no-such-blob.csv", tmp_path, 1000)  # fmt: skip
    spec = TrainingSpec(task="classification")
    return JobTicket(job_id, spec, missing, tmp_path, tmp_path / f"{job_id}.log")


def test_a_failing_worker_and_a_job_cancelled_in_the_queue(tmp_path: Path) -> None:
    executor, listener = ProcessExecutor(max_workers=1), Recorder()
    try:
        executor.submit(ticket(tmp_path, "first"), listener)
        executor.submit(ticket(tmp_path, "second"), listener)
        assert executor.cancel("second")
        assert not executor.cancel("unknown")
        listener.wait("first")
        listener.wait("second")
    finally:
        executor.close()
    assert ("cancelled", "second", None) in listener.calls
    assert ("started", "second", None) not in listener.calls
    (reason,) = [detail for kind, job, detail in listener.calls if kind == "failed"]
    assert "no-such-blob.csv" in str(reason)
    assert "loading dataset toy version 1" in (tmp_path / "first.log").read_text()
