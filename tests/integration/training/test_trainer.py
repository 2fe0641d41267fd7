"""Behaviour shared by every family: seeds, cancellation, early stopping, precise refusals."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from modelmart.errors import TrainingCancelled, ValidationFailed
from modelmart.schemas.datasets import DatasetKind
from modelmart.schemas.jobs import TrainingSpec
from modelmart.training.api import train
from modelmart.training.runs import ProgressEvent, TrainingData
from tests.integration.training import builders


class CancelAfter:
    """Fires once ``checks`` cancellation checks have passed."""

    def __init__(self, checks: int) -> None:
        self.remaining = checks

    def cancelled(self) -> bool:
        self.remaining -= 1
        return self.remaining < 0


def ignore(event: ProgressEvent) -> None:
    return None


def test_same_spec_and_data_give_the_same_metrics(tmp_path: Path) -> None:
    spec = TrainingSpec(task="classification", family="mlp", max_epochs=5, seed=3)
    first = train(spec, builders.iris(), tmp_path / "a", ignore, CancelAfter(10**6))
    again = train(spec, builders.iris(), tmp_path / "b", ignore, CancelAfter(10**6))
    assert first.metrics == again.metrics
    assert first.report["learning_curves"] == again.report["learning_curves"]


@pytest.mark.parametrize("family", ["mlp", "lstm", "als", "embedding-head", "logistic"])
def test_cancellation_stops_training(tmp_path: Path, family: str) -> None:
    data = {
        "mlp": builders.iris(),
        "lstm": builders.reviews(),
        "als": builders.interactions(),
        "embedding-head": builders.reviews(rows=24),
        "logistic": builders.iris(),
    }[family]
    task = "recommendation" if family == "als" else "classification"
    spec = TrainingSpec(task=task, family=family, max_epochs=50)
    with pytest.raises(TrainingCancelled, match="was cancelled"):
        train(spec, data, tmp_path, ignore, CancelAfter(2))


def test_early_stopping_restores_the_best_epoch(tmp_path: Path) -> None:
    # Random labels: the validation loss stops improving almost at once.
    frame = builders.iris().frame.sample(frac=1.0, random_state=0).reset_index(drop=True)
    frame["target"] = builders.iris().frame["target"].to_numpy()
    data = TrainingData(DatasetKind.TABULAR, frame, None, "target", "noise", 1, "x")
    spec = TrainingSpec(
        task="classification",
        family="mlp",
        max_epochs=200,
        early_stopping_patience=3,
        hyperparameters={"learning_rate": 0.05, "hidden_sizes": [64, 64], "dropout": 0.0},
    )
    events: list[ProgressEvent] = []
    outcome = train(spec, data, tmp_path, events.append, CancelAfter(10**6))
    curve = outcome.report["learning_curves"]
    assert len(curve) < 200
    losses = [entry["validation_loss"] for entry in curve]
    best = losses.index(min(losses))
    assert len(curve) - 1 - best >= 3  # stopped after three epochs without improvement
    assert events[0].total_epochs == 200


def test_text_dataset_without_a_text_column_is_refused(tmp_path: Path) -> None:
    frame = pd.DataFrame({"body": ["a", "b"] * 10, "label": ["x", "y"] * 10})
    data = TrainingData(DatasetKind.TEXT, frame, None, "label", "t", 1, "x")
    with pytest.raises(ValidationFailed, match="needs a 'text' column; its columns are body"):
        train(
            TrainingSpec(task="classification", family="gru"),
            data,
            tmp_path,
            ignore,
            CancelAfter(99),
        )


def test_regression_on_text_labels_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed, match="regression needs a numeric target"):
        train(TrainingSpec(task="regression"), builders.iris(), tmp_path, ignore, CancelAfter(99))


def test_missing_regression_target_names_the_row(tmp_path: Path) -> None:
    data = builders.diabetes()
    data.frame.loc[7, "target"] = float("nan")
    with pytest.raises(ValidationFailed, match="missing in row 7"):
        train(TrainingSpec(task="regression"), data, tmp_path, ignore, CancelAfter(99))


def test_dataset_without_target_needs_one_in_the_spec(tmp_path: Path) -> None:
    data = builders.iris()
    untargeted = TrainingData(data.kind, data.frame, None, None, "iris", 1, "x")
    with pytest.raises(ValidationFailed, match="name one in the spec's 'target' field"):
        train(TrainingSpec(task="classification"), untargeted, tmp_path, ignore, CancelAfter(99))
    outcome = train(
        TrainingSpec(task="classification", target="target", features=["sepal length (cm)"]),
        untargeted,
        tmp_path,
        ignore,
        CancelAfter(99),
    )
    assert outcome.parameters["features"] == ["sepal length (cm)"]


def test_corrupt_image_is_named(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    data = builders.digits(tmp_path_factory.mktemp("broken"), rows=30)
    assert data.root is not None
    (data.root / data.frame["path"][4]).write_bytes(b"not a png")
    with pytest.raises(ValidationFailed, match=f"image '{data.frame['path'][4]}' cannot be read"):
        train(TrainingSpec(task="classification"), data, tmp_path, ignore, CancelAfter(99))


def test_image_dataset_needs_a_root(tmp_path: Path) -> None:
    frame = pd.DataFrame({"path": ["a.png"] * 6, "label": ["x", "y"] * 3})
    data = TrainingData(DatasetKind.IMAGES, frame, None, "label", "i", 1, "x")
    with pytest.raises(ValidationFailed, match="needs a root directory"):
        train(TrainingSpec(task="classification"), data, tmp_path, ignore, CancelAfter(99))


def test_too_many_pooling_blocks_for_the_image_size(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    data = builders.digits(tmp_path_factory.mktemp("small"), rows=100)
    spec = TrainingSpec(
        task="classification", hyperparameters={"image_size": 4, "channels": [4, 4, 4]}
    )
    with pytest.raises(ValidationFailed, match="too small for 3 pooling blocks"):
        train(spec, data, tmp_path, ignore, CancelAfter(99))


def test_transformer_width_must_split_into_heads(tmp_path: Path) -> None:
    spec = TrainingSpec(
        task="classification", family="transformer", hyperparameters={"embedding_dim": 10}
    )
    with pytest.raises(ValidationFailed, match="multiple of heads 4"):
        train(spec, builders.reviews(), tmp_path, ignore, CancelAfter(99))


def test_too_few_rows_to_stratify_say_how_to_fix_it(tmp_path: Path) -> None:
    data = builders.iris()
    few = TrainingData(
        data.kind, data.frame.iloc[::25].reset_index(drop=True), None, "target", "f", 1, "x"
    )
    with pytest.raises(ValidationFailed, match=r"set split\.stratify to false"):
        train(TrainingSpec(task="classification"), few, tmp_path, ignore, CancelAfter(99))
