from __future__ import annotations

import numpy as np
import pytest

from modelmart.explain.tokens import TokenOcclusionExplainer, spans
from tests.unit.explain.fakes import WordClassifier


def _explain(text: str, budget: int = 100) -> tuple:
    model = WordClassifier()
    explainer = TokenOcclusionExplainer("text", ["neg", "pos"], budget)
    instance = {"text": np.array([text], dtype=object)}
    outputs = model(instance)
    probes = explainer.probes(instance, outputs)
    return explainer.explain(instance, outputs, model(probes)), len(probes["text"])


def test_the_words_that_carry_the_class_are_its_top_tokens() -> None:
    explained, _ = _explain("the food was good and the service great")
    assert explained.target == "pos"
    assert set(explained.extra["top_tokens"]) == {"good", "great"}
    assert explained.extra["tokens"][3] == "good"
    neutral = explained.attributions[[0, 1, 2, 4]]
    assert (neutral == 0).all()
    assert explained.base_value == pytest.approx(0.5)  # the empty text: no evidence either way


def test_long_texts_are_occluded_in_spans_within_the_budget() -> None:
    explained, evaluated = _explain(" ".join(["filler"] * 40 + ["awful"]), budget=11)
    assert evaluated <= 11
    assert explained.target == "neg"
    assert explained.attributions[-1] > 0
    assert [len(s) for s in spans(41, 10)] == [5] * 8 + [1]
