"""Tabular explanations through a real server: exact SHAP of a trained iris logistic
regression, Kernel SHAP of a trained MLP, the CLI, the card, and a refused upload."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import pytest
import skops.io
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestClassifier
from typer.testing import CliRunner

from modelmart.cli.main import app
from modelmart.client import Client
from modelmart.errors import NotExplainable
from tests.integration.energy import billed
from tests.integration.explain.trained import train_and_deploy
from tests.integration.models import iris_skops
from tests.integration.servers import LiveServer

ROWS = load_iris().data[[0, 55, 120]].tolist()


@pytest.fixture(scope="module")
def iris_logistic(server: LiveServer) -> str:
    train_and_deploy(server, "iris", "iris-logistic", family="logistic")
    return "iris-logistic"


def test_iris_shap_attributions_sum_to_the_decision_function_minus_the_base(
    server: LiveServer, iris_logistic: str
) -> None:
    with Client(server.url) as mm:
        explained = mm.explain(iris_logistic, ROWS)
    assert explained.method.name == "linear-shap"
    assert explained.method.parameters["output"] == "log-odds"
    assert [e.target for e in explained.explanations] == ["setosa", "versicolor", "virginica"]
    for item, prediction in zip(explained.explanations, explained.predictions, strict=True):
        assert item.features == [
            "sepal_length_cm",
            "sepal_width_cm",
            "petal_length_cm",
            "petal_width_cm",
        ]
        total = item.output_value - item.base_value
        assert sum(item.attributions) == pytest.approx(total, abs=1e-9)
        # The decision function explained is the served model's: its softmax is the
        # probabilities the ONNX artifact returns.
        decision = np.array(list(item.model_extra["output_values"].values()))
        softmax = np.exp(decision - decision.max()) / np.exp(decision - decision.max()).sum()
        assert softmax == pytest.approx(prediction["probabilities"], abs=1e-4)
        assert item.output_value == pytest.approx(decision.max())
        assert prediction["label"] == item.target


def test_explanations_are_billed_as_their_own_unit(server: LiveServer, iris_logistic: str) -> None:
    answer = httpx.post(
        f"{server.url}/v1/models/{iris_logistic}:explain", json={"instances": ROWS}, timeout=60
    )
    assert answer.status_code == 200, answer.text
    assert billed(answer.json()["usage"]) == {"items": 3, "explanations": 3}


def test_the_card_names_the_method_the_explanations_use(
    server: LiveServer, iris_logistic: str
) -> None:
    with Client(server.url) as mm:
        card = mm.model_card(iris_logistic)
    assert card.explanation.method is not None
    assert card.explanation.method.startswith("linear-shap")


def test_the_cli_prints_the_attributions(server: LiveServer, iris_logistic: str) -> None:
    result = CliRunner().invoke(
        app, ["--url", server.url, "explain", iris_logistic, "--data", "[[6.3, 3.3, 6.0, 2.5]]"]
    )
    assert result.exit_code == 0, result.output
    assert "linear-shap" in result.output
    assert "virginica" in result.output
    assert "petal" in result.output


def test_a_trained_mlp_is_explained_by_kernel_shap_within_its_budget(server: LiveServer) -> None:
    train_and_deploy(server, "iris", "iris-mlp", family="mlp", spec={"max_epochs": 20})
    with Client(server.url) as mm:
        explained = mm.explain("iris-mlp", ROWS[2:])
    assert explained.method.name == "kernel-shap"
    assert explained.method.parameters["exact"] is True  # 4 features: every coalition fits
    assert explained.method.parameters["evaluations"] <= server.settings.explain_max_evaluations
    item = explained.explanations[0]
    assert sum(item.attributions) == pytest.approx(item.output_value - item.base_value)
    probabilities = explained.predictions[0]["probabilities"]
    assert item.output_value == pytest.approx(max(probabilities), abs=1e-5)


def test_a_model_with_a_categorical_column_is_explained_per_column(
    server: LiveServer, tmp_path: Path
) -> None:
    kinds = {0: ("blue", "small"), 1: ("red", "big")}
    rows = ["size,colour,label"] + [
        f"{(i % 7) + 5 * (i % 2)},{kinds[i % 2][0]},{kinds[i % 2][1]}" for i in range(60)
    ]
    (tmp_path / "shapes.csv").write_text("\n".join(rows) + "\n")
    with Client(server.url) as mm:
        mm.push_dataset("explain-shapes", tmp_path / "shapes.csv")
    train_and_deploy(server, "explain-shapes", "shapes-clf", family="logistic")
    with Client(server.url) as mm:
        explained = mm.explain("shapes-clf", [{"size": 11, "colour": "red"}])
    assert explained.method.name == "kernel-shap"
    (item,) = explained.explanations
    assert item.features == ["size", "colour"]
    assert item.target == "big"
    assert sum(item.attributions) == pytest.approx(item.output_value - item.base_value)
    assert all(value > 0 for value in item.attributions)  # both columns point to "big"


def test_an_uploaded_forest_is_explained_by_exact_tree_shap(
    server: LiveServer, tmp_path: Path
) -> None:
    x, y = load_iris(return_X_y=True)
    forest = RandomForestClassifier(n_estimators=20, max_depth=4, random_state=0).fit(x, y)
    skops.io.dump(forest, tmp_path / "forest.skops")
    with Client(server.url) as mm:
        mm.create_model("iris-forest", task="classification")
        mm.push_version("iris-forest", tmp_path / "forest.skops")
        mm.deploy("iris-forest")
        explained = mm.explain("iris-forest", ROWS)
    assert explained.method.name == "tree-shap"
    probabilities = forest.predict_proba(np.asarray(ROWS))
    for item, expected in zip(explained.explanations, probabilities, strict=True):
        assert item.target == str(int(np.argmax(expected)))
        assert item.output_value == pytest.approx(expected.max())
        assert sum(item.attributions) == pytest.approx(item.output_value - item.base_value)


def test_a_model_that_cannot_be_explained_answers_422_with_the_reason(
    server: LiveServer, tmp_path: Path
) -> None:
    with Client(server.url) as mm:
        mm.create_model("iris-upload", task="classification")
        mm.push_version("iris-upload", iris_skops(tmp_path / "iris.skops"))
        mm.deploy("iris-upload")
        with pytest.raises(NotExplainable, match="LogisticRegression"):
            mm.explain("iris-upload", ROWS)
    answer = httpx.post(
        f"{server.url}/v1/models/iris-upload:explain", json={"instances": ROWS}, timeout=60
    )
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "not_explainable"
