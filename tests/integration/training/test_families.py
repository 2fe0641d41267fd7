"""Every family on tiny real data: trained, exported, reloaded by ModelMart's runtimes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from modelmart.arrays import Batch
from modelmart.runtimes.base import LoadRequest, create_runtime
from modelmart.schemas.jobs import TrainingSpec
from modelmart.training.api import train
from modelmart.training.runs import ProgressEvent, TrainingData, TrainingOutcome
from modelmart.types import RUNTIME_FOR_FORMAT, ArtifactFormat, Task
from tests.integration.training import builders


class NeverCancel:
    def cancelled(self) -> bool:
        return False


def run(
    spec: TrainingSpec, data: TrainingData, workdir: Path
) -> tuple[TrainingOutcome, list[ProgressEvent]]:
    events: list[ProgressEvent] = []
    outcome = train(spec, data, workdir, events.append, NeverCancel())
    return outcome, events


def served(outcome: TrainingOutcome, batch: Batch) -> Batch:
    """Load the artifact as the server does, with the outcome's signature declared."""
    runtime = create_runtime(RUNTIME_FOR_FORMAT[outcome.format])
    request = LoadRequest(
        outcome.artifact, outcome.format, outcome.task, outcome.signature, outcome.parameters
    )
    runtime.load(request)
    try:
        assert runtime.signature == outcome.signature
        return runtime.predict(batch)
    finally:
        runtime.unload()


def assert_faithful_export(outcome: TrainingOutcome) -> None:
    assert outcome.report["export"]["max_abs_difference"] < 1e-4


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> TrainingData:
    return builders.digits(tmp_path_factory.mktemp("digits"))


CLASSIFIERS: list[tuple[str, Any, dict[str, Any]]] = [
    ("logistic", lambda: builders.iris(with_category=True), {}),
    ("mlp", builders.iris, {"hidden_sizes": [16], "learning_rate": 0.02}),
]


@pytest.mark.parametrize(("family", "data", "hyper"), CLASSIFIERS, ids=[c[0] for c in CLASSIFIERS])
def test_tabular_classifiers_serve_class_names(
    tmp_path: Path, family: str, data: Any, hyper: dict[str, Any]
) -> None:
    dataset = data()
    spec = TrainingSpec(task="classification", family=family, hyperparameters=hyper, max_epochs=30)
    outcome, _ = run(spec, dataset, tmp_path)
    assert outcome.format is ArtifactFormat.ONNX
    assert outcome.task is Task.CLASSIFICATION
    assert outcome.parameters["labels"] == ["setosa", "versicolor", "virginica"]
    assert outcome.metrics["accuracy"] > 0.8
    assert {"f1_macro", "roc_auc", "log_loss"} <= set(outcome.metrics)
    assert outcome.report["confusion_matrix"]["labels"] == outcome.parameters["labels"]
    assert_faithful_export(outcome)
    names = [s.name for s in outcome.signature.inputs]
    frame = dataset.frame.iloc[:3]
    if names == ["input"]:
        batch = {"input": frame[outcome.parameters["features"]].to_numpy(np.float32)}
    else:
        batch = {n: np.array(frame[n], dtype=np.float32) for n in names if n != "size"}
        batch["size"] = np.array(["large", None, "unseen"], dtype=object)
        assert all(spec.shape == (-1,) for spec in outcome.signature.inputs)
    prediction = served(outcome, batch)
    assert set(prediction["label"]) <= set(outcome.parameters["labels"])
    assert prediction["probabilities"].shape == (3, 3)


@pytest.mark.parametrize(
    ("family", "hyper"),
    [
        ("linear", {}),
        ("linear", {"penalty": "elasticnet", "alpha": 0.1}),
        ("linear", {"penalty": "l1"}),
        ("linear", {"penalty": "none"}),
        ("mlp", {"hidden_sizes": [16]}),
    ],
)
def test_regressors(tmp_path: Path, family: str, hyper: dict[str, Any]) -> None:
    spec = TrainingSpec(task="regression", family=family, hyperparameters=hyper, max_epochs=25)
    outcome, _ = run(spec, builders.diabetes(), tmp_path)
    assert outcome.task is Task.REGRESSION
    assert set(outcome.metrics) == {"mse", "mae", "r2"}
    assert outcome.metrics["r2"] > 0.0
    assert set(outcome.report["confidence_intervals"]) == {"mae", "r2"}
    assert_faithful_export(outcome)
    assert [s.name for s in outcome.signature.outputs] == ["prediction"]


