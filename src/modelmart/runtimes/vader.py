"""VADER sentiment (vaderSentiment): a lexicon and rules, no weights to upload.

A version is a package reference with no files; the lexicon ships inside vaderSentiment.
Served signature: ``text`` BYTES [-1] in; ``label`` BYTES [-1] (``positive``, ``negative`` or
``neutral`` by VADER's published thresholds on the compound score, +-0.05), ``compound`` FP32
[-1] (-1 to 1) and ``scores`` FP32 [-1, 3] (the negative, neutral and positive proportions)
out. An empty text is a valid input and scores neutral; whether to accept one is the route's
decision, not the model's.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any

import numpy as np
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from modelmart.arrays import Batch
from modelmart.errors import UnsupportedFormat
from modelmart.runtimes.base import LoadRequest, Runtime
from modelmart.runtimes.parameters import texts
from modelmart.runtimes.signatures import reconcile
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, TensorSpec

POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05
SCORE_COLUMNS = ("neg", "neu", "pos")
SIGNATURE = Signature(
    inputs=(TensorSpec(name="text", datatype=Datatype.BYTES, shape=(-1,)),),
    outputs=(
        TensorSpec(name="label", datatype=Datatype.BYTES, shape=(-1,)),
        TensorSpec(name="compound", datatype=Datatype.FP32, shape=(-1,)),
        TensorSpec(name="scores", datatype=Datatype.FP32, shape=(-1, len(SCORE_COLUMNS))),
    ),
)


class VaderRuntime(Runtime):
    """Scores sentiment with VADER's lexicon; one analyzer per instance."""

    name = RuntimeName.VADER
    label = "VADER"
    _analyzer: Any = None

    def load(self, request: LoadRequest) -> None:
        if request.format is not ArtifactFormat.PACKAGE:
            raise UnsupportedFormat(
                f"the VADER runtime serves the package reference of the built-in catalogue, "
                f"not a {request.format.value} upload; deploy the catalogue's VADER model"
            )
        self._signature = reconcile(request.signature, SIGNATURE)
        self._analyzer = SentimentIntensityAnalyzer()

    def predict(self, batch: Batch) -> Batch:
        analyzer = self._require(self._analyzer)
        polarities = [analyzer.polarity_scores(text) for text in texts(batch["text"])]
        compound = [float(p["compound"]) for p in polarities]
        scores = [[float(p[column]) for column in SCORE_COLUMNS] for p in polarities]
        return {
            "label": np.array([sentiment_label(c) for c in compound], dtype=object),
            "compound": np.array(compound, dtype=np.float32),
            "scores": np.array(scores, dtype=np.float32).reshape(-1, len(SCORE_COLUMNS)),
        }

    def unload(self) -> None:
        self._analyzer = None
        super().unload()

    @property
    def metadata(self) -> dict[str, Any]:
        version = importlib.metadata.version("vaderSentiment")
        return {**super().metadata, "vader_sentiment_version": version}


def sentiment_label(compound: float) -> str:
    """VADER's published reading of a compound score."""
    if compound >= POSITIVE_THRESHOLD:
        return "positive"
    if compound <= NEGATIVE_THRESHOLD:
        return "negative"
    return "neutral"
