"""Trained artifacts registered, deployed and called over HTTP the way users call them:
raw text for text classifiers, a user id for recommenders, named columns for tabular rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelmart.client import Client
from modelmart.config import Settings
from modelmart.schemas.jobs import TrainingSpec
from modelmart.training.api import train
from modelmart.training.runs import ProgressEvent, TrainingData, TrainingOutcome
from tests.integration.servers import LiveServer, live_server
from tests.integration.training import builders


class NeverCancel:
    def cancelled(self) -> bool:
        return False


def ignore(event: ProgressEvent) -> None:
    return None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("served") / "data"
    with live_server(Settings(data_dir=data_dir, json_logs=False)) as live:
        yield live


def publish(
    server: LiveServer, name: str, spec: TrainingSpec, data: TrainingData, workdir: Path
) -> TrainingOutcome:
    """Train, push the artifact as a new model's first version and deploy it."""
    outcome = train(spec, data, workdir, ignore, NeverCancel())
    with Client(server.url) as mm:
        mm.create_model(name, outcome.task)
        mm.push_version(
            name,
            outcome.artifact,
            format=outcome.format,
            signature=outcome.signature.model_dump(mode="json"),
            parameters=outcome.parameters,
            metrics=outcome.metrics,
        )
        mm.deploy(name)
    return outcome


def predict(server: LiveServer, name: str, instances: list[Any]) -> list[Any]:
    response = httpx.post(
        f"{server.url}/v1/models/{name}:predict", json={"instances": instances}, timeout=120
    )
    assert response.status_code == 200, response.text
    predictions: list[Any] = response.json()["predictions"]
    return predictions


def test_text_classifier_answers_raw_text(server: LiveServer, tmp_path: Path) -> None:
    spec = TrainingSpec(task="classification", family="gru", max_epochs=4)
    publish(server, "reviews-gru", spec, builders.reviews(), tmp_path)
    predictions = predict(server, "reviews-gru", ["a superb and lovely film", "dull, awful"])
    assert [set(p) for p in predictions] == [{"label", "probabilities", "tokens"}] * 2
    assert {p["label"] for p in predictions} <= {"neg", "pos"}
    assert sum(predictions[0]["probabilities"]) == pytest.approx(1.0, abs=1e-5)


def test_recommender_answers_a_user_id(server: LiveServer, tmp_path: Path) -> None:
    spec = TrainingSpec(task="recommendation", hyperparameters={"factors": 8, "top_k": 3})
    publish(server, "ratings-als", spec, builders.interactions(), tmp_path)
    predictions = predict(server, "ratings-als", ["u1", "someone-new"])
    assert [len(p["items"]) for p in predictions] == [3, 3]
    assert all(item.startswith("i") for p in predictions for item in p["items"])


def test_tabular_rows_are_objects_keyed_by_column(server: LiveServer, tmp_path: Path) -> None:
    data = builders.iris(with_category=True)
    publish(server, "iris-mixed", TrainingSpec(task="classification"), data, tmp_path)
    row = data.frame.drop(columns="target").iloc[1].to_dict()  # row 0's category is missing
    predictions = predict(server, "iris-mixed", [row, {**row, "size": "never seen"}])
    assert predictions[0]["label"] == "setosa"
    assert len(predictions[1]["probabilities"]) == 3
