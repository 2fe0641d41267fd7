"""Evaluation metrics by task, bootstrap confidence intervals and curve points.

Classification and regression metrics come from scikit-learn; ranking metrics (precision@k,
recall@k, NDCG@k, coverage) and error rates (WER, CER) are computed here because scikit-learn
has no form of them that takes per-user item lists or transcripts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm

from modelmart.arrays import Array

Metric = Callable[[Array, Array], float]
_CURVE_POINTS = 101


def classification_metrics(
    y_true: Array, probabilities: Array, labels: Sequence[str]
) -> dict[str, Any]:
    """Headline metrics, per-class metrics and the confusion matrix.

    ``y_true`` holds class indices into ``labels``; ``probabilities`` is [n, n_classes].
    """
    classes = np.arange(len(labels))
    y_pred = probabilities.argmax(axis=1)
    precision, recall, f1, support = skm.precision_recall_fscore_support(
        y_true, y_pred, labels=classes, zero_division=0
    )
    headline: dict[str, float] = {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "precision_macro": float(np.mean(precision)),
        "recall_macro": float(np.mean(recall)),
        "f1_macro": float(np.mean(f1)),
        "log_loss": float(skm.log_loss(y_true, _clipped(probabilities), labels=classes)),
    }
    auc = roc_auc(y_true, probabilities)
    if auc is not None:
        headline["roc_auc"] = auc
    per_class = {
        label: {
            "precision": float(p),
            "recall": float(r),
            "f1": float(f),
            "support": int(s),
        }
        for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
    }
    matrix = skm.confusion_matrix(y_true, y_pred, labels=classes)
    return {
        "headline": headline,
        "per_class": per_class,
        "confusion_matrix": {"labels": list(labels), "matrix": matrix.tolist()},
    }


def roc_auc(y_true: Array, probabilities: Array) -> float | None:
    """Binary ROC-AUC, or one-vs-rest macro ROC-AUC; None when a class is absent."""
    n_classes = probabilities.shape[1]
    if len(np.unique(y_true)) != n_classes:
        return None
    if n_classes == 2:
        return float(skm.roc_auc_score(y_true, probabilities[:, 1]))
    normalised = _clipped(probabilities)
    return float(skm.roc_auc_score(y_true, normalised, multi_class="ovr", average="macro"))


def regression_metrics(y_true: Array, y_pred: Array) -> dict[str, float]:
    return {
        "mse": float(skm.mean_squared_error(y_true, y_pred)),
        "mae": float(skm.mean_absolute_error(y_true, y_pred)),
        "r2": float(skm.r2_score(y_true, y_pred)),
    }


def ranking_metrics(
    recommended: Mapping[Any, Sequence[Any]],
    relevant: Mapping[Any, set[Any]],
    k: int,
    catalogue_size: int,
) -> dict[str, float]:
    """precision@k, recall@k, NDCG@k (binary relevance) averaged over users with relevant
    items, and coverage: the share of the catalogue recommended to anyone."""
    precisions, recalls, ndcgs = [], [], []
    shown: set[Any] = set()
    for user, items in relevant.items():
        top = list(recommended.get(user, ()))[:k]
        shown.update(top)
        hits = [1.0 if item in items else 0.0 for item in top]
        precisions.append(sum(hits) / k)
        recalls.append(sum(hits) / len(items))
        ndcgs.append(ndcg(hits, len(items), k))
    return {
        f"precision_at_{k}": float(np.mean(precisions)) if precisions else 0.0,
        f"recall_at_{k}": float(np.mean(recalls)) if recalls else 0.0,
        f"ndcg_at_{k}": float(np.mean(ndcgs)) if ndcgs else 0.0,
        "coverage": len(shown) / catalogue_size if catalogue_size else 0.0,
    }


def ndcg(hits: Sequence[float], n_relevant: int, k: int) -> float:
    """NDCG@k of one ranked list: DCG of the hits over the DCG of a perfect ranking."""
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = float(np.sum(np.asarray(hits, dtype=float) * discounts[: len(hits)]))
    ideal = float(np.sum(discounts[: min(n_relevant, k)]))
    return dcg / ideal if ideal > 0 else 0.0


def edit_distance(reference: Sequence[Any], hypothesis: Sequence[Any]) -> int:
    """Levenshtein distance (substitutions, insertions, deletions all cost 1)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, start=1):
        current = [i]
        for j, hyp in enumerate(hypothesis, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Word edits over reference words, summed over the corpus (as speech papers report)."""
    return _error_rate([r.split() for r in references], [h.split() for h in hypotheses])


def character_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    return _error_rate([list(r) for r in references], [list(h) for h in hypotheses])


def _error_rate(references: list[list[str]], hypotheses: list[list[str]]) -> float:
    edits = sum(edit_distance(r, h) for r, h in zip(references, hypotheses, strict=True))
    total = sum(len(r) for r in references)
    return edits / total if total else float(edits > 0)


def bootstrap_interval(
    metric: Metric, y_true: Array, y_score: Array, seed: int, resamples: int = 200
) -> tuple[float, float] | None:
    """A 95 % percentile interval from ``resamples`` resamples of the test rows (seeded)."""
    rng = np.random.default_rng(seed)
    n = len(y_true)
    values: list[float] = []
    for _ in range(resamples):
        rows = rng.integers(0, n, size=n)
        try:
            values.append(metric(y_true[rows], y_score[rows]))
        except ValueError:  # a resample missing a class has no AUC; skip it
            continue
    if len(values) < resamples // 2:
        return None
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def roc_curves(y_true: Array, probabilities: Array, labels: Sequence[str]) -> dict[str, Any]:
    """ROC and precision-recall points per class (one-vs-rest; the positive class if binary)."""
    classes = [1] if probabilities.shape[1] == 2 else range(probabilities.shape[1])
    curves: dict[str, Any] = {}
    for index in classes:
        positive = (y_true == index).astype(int)
        if positive.min() == positive.max():
            continue
        fpr, tpr, _ = skm.roc_curve(positive, probabilities[:, index])
        precision, recall, _ = skm.precision_recall_curve(positive, probabilities[:, index])
        curves[labels[index]] = {
            "roc": {"fpr": _thin(fpr), "tpr": _thin(tpr)},
            "pr": {"recall": _thin(recall), "precision": _thin(precision)},
        }
    return curves


def _thin(values: Array) -> list[float]:
    """At most ~100 points, so reports stay small on large test sets."""
    if len(values) > _CURVE_POINTS:
        picks = np.linspace(0, len(values) - 1, _CURVE_POINTS).round().astype(int)
        values = values[picks]
    return [round(float(v), 5) for v in values]


def _clipped(probabilities: Array) -> Array:
    clipped = np.clip(probabilities.astype(np.float64), 1e-12, 1.0)
    normalised: Array = clipped / clipped.sum(axis=1, keepdims=True)
    return normalised
