"""What the jobs API accepts and returns: a training request with its spec, and the job."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TaskName = Literal["classification", "regression", "recommendation"]


class SplitSpec(BaseModel):
    """Fractions held out for validation and test; ``k_folds`` adds a k-fold estimate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    validation: float = Field(default=0.15, ge=0.0, lt=1.0)
    test: float = Field(default=0.15, gt=0.0, lt=1.0)
    stratify: bool = True
    k_folds: int | None = Field(default=None, ge=2, le=20)


class TrainingResources(BaseModel):
    """What one job asks of the machine it runs on. A cluster executor places the job on a
    node with this much free; the embedded executor runs it on this machine as it is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    num_cpus: float = Field(default=1.0, gt=0, le=512)
    memory_mb: int | None = Field(default=None, ge=1, le=4 * 1024 * 1024)


class TrainingSpec(BaseModel):
    """What to train. Only ``task`` is required; the rest has defaults per dataset kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: TaskName
    family: str | None = None
    target: str | None = None
    features: list[str] | None = None
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
    split: SplitSpec = Field(default_factory=SplitSpec)
    seed: int = Field(default=0, ge=0)
    max_epochs: int | None = Field(default=None, ge=1, le=10_000)
    early_stopping_patience: int | None = Field(default=5, ge=1)
    resources: TrainingResources = Field(default_factory=TrainingResources)


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


class SubmitJob(BaseModel):
    """A training request: which dataset version, what to train, and the model to register
    the result under (default ``<dataset>-<family>``)."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(min_length=1, max_length=128)
    dataset_version: int | None = Field(default=None, ge=1)
    model: str | None = Field(default=None, min_length=1, max_length=128)
    spec: TrainingSpec


class JobEvent(BaseModel):
    """One progress report: an epoch's losses and validation metrics."""

    model_config = ConfigDict(frozen=True)

    sequence: int
    epoch: int
    total_epochs: int
    train_loss: float | None
    validation_loss: float | None
    metrics: dict[str, float]
    message: str | None
    created_at: datetime


class JobInfo(BaseModel):
    """A job and where it stands. ``model_version`` is set once it succeeded: deploy it with
    ``POST /v1/deployments``."""

    model_config = ConfigDict(frozen=True)

    id: str
    state: JobState
    spec: dict[str, Any]
    dataset: str
    dataset_version: int
    model: str
    model_version: int | None
    failure_reason: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    latest_event: JobEvent | None = None
    owner: str = ""
    server: str | None = None
    """The server process running it, "host pid"; None for jobs from before servers had ids."""
    cancel_requested: bool = False
    """Cancelled through a server that does not run it: its own server stops it shortly."""
