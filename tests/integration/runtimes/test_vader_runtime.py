"""The VADER sentiment runtime on the real vaderSentiment lexicon."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from modelmart.errors import NotReady, SchemaMismatch, UnsupportedFormat
from modelmart.runtimes.base import LoadRequest, Runtime, create_runtime
from modelmart.runtimes.vader import SIGNATURE, sentiment_label
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, TensorSpec


def texts(*items: str | bytes) -> dict[str, np.ndarray]:
    return {"text": np.array(items, dtype=object)}


@pytest.fixture(scope="module")
def vader(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    # A package reference without files assembles to an empty directory.
    empty = tmp_path_factory.mktemp("vader")
    runtime = create_runtime(RuntimeName.VADER)
    runtime.load(LoadRequest(path=empty, format=ArtifactFormat.PACKAGE))
    yield runtime
    runtime.unload()


def test_signature(vader: Runtime) -> None:
    text = TensorSpec(name="text", datatype=Datatype.BYTES, shape=(-1,))
    assert vader.signature.inputs == (text,)
    assert [(o.name, o.datatype, o.shape) for o in vader.signature.outputs] == [
        ("label", Datatype.BYTES, (-1,)),
        ("compound", Datatype.FP32, (-1,)),
        ("scores", Datatype.FP32, (-1, 3)),
    ]
    assert vader.metadata["vader_sentiment_version"] == "3.3.2"


def test_labels_follow_the_compound_score(vader: Runtime) -> None:
    outputs = vader.predict(
        texts("I love this, it is wonderful!", "This is terrible and I hate it.", "It is a box.")
    )
    assert outputs["label"].tolist() == ["positive", "negative", "neutral"]
    assert outputs["compound"].dtype == np.float32
    assert outputs["compound"][0] > 0.5
    assert outputs["compound"][1] < -0.5
    assert outputs["scores"].shape == (3, 3)
    np.testing.assert_allclose(outputs["scores"].sum(axis=1), 1.0, atol=0.002)


def test_scores_are_vaders_own(vader: Runtime) -> None:
    sentence = "The food was good, but the service was VERY slow :("
    expected = SentimentIntensityAnalyzer().polarity_scores(sentence)
    outputs = vader.predict(texts(sentence.encode()))
    assert outputs["compound"][0] == pytest.approx(expected["compound"], abs=1e-6)
    columns = [expected["neg"], expected["neu"], expected["pos"]]
    np.testing.assert_allclose(outputs["scores"][0], columns, atol=1e-6)


def test_an_empty_text_is_neutral_and_an_empty_batch_is_empty(vader: Runtime) -> None:
    outputs = vader.predict(texts(""))
    assert outputs["label"].tolist() == ["neutral"]
    assert outputs["compound"].tolist() == [0.0]
    empty = vader.predict({"text": np.array([], dtype=object)})
    assert (empty["label"].shape, empty["compound"].shape, empty["scores"].shape) == (
        (0,), (0,), (0, 3),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("compound", "label"),
    [(0.05, "positive"), (0.0499, "neutral"), (0.0, "neutral"), (-0.05, "negative")],
)
def test_vaders_published_thresholds(compound: float, label: str) -> None:
    assert sentiment_label(compound) == label


def test_uploads_and_unloaded_use_are_refused(tmp_path: Path) -> None:
    runtime = create_runtime(RuntimeName.VADER)
    with pytest.raises(UnsupportedFormat, match="deploy the catalogue's VADER model"):
        runtime.load(LoadRequest(path=tmp_path, format=ArtifactFormat.ONNX_TEXT))
    with pytest.raises(NotReady, match="call load"):
        runtime.predict(texts("hi"))
    with pytest.raises(NotReady, match="call load"):
        _ = runtime.signature


def test_declared_signature_must_match(tmp_path: Path) -> None:
    declared = Signature(inputs=SIGNATURE.inputs, outputs=SIGNATURE.outputs[:2])
    runtime = create_runtime(RuntimeName.VADER)
    with pytest.raises(SchemaMismatch, match="output 'scores' is not declared"):
        runtime.load(LoadRequest(path=tmp_path, format=ArtifactFormat.PACKAGE, signature=declared))
