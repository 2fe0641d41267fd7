"""Exact SHAP for linear models (linear regression, logistic regression on numeric inputs).

With independent features a linear model's SHAP values are closed-form:
``phi_j = w_j * (x_j - mean_j)`` and the base value is the model at the mean, so the
attributions sum to ``f(x) - f(mean)`` exactly. For logistic regression ``f`` is the decision
function (log-odds): a binary model's two classes get ``-z`` and ``z``.

The weights are stored at training time, folded through the pipeline's imputer and scaler
into the raw input space (see :func:`fold_linear_pipeline`), as JSON in the version's
parameters: reading them needs no unpickling, no second artifact and no knowledge of how
skl2onnx lays out its ONNX-ML nodes, and the fold is exact because scaling is affine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from modelmart.arrays import Array, Batch
from modelmart.explain.results import InstanceExplanation, MethodInfo

METHOD = "linear-shap"


@dataclass(frozen=True)
class LinearModel:
    """A linear model over raw inputs: ``f_k(x) = coefficients[k] @ x + intercepts[k]``."""

    coefficients: Array  # [outputs, features]
    intercepts: Array  # [outputs]
    mean: Array  # [features]: the training inputs' mean, the SHAP reference
    fill: Array  # [features]: what a missing input is replaced by (the imputer's median)
    outputs: list[str]  # class names, or ["prediction"]
    link: str  # "log-odds" (classifiers' decision function) or "identity"

    def decision(self, x: Array) -> Array:
        return np.asarray(self.coefficients @ x + self.intercepts, dtype=np.float64)

    def to_json(self) -> dict[str, Any]:
        return {
            "coefficients": self.coefficients.tolist(),
            "intercepts": self.intercepts.tolist(),
            "mean": self.mean.tolist(),
            "fill": self.fill.tolist(),
            "outputs": list(self.outputs),
            "link": self.link,
        }

    @classmethod
    def from_json(cls, stored: dict[str, Any]) -> LinearModel:
        return cls(
            coefficients=np.asarray(stored["coefficients"], dtype=np.float64),
            intercepts=np.asarray(stored["intercepts"], dtype=np.float64),
            mean=np.asarray(stored["mean"], dtype=np.float64),
            fill=np.asarray(stored["fill"], dtype=np.float64),
            outputs=[str(name) for name in stored["outputs"]],
            link=str(stored["link"]),
        )


def fold_linear_pipeline(prepare: Any, model: Any, outputs: list[str]) -> LinearModel:
    """A fitted ``Pipeline(impute -> scale)`` + linear estimator as one model on raw inputs.

    ``(x - m) / s`` then ``W z + b`` is ``(W / s) x + (b - (W / s) m)``.
    """
    scale = prepare.named_steps["scale"]
    impute = prepare.named_steps["impute"]
    weights = np.atleast_2d(np.asarray(model.coef_, dtype=np.float64))
    bias = np.atleast_1d(np.asarray(model.intercept_, dtype=np.float64))
    classifier = hasattr(model, "classes_")
    if classifier and weights.shape[0] == 1:  # binary: one row, the positive class's log-odds
        weights, bias = np.vstack([-weights, weights]), np.concatenate([-bias, bias])
    centre = np.asarray(scale.mean_, dtype=np.float64)
    raw = weights / np.asarray(scale.scale_, dtype=np.float64)
    return LinearModel(
        coefficients=raw,
        intercepts=bias - raw @ centre,
        mean=centre,
        fill=np.asarray(impute.statistics_, dtype=np.float64),
        outputs=outputs,
        link="log-odds" if classifier else "identity",
    )


def linear_shap(model: LinearModel, x: Array, target: int) -> tuple[Array, float, float]:
    """(attributions, base value, output value) of output ``target`` at ``x``."""
    filled = np.where(np.isnan(x), model.fill, x.astype(np.float64))
    weights = model.coefficients[target]
    attributions = weights * (filled - model.mean)
    base = float(weights @ model.mean + model.intercepts[target])
    return attributions, base, base + float(attributions.sum())


class LinearShapExplainer:
    """Explains the predicted class's log-odds (or the regression prediction) exactly."""

    def __init__(self, model: LinearModel, input_name: str, features: list[str]) -> None:
        self._model = model
        self._input = input_name
        self._features = features

    @property
    def method(self) -> MethodInfo:
        return MethodInfo(METHOD, {"output": self._model.link, "reference": "training mean"})

    def probes(self, instance: Batch, outputs: Batch) -> Batch | None:
        return None

    def explain(
        self, instance: Batch, outputs: Batch, probe_outputs: Batch | None
    ) -> InstanceExplanation:
        x = np.asarray(instance[self._input][0], dtype=np.float64).reshape(-1)
        filled = np.where(np.isnan(x), self._model.fill, x)
        decision = self._model.decision(filled)
        target = int(np.argmax(decision))
        attributions, base, value = linear_shap(self._model, x, target)
        names = self._model.outputs
        return InstanceExplanation(
            target=names[target],
            attributions=attributions,
            base_value=base,
            output_value=value,
            extra={
                "features": self._features,
                "output_values": dict(zip(names, decision.tolist(), strict=True)),
            },
        )
