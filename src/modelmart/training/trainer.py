"""Run one training job: complete the spec, fit the family, evaluate what will be served."""

from __future__ import annotations

import importlib
import random
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from modelmart.schemas.datasets import DatasetKind
from modelmart.schemas.jobs import TrainingSpec
from modelmart.training.context import FitContext, FitResult
from modelmart.training.evaluation import build_report, served_predictions
from modelmart.training.families import FAMILIES
from modelmart.training.runs import CancelToken, ProgressEvent, TrainingData, TrainingOutcome
from modelmart.training.specs import complete_spec
from modelmart.types import Task

FitFunction = Callable[[FitContext], FitResult]

# Family -> (module, function). Modules are imported on use: scikit-learn families never
# import torch.
_FIT_FUNCTIONS: dict[str, tuple[str, str]] = {
    "linear": ("modelmart.training.tabular", "fit_linear"),
    "logistic": ("modelmart.training.tabular", "fit_logistic"),
    "logistic/text": ("modelmart.training.text_linear", "fit_text_logistic"),
    "mlp": ("modelmart.training.mlp", "fit_mlp"),
    "cnn": ("modelmart.training.images", "fit_cnn"),
    "rnn": ("modelmart.training.text", "fit_sequence"),
    "lstm": ("modelmart.training.text", "fit_sequence"),
    "gru": ("modelmart.training.text", "fit_sequence"),
    "transformer": ("modelmart.training.text", "fit_sequence"),
    "embedding-head": ("modelmart.training.embedding_head", "fit_embedding_head"),
    "matrix-factorization": ("modelmart.training.factorization", "fit_matrix_factorization"),
    "als": ("modelmart.training.recommend", "fit_als"),
}


def run_training(
    spec: TrainingSpec,
    data: TrainingData,
    workdir: Path,
    progress: Callable[[ProgressEvent], None],
    cancel: CancelToken,
) -> TrainingOutcome:
    complete = complete_spec(spec, data.kind, [str(c) for c in data.frame.columns])
    family = FAMILIES[str(complete.family)]
    context = FitContext(complete, family, data, workdir, progress, cancel)
    context.check_cancelled()
    workdir.mkdir(parents=True, exist_ok=True)
    seed_everything(complete.seed)
    started = time.perf_counter()
    result = fit_function(family.name, data.kind)(context)
    fitted = time.perf_counter()
    context.check_cancelled()
    task = served_task(complete, data.kind)
    signature, outputs = served_predictions(result, task)
    durations = {
        "fit": round(fitted - started, 3),
        "evaluate": round(time.perf_counter() - fitted, 3),
    }
    report = build_report(context, result, outputs, durations)
    headline = {k: float(v) for k, v in report["metrics"].items()}
    progress(ProgressEvent(len(result.history), len(result.history), None, None, headline, "done"))
    return TrainingOutcome(
        artifact=result.artifact,
        format=result.format,
        signature=signature,
        task=task,
        metrics=headline,
        report=report,
        parameters=result.parameters,
    )


def fit_function(family: str, kind: DatasetKind) -> FitFunction:
    """The fit function of ``family``, or its variant for ``kind`` ("logistic/text")."""
    module_name, function_name = _FIT_FUNCTIONS.get(
        f"{family}/{kind.value}", _FIT_FUNCTIONS[family]
    )
    function: FitFunction = getattr(importlib.import_module(module_name), function_name)
    return function


def served_task(spec: TrainingSpec, kind: DatasetKind) -> Task:
    if spec.task == "recommendation":
        return Task.RECOMMENDATION
    if spec.task == "regression":
        return Task.REGRESSION
    return {
        DatasetKind.TEXT: Task.TEXT_CLASSIFICATION,
        DatasetKind.IMAGES: Task.IMAGE_CLASSIFICATION,
    }.get(kind, Task.CLASSIFICATION)


def seed_everything(seed: int) -> None:
    """Seed the global generators third-party code may use; torch families seed torch
    before building their model, so one spec gives one set of metrics."""
    random.seed(seed)
    np.random.seed(seed)
