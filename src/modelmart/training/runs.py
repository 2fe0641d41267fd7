"""The values one training run takes in, reports while it runs, and hands back.

Its own module, apart from :mod:`modelmart.training.api`, because the trainer and its helpers
need these classes while ``api`` calls into them: both import this, neither the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from modelmart.schemas.datasets import DatasetKind
from modelmart.types import ArtifactFormat, Signature, Task

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class TrainingData:
    """A validated dataset version, as the trainer reads it.

    ``frame`` holds one row per example. Image and audio datasets carry a ``path`` column
    relative to ``root``; text datasets a ``text`` column; interaction datasets the columns
    ``user``, ``item``, ``rating`` (and optionally ``timestamp``) and no target.
    """

    kind: DatasetKind
    frame: pd.DataFrame
    root: Path | None
    target: str | None
    name: str
    version: int
    digest: str


@dataclass(frozen=True)
class ProgressEvent:
    """One step of a running job: sent after every epoch (and once at the end)."""

    epoch: int
    total_epochs: int
    train_loss: float | None
    validation_loss: float | None
    metrics: dict[str, float]
    message: str | None = None


class CancelToken(Protocol):
    def cancelled(self) -> bool: ...


@dataclass(frozen=True)
class TrainingOutcome:
    """A trained, evaluated, exported model. ``artifact`` lives in a directory the caller owns."""

    artifact: Path
    format: ArtifactFormat
    signature: Signature
    task: Task
    metrics: dict[str, float]
    report: dict[str, Any]
    parameters: dict[str, Any]
