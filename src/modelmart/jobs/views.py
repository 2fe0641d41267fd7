"""What the jobs API accepts and returns."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelmart.training.api import TrainingSpec


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
