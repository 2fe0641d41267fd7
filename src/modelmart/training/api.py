"""The training library's entry points: what the jobs layer and the gateway call.

A job turns a validated dataset version (:class:`~modelmart.training.runs.TrainingData`) and a
declarative :class:`~modelmart.schemas.jobs.TrainingSpec` into a
:class:`~modelmart.training.runs.TrainingOutcome`: an exported artifact ready for
``Registry.register_version``, its signature, headline metrics and the JSON evaluation report.

This module imports no deep-learning framework: torch is imported inside :func:`train`, so the
server and the CLI can validate specs and render reports without paying for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from modelmart.schemas.datasets import DatasetKind
from modelmart.schemas.jobs import TrainingSpec
from modelmart.training.runs import CancelToken, ProgressEvent, TrainingData, TrainingOutcome
from modelmart.training.specs import complete_spec


def validate_spec(
    spec: TrainingSpec, data_kind: DatasetKind, columns: Sequence[str]
) -> TrainingSpec:
    """``spec`` with the family and every hyperparameter filled in, or
    :class:`~modelmart.errors.ValidationFailed` saying what to change."""
    return complete_spec(spec, data_kind, columns)


def train(
    spec: TrainingSpec,
    data: TrainingData,
    workdir: Path,
    progress: Callable[[ProgressEvent], None],
    cancel: CancelToken,
) -> TrainingOutcome:
    """Split, fit, evaluate and export. Blocking; run it in a worker process.

    Raises :class:`~modelmart.errors.TrainingCancelled` soon after ``cancel`` fires and
    :class:`~modelmart.errors.ValidationFailed` for a spec or dataset it cannot train on.
    """
    from modelmart.training.trainer import run_training

    return run_training(spec, data, workdir, progress, cancel)


def render_report_html(report: dict[str, Any], title: str) -> str:
    """A self-contained HTML page (inline SVG plots, no external assets) for one report."""
    from modelmart.training.report_html import render_report

    return render_report(report, title)


def render_comparison_html(a: dict[str, Any], b: dict[str, Any], titles: tuple[str, str]) -> str:
    """Two reports side by side: metrics with the difference, then both sets of plots."""
    from modelmart.training.report_html import render_comparison

    return render_comparison(a, b, titles)
