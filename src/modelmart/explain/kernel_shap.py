"""Kernel SHAP over a stored background: model-agnostic, with a bounded number of model calls.

A coalition ``z`` (which features keep the instance's values) is evaluated by filling the
other features from every background row and averaging the model's answers by the rows'
weights. With ``M`` features, all ``2^M - 2`` proper coalitions are enumerated when the budget
allows, which makes the answer the exact Shapley values against the background; otherwise
coalitions are sampled by the Shapley kernel's size distribution, in complementary pairs.
The attributions solve the kernel-weighted least squares with the efficiency constraint, so
they always sum to ``f(x) - E[f(background)]``.

A "feature" is a column of a single matrix input, or a whole input of a model that takes one
input per column.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from math import comb

import numpy as np

from modelmart.arrays import Array, Batch
from modelmart.explain.results import InstanceExplanation, MethodInfo
from modelmart.explain.scores import score_matrix, target_index, target_name

METHOD = "kernel-shap"


@dataclass(frozen=True)
class Background:
    """Reference rows (a batch of the model's inputs) and their weights (summing to 1)."""

    rows: Batch
    weights: Array

    @property
    def size(self) -> int:
        return len(self.weights)

    def strongest(self, count: int) -> Background:
        """The ``count`` heaviest rows, reweighted to sum to 1."""
        keep = np.sort(np.argsort(-self.weights, kind="stable")[:count])
        weights = self.weights[keep]
        return Background({n: a[keep] for n, a in self.rows.items()}, weights / weights.sum())


@dataclass(frozen=True)
class Coalitions:
    masks: Array  # [S, M] bool, without the empty and the full coalition
    weights: Array  # [S] regression weights
    exact: bool


def coalitions(features: int, budget: int, rng: np.random.Generator) -> Coalitions:
    """At most ``budget`` coalitions of ``features``: all of them when they fit."""
    if features < 2:
        return Coalitions(np.zeros((0, features), bool), np.zeros(0), True)
    if 2**features - 2 <= budget:
        masks = [
            np.isin(np.arange(features), chosen)
            for size in range(1, features)
            for chosen in combinations(range(features), size)
        ]
        stacked = np.array(masks, dtype=bool)
        sizes = stacked.sum(axis=1)
        kernel = (features - 1) / (
            np.array([comb(features, int(s)) for s in sizes]) * sizes * (features - sizes)
        )
        return Coalitions(stacked, kernel.astype(np.float64), True)
    return _sampled(features, max(2, budget - budget % 2), rng)


def _sampled(features: int, count: int, rng: np.random.Generator) -> Coalitions:
    sizes = np.arange(1, features)
    size_weights = (features - 1) / (sizes * (features - sizes))
    drawn = rng.choice(sizes, size=count // 2, p=size_weights / size_weights.sum())
    masks = []
    for size in drawn:
        mask = np.zeros(features, dtype=bool)
        mask[rng.choice(features, size=int(size), replace=False)] = True
        masks += [mask, ~mask]  # complementary pairs halve the estimate's variance
    return Coalitions(np.array(masks), np.ones(len(masks)), False)


def solve(coalition: Coalitions, values: Array, base: float, output: float) -> Array:
    """Kernel-weighted least squares for the attributions, constrained to sum to
    ``output - base`` (the last feature's value is eliminated)."""
    masks = coalition.masks.astype(np.float64)
    total = output - base
    if masks.shape[1] == 1 or len(masks) == 0:
        return np.full(masks.shape[1], total / max(masks.shape[1], 1))
    target = values - base - masks[:, -1] * total
    design = masks[:, :-1] - masks[:, -1:]
    root = np.sqrt(coalition.weights)[:, None]
    head, *_ = np.linalg.lstsq(design * root, target * root[:, 0], rcond=None)
    return np.append(head, total - head.sum())


def mix(instance: Batch, background: Background, masks: Array, features: list[Feature]) -> Batch:
    """For each mask, every background row with the masked-in features set from ``instance``:
    ``len(masks) * background.size`` rows, mask-major."""
    repeats = len(masks)
    rows = {
        name: np.tile(array, (repeats,) + (1,) * (array.ndim - 1)).copy()
        for name, array in background.rows.items()
    }
    keep = np.repeat(masks, background.size, axis=0)  # [rows, M]
    for index, feature in enumerate(features):
        chosen = keep[:, index]
        column = rows[feature.input]
        value = instance[feature.input][0]
        if feature.column is None:
            column[chosen] = value
        else:
            column[chosen, feature.column] = value[feature.column]
    return rows


@dataclass(frozen=True)
class Feature:
    """One attributed feature: input ``input``, column ``column`` of it (None: all of it)."""

    name: str
    input: str
    column: int | None = None


class KernelShapExplainer:
    """Explains the predicted class's probability (or the prediction) against a background."""

    def __init__(
        self,
        background: Background,
        features: list[Feature],
        outputs: list[str],
        max_evaluations: int,
        seed: int = 0,
    ) -> None:
        per_row = max(2, max_evaluations // (2 * len(features) + 2))
        self._background = background.strongest(min(background.size, per_row))
        self._features = features
        self._outputs = outputs
        budget = max_evaluations // self._background.size - 2
        self._coalitions = coalitions(len(features), budget, np.random.default_rng(seed))

    @property
    def method(self) -> MethodInfo:
        return MethodInfo(
            METHOD,
            {
                "background_rows": self._background.size,
                "coalitions": len(self._coalitions.masks),
                "exact": self._coalitions.exact,
                "evaluations": (len(self._coalitions.masks) + 2) * self._background.size,
                "output": "probability" if len(self._outputs) > 1 else "prediction",
            },
        )

    def probes(self, instance: Batch, outputs: Batch) -> Batch:
        n = len(self._features)
        ends = np.array([np.zeros(n, bool), np.ones(n, bool)])
        masks = np.concatenate([ends, self._coalitions.masks])
        return mix(instance, self._background, masks, self._features)

    def explain(
        self, instance: Batch, outputs: Batch, probe_outputs: Batch | None
    ) -> InstanceExplanation:
        assert probe_outputs is not None, "Kernel SHAP always asks for probes"
        target = target_index(outputs)
        scores = score_matrix(probe_outputs)[:, target].reshape(-1, self._background.size)
        values = scores @ self._background.weights  # one value per coalition
        base, output = float(values[0]), float(values[1])
        attributions = solve(self._coalitions, values[2:], base, output)
        return InstanceExplanation(
            target=target_name(target, self._outputs),
            attributions=attributions,
            base_value=base,
            output_value=output,
            extra={"features": [feature.name for feature in self._features]},
        )