def test_logistic_k_fold_and_penalties(tmp_path: Path) -> None:
    spec = TrainingSpec(
        task="classification",
        hyperparameters={"penalty": "l1", "class_weight": "balanced", "C": 0.5},
        split={"k_folds": 3},
    )
    outcome, _ = run(spec, builders.iris(), tmp_path)
    folds = outcome.report["k_fold"]
    assert folds["k"] == 3
    assert len(folds["scores"]) == 3
    assert 0.5 < folds["mean"] <= 1.0


def test_cnn_on_digit_images(tmp_path: Path, images: TrainingData) -> None:
    spec = TrainingSpec(
        task="classification",
        max_epochs=3,
        hyperparameters={"image_size": 8, "channels": [8], "class_weight": "balanced"},
    )
    outcome, events = run(spec, images, tmp_path)
    assert outcome.task is Task.IMAGE_CLASSIFICATION
    assert outcome.signature.inputs[0].shape == (-1, 1, 8, 8)
    assert [e.epoch for e in events[:-1]] == list(range(1, len(events)))
    assert events[-1].message == "done"
    assert len(outcome.report["learning_curves"]) == len(events) - 1
    assert_faithful_export(outcome)
    assert outcome.metrics["accuracy"] > 0.3  # ten classes, three epochs: well above chance


@pytest.mark.parametrize("family", ["logistic", "rnn", "lstm", "gru", "transformer"])
def test_text_classifiers_take_raw_text(tmp_path: Path, family: str) -> None:
    hyper = {} if family == "logistic" else {"embedding_dim": 16, "learning_rate": 0.01}
    spec = TrainingSpec(task="classification", family=family, hyperparameters=hyper, max_epochs=4)
    outcome, _ = run(spec, builders.reviews(), tmp_path)
    assert outcome.format is ArtifactFormat.ONNX_TEXT
    assert outcome.task is Task.TEXT_CLASSIFICATION
    assert_faithful_export(outcome)
    prediction = served(outcome, {"text": np.array(["a superb fun film", "dull", ""], object)})
    assert set(prediction["label"]) <= {"neg", "pos"}
    assert prediction["probabilities"].shape == (3, 2)
    assert prediction["tokens"].tolist()[:2] == [4, 1]
    assert served(outcome, {"text": np.array([], object)})["probabilities"].shape == (0, 2)


def test_embedding_head_on_minilm(tmp_path: Path) -> None:
    spec = TrainingSpec(task="classification", family="embedding-head")
    outcome, _ = run(spec, builders.reviews(rows=48), tmp_path)
    assert outcome.format is ArtifactFormat.ONNX_TEXT
    assert_faithful_export(outcome)
    prediction = served(outcome, {"text": np.array(["superb and lovely", "awful, dull"], object)})
    assert prediction["label"].tolist() == ["pos", "neg"]


@pytest.mark.parametrize("family", ["als", "matrix-factorization"])
def test_recommenders_return_top_k_items(tmp_path: Path, family: str) -> None:
    spec = TrainingSpec(
        task="recommendation",
        family=family,
        max_epochs=8,
        hyperparameters={"factors": 8, "top_k": 5},
    )
    outcome, events = run(spec, builders.interactions(), tmp_path)
    assert outcome.task is Task.RECOMMENDATION
    baseline = outcome.report["baseline_popularity"]
    assert outcome.metrics["ndcg_at_5"] > baseline["ndcg_at_5"]
    assert {"precision_at_5", "recall_at_5", "coverage"} <= set(outcome.metrics)
    assert events[0].metrics.keys() == {"validation_ndcg_at_5"}
    assert_faithful_export(outcome)
    prediction = served(outcome, {"user": np.array(["u0", "stranger"], object)})
    assert prediction["items"].shape == (2, 5)
    assert all(item.startswith("i") for item in prediction["items"].ravel())
    scores = prediction["scores"]
    assert np.all(np.diff(scores, axis=1) <= 0)
