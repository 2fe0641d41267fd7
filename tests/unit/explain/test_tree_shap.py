from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from modelmart.errors import NotExplainable
from modelmart.explain.tree_shap import TreeShapExplainer


def test_a_forests_attributions_sum_to_its_probability_minus_the_base() -> None:
    x, y = load_iris(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=10, max_depth=3, random_state=0).fit(x, y)
    explainer = TreeShapExplainer(forest, "input")
    explained = explainer.explain({"input": x[100:101]}, {}, None)
    probability = forest.predict_proba(x[100:101])[0]
    assert explained.target == str(int(np.argmax(probability)))
    assert explained.output_value == pytest.approx(probability.max())
    total = explained.output_value - explained.base_value
    assert explained.attributions.sum() == pytest.approx(total)


def test_an_estimator_without_trees_is_refused_with_the_reason() -> None:
    x, y = load_iris(return_X_y=True)
    with pytest.raises(NotExplainable, match="LogisticRegression"):
        TreeShapExplainer(LogisticRegression(max_iter=500).fit(x, y), "input")
