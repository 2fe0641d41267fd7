"""Evaluate a fitted model on its test rows and assemble the JSON report.

Test predictions come from the exported artifact loaded in ModelMart's own runtime, so the
reported metrics are those of the model that will be served, not of an in-memory twin.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm

from modelmart.arrays import Array, Batch
from modelmart.runtimes.base import LoadRequest, create_runtime
from modelmart.training import metrics
from modelmart.training.context import FitContext, FitResult
from modelmart.types import RUNTIME_FOR_FORMAT, Signature, Task

_CHUNK = 512


def served_predictions(result: FitResult, task: Task) -> tuple[Signature, Batch]:
    """Load the artifact with its runtime, note its signature, predict the test rows."""
    runtime = create_runtime(RUNTIME_FOR_FORMAT[result.format])
    runtime.load(LoadRequest(result.artifact, result.format, task, None, result.parameters))
    try:
        n_rows = len(next(iter(result.test_batch.values())))
        chunks = [
            runtime.predict({k: v[start : start + _CHUNK] for k, v in result.test_batch.items()})
            for start in range(0, n_rows, _CHUNK)
        ]
        signature = runtime.signature
    finally:
        runtime.unload()
    names = chunks[0].keys() if chunks else ()
    return signature, {name: np.concatenate([c[name] for c in chunks]) for name in names}


def build_report(
    context: FitContext, result: FitResult, outputs: Batch, durations: dict[str, float]
) -> dict[str, Any]:
    """The JSON report: headline metrics with CIs, per-class metrics, curves, history."""
    seed = context.spec.seed
    report: dict[str, Any] = {
        "task": context.spec.task,
        "family": context.family.name,
        "spec": context.spec.model_dump(mode="json"),
        "dataset": {
            "name": context.data.name,
            "version": context.data.version,
            "digest": context.data.digest,
            "kind": context.data.kind.value,
        },
        "split_sizes": {
            "train": len(result.split.train),
            "validation": len(result.split.validation),
            "test": len(result.split.test),
        },
        "learning_curves": result.history,
        "durations_s": durations,
        **result.details,
    }
    if context.spec.task == "classification":
        report.update(_classification(result, outputs["probabilities"], seed))
    elif context.spec.task == "regression":
        report.update(_regression(result.y_test, outputs["prediction"].reshape(-1), seed))
    else:
        report["metrics"] = dict(result.extra_metrics)
        report["confidence_intervals"] = {}
    report["metrics"].update(
        {k: v for k, v in result.extra_metrics.items() if k not in report["metrics"]}
    )
    report["export"] = export_fidelity(result, outputs)
    return report


def export_fidelity(result: FitResult, outputs: Batch) -> dict[str, Any]:
    """The largest difference between the served artifact and the in-memory model."""
    found: dict[str, Any] = {"format": result.format.value}
    if result.reference is None:
        return found
    name = next(n for n in ("probabilities", "prediction", "scores") if n in outputs)
    served = outputs[name].astype(np.float64).reshape(result.reference.shape)
    found["output"] = name
    found["max_abs_difference"] = float(np.max(np.abs(served - result.reference), initial=0.0))
    return found


def _classification(result: FitResult, probabilities: Array, seed: int) -> dict[str, Any]:
    y_true = result.y_test
    found = metrics.classification_metrics(y_true, probabilities, result.labels)
    intervals = {
        "accuracy": metrics.bootstrap_interval(_accuracy, y_true, probabilities, seed),
        "f1_macro": metrics.bootstrap_interval(_f1_macro, y_true, probabilities, seed),
    }
    return {
        "metrics": found["headline"],
        "confidence_intervals": {k: list(v) for k, v in intervals.items() if v is not None},
        "per_class": found["per_class"],
        "confusion_matrix": found["confusion_matrix"],
        "curves": metrics.roc_curves(y_true, probabilities, result.labels),
    }


def _regression(y_true: Array, y_pred: Array, seed: int) -> dict[str, Any]:
    intervals = {
        "mae": metrics.bootstrap_interval(_mae, y_true, y_pred, seed),
        "r2": metrics.bootstrap_interval(_r2, y_true, y_pred, seed),
    }
    residuals = (y_true - y_pred).tolist()
    return {
        "metrics": metrics.regression_metrics(y_true, y_pred),
        "confidence_intervals": {k: list(v) for k, v in intervals.items() if v is not None},
        "residuals": {"predicted": y_pred[:500].tolist(), "residual": residuals[:500]},
    }


def _accuracy(y_true: Array, probabilities: Array) -> float:
    return float(np.mean(probabilities.argmax(axis=1) == y_true))


def _f1_macro(y_true: Array, probabilities: Array) -> float:
    return float(skm.f1_score(y_true, probabilities.argmax(axis=1), average="macro"))


def _mae(y_true: Array, y_pred: Array) -> float:
    return float(np.mean(np.abs(y_true - y_pred)))


def _r2(y_true: Array, y_pred: Array) -> float:
    return float(skm.r2_score(y_true, y_pred))
