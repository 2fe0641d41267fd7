from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, load_iris
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from modelmart.explain.linear_shap import (
    LinearModel,
    LinearShapExplainer,
    fold_linear_pipeline,
    linear_shap,
)


def _pipeline(estimator: object) -> Pipeline:
    prepare = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    return Pipeline([("prepare", prepare), ("model", estimator)])


@pytest.fixture(scope="module")
def iris() -> tuple[Pipeline, np.ndarray]:
    x, y = load_iris(return_X_y=True)
    return _pipeline(LogisticRegression(max_iter=1000)).fit(x, y), x


def test_the_attributions_sum_to_the_decision_function_minus_the_base(iris: tuple) -> None:
    pipeline, x = iris
    model = fold_linear_pipeline(pipeline[0], pipeline[-1], ["a", "b", "c"])
    decision = pipeline.decision_function(x)
    for row in (0, 60, 120):
        for target in range(3):
            attributions, base, value = linear_shap(model, x[row], target)
            assert value == pytest.approx(decision[row, target], abs=1e-9)
            assert attributions.sum() == pytest.approx(decision[row, target] - base, abs=1e-9)
    # The reference is the training mean: there the model is at its base value.
    assert model.decision(x.mean(axis=0)) == pytest.approx(pipeline[-1].intercept_, abs=1e-9)


def test_a_binary_model_explains_each_class_as_plus_or_minus_the_log_odds() -> None:
    x, y = load_iris(return_X_y=True)
    pipeline = _pipeline(LogisticRegression()).fit(x, (y == 2).astype(int))
    model = fold_linear_pipeline(pipeline[0], pipeline[-1], ["no", "yes"])
    margin = pipeline.decision_function(x[:5])
    assert model.decision(x[0]) == pytest.approx([-margin[0], margin[0]])


def test_a_regressors_attributions_add_up_and_missing_inputs_take_the_median() -> None:
    x, y = load_diabetes(return_X_y=True)
    pipeline = _pipeline(Ridge(alpha=1.0)).fit(x, y)
    model = fold_linear_pipeline(pipeline[0], pipeline[-1], ["prediction"])
    attributions, base, value = linear_shap(model, x[3], 0)
    assert value == pytest.approx(pipeline.predict(x[3:4])[0])
    assert attributions.sum() == pytest.approx(value - base)
    holes = x[3].copy()
    holes[2] = np.nan
    assert linear_shap(model, holes, 0)[2] == pytest.approx(pipeline.predict(holes[None])[0])


def test_the_explainer_picks_the_predicted_class_and_survives_json(iris: tuple) -> None:
    pipeline, x = iris
    stored = fold_linear_pipeline(pipeline[0], pipeline[-1], ["setosa", "versicolor", "virginica"])
    model = LinearModel.from_json(stored.to_json())
    explainer = LinearShapExplainer(model, "input", ["a", "b", "c", "d"])
    explained = explainer.explain({"input": x[100:101]}, {}, None)
    assert explained.target == "virginica"
    assert explained.extra["features"] == ["a", "b", "c", "d"]
    assert explained.output_value == pytest.approx(pipeline.decision_function(x[100:101])[0, 2])
    assert explainer.method.name == "linear-shap"
    assert explainer.probes({"input": x[:1]}, {}) is None
