"""What every family's ``fit`` receives and returns; the trainer evaluates the result."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelmart.arrays import Array, Batch
from modelmart.errors import TrainingCancelled
from modelmart.schemas.jobs import TrainingSpec
from modelmart.training.families import FamilyInfo
from modelmart.training.runs import CancelToken, ProgressEvent, TrainingData
from modelmart.training.splits import Split
from modelmart.types import ArtifactFormat


@dataclass(frozen=True)
class FitContext:
    """A completed spec, the data, where to write, and how to report and stop."""

    spec: TrainingSpec
    family: FamilyInfo
    data: TrainingData
    workdir: Path
    progress: Callable[[ProgressEvent], None]
    cancel: CancelToken

    @property
    def hyper(self) -> dict[str, Any]:
        return self.spec.hyperparameters

    @property
    def epochs(self) -> int:
        return self.spec.max_epochs or self.family.default_epochs or 1

    @property
    def target(self) -> str:
        target = self.spec.target or self.data.target
        if target is None:
            from modelmart.errors import ValidationFailed

            raise ValidationFailed(
                f"dataset '{self.data.name}' has no target column; name one in the spec's "
                "'target' field"
            )
        return target

    def check_cancelled(self) -> None:
        if self.cancel.cancelled():
            raise TrainingCancelled(f"training on '{self.data.name}' was cancelled")


@dataclass
class FitResult:
    """A fitted, exported model plus what the trainer needs to evaluate it through the
    serving runtime: the test rows as a serving batch and their true values.

    ``reference`` (probabilities, predictions or top-k scores of the model before export)
    lets the report state how faithfully the exported artifact reproduces it."""

    artifact: Path
    format: ArtifactFormat
    parameters: dict[str, Any]
    test_batch: Batch
    y_test: Array
    split: Split
    labels: list[str] = field(default_factory=list)
    reference: Array | None = None  # the in-memory model's main output on the test rows
    history: list[dict[str, float]] = field(default_factory=list)
    extra_metrics: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


def class_indices(values: Any) -> tuple[Array, list[str]]:
    """Labels as strings (what is served) and each row's index into the sorted labels."""
    as_text = np.asarray([str(v) for v in values], dtype=object)
    labels, indices = np.unique(as_text, return_inverse=True)
    return indices.astype(np.int64), [str(label) for label in labels]
