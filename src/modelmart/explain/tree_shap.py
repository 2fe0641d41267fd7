"""Exact SHAP for tree models (scikit-learn decision trees, random forests, extra trees and
gradient boosting uploaded as skops files), with shap's TreeExplainer.

Path-dependent TreeSHAP needs no background: the trees' own node counts stand for the training
distribution, so uploads (which come without training data) are explainable. The estimator is
read from the version's verified skops file with the same trusted-types rule as its runtime.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from modelmart.arrays import Batch
from modelmart.errors import NotExplainable
from modelmart.explain.results import InstanceExplanation, MethodInfo

METHOD = "tree-shap"
_TREE_MODULES = ("sklearn.tree.", "sklearn.ensemble._forest", "sklearn.ensemble._gb")


def is_tree_model(estimator: Any) -> bool:
    return type(estimator).__module__.startswith(_TREE_MODULES)


class TreeShapExplainer:
    def __init__(self, estimator: Any, input_name: str) -> None:
        if not is_tree_model(estimator):
            raise NotExplainable(
                f"this scikit-learn model is a {type(estimator).__name__}; exact SHAP for "
                "uploads covers single tree models (decision trees, random forests, extra "
                "trees, gradient boosting). Train the model with ModelMart to get an "
                "explanation background for other estimators",
                details={"estimator": type(estimator).__name__},
            )
        with warnings.catch_warnings():
            # shap's import pulls in matplotlib, which warns about its own deprecations.
            warnings.simplefilter("ignore")
            import shap  # type: ignore[import-untyped]

        self._explainer = shap.TreeExplainer(estimator)
        self._classes = [str(c) for c in getattr(estimator, "classes_", ["prediction"])]
        self._input = input_name
        self._output = str(self._explainer.model.model_output)

    @property
    def method(self) -> MethodInfo:
        return MethodInfo(METHOD, {"feature_perturbation": "tree_path_dependent"})

    def probes(self, instance: Batch, outputs: Batch) -> Batch | None:
        return None

    def explain(
        self, instance: Batch, outputs: Batch, probe_outputs: Batch | None
    ) -> InstanceExplanation:
        x = np.asarray(instance[self._input], dtype=np.float64)
        values = np.asarray(self._explainer.shap_values(x))  # [1, M] or [1, M, K]
        expected = np.atleast_1d(np.asarray(self._explainer.expected_value, dtype=np.float64))
        per_output = values[0] if values.ndim == 3 else values[0][:, np.newaxis]
        totals = expected + per_output.sum(axis=0)
        target = int(np.argmax(totals)) if len(totals) > 1 else 0
        attributions = per_output[:, target]
        names = self._output_names(len(totals))
        return InstanceExplanation(
            target=names[target],
            attributions=attributions,
            base_value=float(expected[target]),
            output_value=float(totals[target]),
            extra={"features": [f"x{j}" for j in range(len(attributions))]},
        )

    def _output_names(self, count: int) -> list[str]:
        if count == len(self._classes):
            return self._classes
        if count == 1 and len(self._classes) == 2:  # binary margin: the positive class's
            return [self._classes[1]]
        return [str(k) for k in range(count)]
