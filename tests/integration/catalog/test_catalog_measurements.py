"""The shipped measurements are reproducible: the evaluation, rerun through the runtimes,
finds the quality figures that measured.json records (latency depends on the machine)."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelmart.catalog.cards import load_measurements
from modelmart.catalog.entries import LANGID, VADER_SENTIMENT
from modelmart.catalog.evaluate import (
    LANGUAGE_SET,
    SENTIMENT_SET,
    measure_classifier,
    measure_embeddings,
)
from modelmart.catalog.evaluation_sets import LANGUAGES, SENTIMENT


def quality(measured) -> dict[str, float]:
    return {m.metric: m.value for m in measured.quality}


@pytest.mark.parametrize(
    ("entry", "examples", "output", "dataset"),
    [
        (VADER_SENTIMENT, SENTIMENT, "label", SENTIMENT_SET),
        (LANGID, LANGUAGES, "language", LANGUAGE_SET),
    ],
    ids=["vader-sentiment", "langid"],
)
def test_classifier_figures_are_reproduced(entry, examples, output, dataset):
    measured = measure_classifier(entry, examples, output, dataset)

    assert quality(measured) == quality(load_measurements().models[entry.name])
    assert measured.quality[0].dataset == dataset
    assert measured.latency.ms_per_item_alone > 0


def test_embedding_figures_are_reproduced(tmp_path: Path):
    measured = measure_embeddings(tmp_path)
    shipped = load_measurements().models

    for name, found in measured.items():
        assert quality(found) == pytest.approx(quality(shipped[name]), abs=2e-3), name
