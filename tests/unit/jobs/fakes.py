"""An in-memory executor that plays a scripted run for each job, inline, in submit order."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from modelmart.jobs.executor import JobListener, JobTicket
from modelmart.training.runs import ProgressEvent, TrainingOutcome
from modelmart.types import ArtifactFormat, Task
from tests.unit.registry.builders import SIGNATURE

REPORT = {"metrics": {"accuracy": 0.9}, "confusion_matrix": [[1, 0], [0, 1]]}


def outcome_in(workdir: Path, accuracy: float = 0.9) -> TrainingOutcome:
    artifact = workdir / "model.onnx"
    artifact.write_bytes(b"fake onnx bytes")
    return TrainingOutcome(
        artifact=artifact,
        format=ArtifactFormat.ONNX,
        signature=SIGNATURE,
        task=Task.CLASSIFICATION,
        metrics={"accuracy": accuracy},
        report={**REPORT, "metrics": {"accuracy": accuracy}},
        parameters={"labels": ["a", "b"]},
    )


@dataclass
class FakeExecutor:
    """``script`` says how each job ends: "succeed" (default), "fail" or "cancel"; with
    ``hold`` jobs wait in ``queued`` until :meth:`run_all`."""

    script: str = "succeed"
    hold: bool = False
    pending: list[tuple[JobTicket, JobListener]] = field(default_factory=list)
    tickets: list[JobTicket] = field(default_factory=list)
    cancelled_ids: list[str] = field(default_factory=list)
    closed: bool = False

    def submit(self, ticket: JobTicket, listener: JobListener) -> None:
        self.tickets.append(ticket)
        self.pending.append((ticket, listener))
        if not self.hold:
            self.run_all()

    def run_all(self) -> None:
        while self.pending:
            ticket, listener = self.pending.pop(0)
            self._play(ticket, listener)

    def _play(self, ticket: JobTicket, listener: JobListener) -> None:
        job_id = ticket.job_id
        if job_id in self.cancelled_ids:
            listener.cancelled(job_id)
            return
        listener.started(job_id)
        listener.progress(job_id, ProgressEvent(1, 2, 0.7, 0.8, {"accuracy": 0.5}))
        listener.progress(job_id, ProgressEvent(2, 2, float("nan"), None, {"x": float("inf")}))
        if self.script == "fail":
            listener.failed(job_id, "diverged")
        elif self.script == "cancel":
            listener.cancelled(job_id)
        else:
            listener.succeeded(job_id, outcome_in(ticket.workdir))

    def cancel(self, job_id: str) -> bool:
        if any(ticket.job_id == job_id for ticket, _ in self.pending):
            self.cancelled_ids.append(job_id)
            return True
        return False

    def close(self) -> None:
        self.closed = True


@dataclass
class RunningExecutor:
    """Starts each job at once and keeps it running until :meth:`finish` or a cancel, which
    it reports at once, like a worker that stops at its next step."""

    running: dict[str, tuple[JobTicket, JobListener]] = field(default_factory=dict)
    cancel_calls: list[str] = field(default_factory=list)

    def submit(self, ticket: JobTicket, listener: JobListener) -> None:
        self.running[ticket.job_id] = (ticket, listener)
        listener.started(ticket.job_id)

    def finish(self, job_id: str) -> None:
        ticket, listener = self.running.pop(job_id)
        listener.succeeded(job_id, outcome_in(ticket.workdir))

    def cancel(self, job_id: str) -> bool:
        self.cancel_calls.append(job_id)
        if job_id not in self.running:
            return False
        _, listener = self.running.pop(job_id)
        listener.cancelled(job_id)
        return True

    def close(self) -> None:
        for job_id, (_, listener) in list(self.running.items()):
            del self.running[job_id]
            listener.failed(job_id, "the server stopped")
