"""The seam between the job service and whatever runs training: :class:`JobExecutor`.

The service hands an executor a :class:`JobTicket` and hears back through a
:class:`JobListener`: started, progress, then exactly one of succeeded, failed or cancelled.
The embedded executor (:mod:`.processes`) runs each job in a worker process on this machine;
unit tests run jobs inline with a fake.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from modelmart.datasets.stored import StoredDataset
from modelmart.schemas.jobs import TrainingSpec
from modelmart.training.runs import ProgressEvent, TrainingOutcome


@dataclass(frozen=True)
class JobTicket:
    """Everything a worker needs to train, picklable: the completed spec, where the dataset
    is, a work folder the service owns (the artifact lands there) and the log file."""

    job_id: str
    spec: TrainingSpec
    dataset: StoredDataset
    workdir: Path
    log_file: Path


class JobListener(Protocol):
    """What an executor reports, from any thread. Exactly one final call per job."""

    def started(self, job_id: str) -> None: ...

    def progress(self, job_id: str, event: ProgressEvent) -> None: ...

    def succeeded(self, job_id: str, outcome: TrainingOutcome) -> None: ...

    def failed(self, job_id: str, reason: str) -> None: ...

    def cancelled(self, job_id: str) -> None: ...


class JobExecutor(Protocol):
    """Runs tickets asynchronously, a bounded number at a time; the rest wait in order."""

    def submit(self, ticket: JobTicket, listener: JobListener) -> None: ...

    def cancel(self, job_id: str) -> bool:
        """Ask a queued or running job to stop; False when the executor does not know it."""
        ...

    def close(self) -> None:
        """Stop every job (they are reported failed) and release the workers."""
        ...
