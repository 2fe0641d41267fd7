from __future__ import annotations

import numpy as np
import pytest

from modelmart.explain.kernel_shap import (
    Background,
    Feature,
    KernelShapExplainer,
    coalitions,
    mix,
)
from tests.unit.explain.fakes import LinearRegressor


def _explain(explainer: KernelShapExplainer, model: LinearRegressor, x: np.ndarray) -> tuple:
    instance = {"input": x[None]}
    outputs = model(instance)
    probes = explainer.probes(instance, outputs)
    return explainer.explain(instance, outputs, model(probes)), len(probes["input"])


def _features(count: int) -> list[Feature]:
    return [Feature(f"f{j}", "input", j) for j in range(count)]


def test_enumerated_coalitions_give_a_linear_models_exact_shapley_values() -> None:
    rng = np.random.default_rng(1)
    weights = np.array([2.0, -1.0, 0.5, 3.0])
    rows = rng.normal(size=(5, 4))
    row_weights = np.array([0.1, 0.2, 0.3, 0.2, 0.2])
    model = LinearRegressor(weights, bias=1.0)
    explainer = KernelShapExplainer(
        Background({"input": rows}, row_weights), _features(4), ["prediction"], 2048
    )
    x = np.array([1.0, 2.0, -1.0, 0.5])
    explained, evaluated = _explain(explainer, model, x)
    expected = weights * (x - row_weights @ rows)
    assert explained.attributions == pytest.approx(expected)
    assert explained.base_value == pytest.approx(float(row_weights @ rows @ weights + 1.0))
    assert explainer.method.parameters["exact"] is True
    assert evaluated == (2**4 - 2 + 2) * 5


def test_a_sampled_estimate_stays_in_budget_and_still_adds_up() -> None:
    weights = np.linspace(-1, 1, 12)
    rows = np.random.default_rng(2).normal(size=(16, 12))
    model = LinearRegressor(weights)
    budget = 1200  # 73 of the 4094 coalitions
    explainer = KernelShapExplainer(
        Background({"input": rows}, np.full(16, 1 / 16)), _features(12), ["prediction"], budget
    )
    explained, evaluated = _explain(explainer, model, np.ones(12))
    assert evaluated <= budget
    assert explainer.method.parameters["exact"] is False
    total = explained.output_value - explained.base_value
    assert explained.attributions.sum() == pytest.approx(total)
    # A linear model's values are recovered even from samples (the regression is exact).
    expected = weights * (1 - rows.mean(axis=0))
    assert explained.attributions == pytest.approx(expected, abs=1e-6)


def test_a_small_budget_keeps_the_heaviest_background_rows() -> None:
    rows = np.arange(48.0).reshape(16, 3)
    row_weights = np.r_[np.full(4, 0.2), np.full(12, 0.2 / 12)]
    explainer = KernelShapExplainer(
        Background({"input": rows}, row_weights), _features(3), ["prediction"], 32
    )
    assert explainer.method.parameters["background_rows"] == 4
    assert explainer.method.parameters["evaluations"] <= 32


def test_coalitions_enumerate_when_they_fit_and_pair_complements_when_sampled() -> None:
    rng = np.random.default_rng(0)
    every = coalitions(3, 100, rng)
    assert every.exact
    assert len(every.masks) == 6
    sampled = coalitions(20, 50, rng)
    assert not sampled.exact
    assert len(sampled.masks) == 50
    assert (sampled.masks[0::2] == ~sampled.masks[1::2]).all()


def test_per_column_inputs_are_mixed_whole() -> None:
    background = Background(
        {"age": np.array([30.0, 50.0]), "colour": np.array(["red", "blue"], dtype=object)},
        np.array([0.5, 0.5]),
    )
    instance = {"age": np.array([41.0]), "colour": np.array(["green"], dtype=object)}
    features = [Feature("age", "age"), Feature("colour", "colour")]
    mixed = mix(instance, background, np.array([[True, False]]), features)
    assert mixed["age"].tolist() == [41.0, 41.0]
    assert mixed["colour"].tolist() == ["red", "blue"]
    assert background.strongest(1).size == 1
