"""The language models' measures (span precision and recall, chrF), their hand-written sets
and their entries."""

from __future__ import annotations

import pytest

from modelmart.catalog.language_entries import LANGUAGE_ENTRIES
from modelmart.catalog.language_evaluation import chrf, labelled_spans, span_scores
from modelmart.catalog.language_sets import ENGLISH_SPANISH, PII_SENTENCES
from modelmart.types import Task


def test_every_label_is_in_its_sentence_in_order():
    for text, labels in PII_SENTENCES:
        spans = sorted(labelled_spans(text, labels), key=lambda span: span[1])
        assert [text[start:end] for _, start, end in spans] == [entity for _, entity in labels]
    assert len(PII_SENTENCES) >= 30
    assert len(ENGLISH_SPANISH) == 30


def test_a_repeated_entity_gets_its_second_occurrence():
    text = "Paris is not Paris, Texas."
    spans = labelled_spans(text, (("LOCATION", "Paris"), ("LOCATION", "Paris")))
    assert spans == {("LOCATION", 0, 5), ("LOCATION", 13, 18)}


def test_span_scores_per_type_and_over_all():
    labelled = [{("PERSON", 0, 4), ("LOCATION", 10, 15)}, {("PERSON", 0, 3)}]
    predicted = [{("PERSON", 0, 4), ("LOCATION", 10, 14)}, {("PERSON", 0, 3), ("URL", 5, 9)}]
    figures = {m.metric: m.value for m in span_scores(labelled, predicted)}
    assert figures == {
        "precision_LOCATION": 0.0,
        "recall_LOCATION": 0.0,
        "precision_PERSON": 1.0,
        "recall_PERSON": 1.0,
        "precision_all": 0.5,
        "recall_all": 0.6667,
    }


def test_chrf_is_100_for_identical_text_and_ignores_spaces():
    assert chrf(["La casa es roja."], ["La casa es roja."]) == pytest.approx(100)
    assert chrf(["Lacasa esroja."], ["La casa es roja."]) == pytest.approx(100)
    assert chrf(["xyz"], ["La casa"]) == 0.0


def test_chrf_rewards_closer_translations_and_weights_recall():
    reference = ["La casa es roja."]
    close, far = chrf(["La casa es rojo."], reference), chrf(["El coche azul."], reference)
    assert 0 < far < close < 100
    # beta 2: missing half of the reference costs more than adding as much again.
    assert chrf(["La casa"], ["La casa es roja"]) < chrf(
        ["La casa es roja hoy sí"], ["La casa es roja"]
    )


def test_the_translation_entries_say_what_they_are():
    translators = [entry for entry in LANGUAGE_ENTRIES if entry.task is Task.TRANSLATION]
    assert [entry.name for entry in translators] == ["apertium-en-es", "apertium-es-en"]
    for entry in translators:
        assert "rule-based" in entry.description
        assert "not a neural" in entry.description
        assert "separate program" in entry.licences["apertium"]
        assert entry.manifest.packages == {}
