"""The evaluation's arithmetic (the models themselves are measured by running the script)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from modelmart.catalog import evaluate
from modelmart.catalog.cards import Measurements
from modelmart.catalog.evaluate import cosines, spearman
from modelmart.catalog.evaluation_sets import LANGUAGES, SENTIMENT, SIMILARITY_PAIRS

from .catalog_fakes import measurements


def test_spearman_matches_scipy_with_ties():
    left = np.array([0.1, 0.4, 0.4, 0.9, 0.3, 0.3, 0.7])
    right = np.array([1.0, 2.0, 3.0, 5.0, 2.0, 2.0, 4.0])

    assert spearman(left, right) == pytest.approx(spearmanr(left, right).statistic)


def test_spearman_of_a_monotonic_relation_is_one():
    values = np.arange(10.0)

    assert spearman(values, values**3) == pytest.approx(1.0)
    assert spearman(values, -values) == pytest.approx(-1.0)


def test_cosines_are_row_wise():
    left = np.array([[1.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    right = np.array([[0.0, 3.0], [2.0, 2.0], [-1.0, 0.0]])

    assert cosines(left, right) == pytest.approx([0.0, 1.0, -1.0])


def test_the_sets_are_the_documented_size_and_balanced():
    assert len(SIMILARITY_PAIRS) == len(SENTIMENT) == len(LANGUAGES) == 30
    assert all(0.0 <= label <= 5.0 for _, _, label in SIMILARITY_PAIRS)
    labels = [label for _, label in SENTIMENT]
    assert {label: labels.count(label) for label in labels} == {
        "positive": 10, "negative": 10, "neutral": 10,
    }  # fmt: skip
    codes = [code for _, code in LANGUAGES]
    assert all(codes.count(code) == 3 for code in codes)


def test_main_writes_the_measurements_the_cards_read(tmp_path, monkeypatch, capsys):
    measured = measurements("langid")
    monkeypatch.setattr(evaluate, "measure_all", lambda: measured)
    target = tmp_path / "measured.json"

    evaluate.main(["--output", str(target)])

    assert Measurements.model_validate_json(target.read_text()) == measured
    assert "langid: accuracy=0.9; 0.5 ms alone" in capsys.readouterr().out
