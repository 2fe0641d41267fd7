import math

import numpy as np
import pytest

from modelmart.training import metrics


def test_classification_metrics_match_hand_computed_values() -> None:
    y_true = np.array([0, 0, 1, 1, 2])
    # predicted classes: 0, 1, 1, 1, 0
    probabilities = np.array(
        [[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.5, 0.2, 0.3]]
    )
    found = metrics.classification_metrics(y_true, probabilities, ["a", "b", "c"])
    headline = found["headline"]
    assert headline["accuracy"] == pytest.approx(3 / 5)
    # precision: a 1/2, b 2/3, c 0 -> macro 7/18; recall: a 1/2, b 1, c 0 -> macro 1/2
    assert headline["precision_macro"] == pytest.approx(7 / 18)
    assert headline["recall_macro"] == pytest.approx(1 / 2)
    expected_log_loss = -np.mean(np.log([0.8, 0.3, 0.8, 0.7, 0.3]))
    assert headline["log_loss"] == pytest.approx(expected_log_loss)
    assert found["confusion_matrix"]["matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert found["per_class"]["b"] == {
        "precision": pytest.approx(2 / 3),
        "recall": 1.0,
        "f1": pytest.approx(0.8),
        "support": 2,
    }


def test_binary_roc_auc_counts_ordered_pairs() -> None:
    y_true = np.array([0, 0, 1, 1])
    probabilities = np.array([[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]])
    # positive scores 0.35, 0.8 against negative 0.1, 0.4: 3 of 4 pairs ordered
    assert metrics.roc_auc(y_true, probabilities) == pytest.approx(0.75)


def test_roc_auc_is_none_when_a_class_is_absent() -> None:
    assert metrics.roc_auc(np.array([0, 0]), np.array([[0.9, 0.1], [0.8, 0.2]])) is None


def test_regression_metrics() -> None:
    found = metrics.regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 5.0]))
    assert found["mse"] == pytest.approx(4 / 3)
    assert found["mae"] == pytest.approx(2 / 3)
    assert found["r2"] == pytest.approx(1 - 4 / 2)


def test_ranking_metrics_by_hand() -> None:
    recommended = {"u1": ["a", "b", "c"], "u2": ["d", "e", "f"]}
    relevant = {"u1": {"b"}, "u2": {"x", "y"}}
    found = metrics.ranking_metrics(recommended, relevant, k=3, catalogue_size=12)
    assert found["precision_at_3"] == pytest.approx((1 / 3 + 0) / 2)
    assert found["recall_at_3"] == pytest.approx((1 + 0) / 2)
    # u1: one hit at rank 2 -> DCG 1/log2(3), ideal 1 -> NDCG 1/log2(3); u2: 0
    assert found["ndcg_at_3"] == pytest.approx((1 / math.log2(3)) / 2)
    assert found["coverage"] == pytest.approx(6 / 12)


def test_ndcg_of_a_perfect_ranking_is_one() -> None:
    assert metrics.ndcg([1.0, 1.0, 0.0], n_relevant=2, k=3) == pytest.approx(1.0)
    assert metrics.ndcg([0.0, 0.0], n_relevant=0, k=2) == 0.0


def test_edit_distance_and_error_rates() -> None:
    assert metrics.edit_distance("kitten", "sitting") == 3
    assert metrics.word_error_rate(["the cat sat"], ["the cat sat down"]) == pytest.approx(1 / 3)
    assert metrics.word_error_rate(["a b", "c d"], ["a x", "c d"]) == pytest.approx(1 / 4)
    assert metrics.character_error_rate(["abcd"], ["abed"]) == pytest.approx(1 / 4)
    assert metrics.character_error_rate([""], ["x"]) == 1.0


def test_bootstrap_interval_is_seeded_and_contains_the_estimate() -> None:
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 2, 200)
    probabilities = np.stack([1 - y_true * 0.7, y_true * 0.7], axis=1)
    probabilities[:20] = probabilities[:20, ::-1]  # 20 wrong answers: accuracy 0.9

    def accuracy(t: np.ndarray, p: np.ndarray) -> float:
        return float(np.mean(p.argmax(1) == t))

    first = metrics.bootstrap_interval(accuracy, y_true, probabilities, seed=3)
    assert first == metrics.bootstrap_interval(accuracy, y_true, probabilities, seed=3)
    assert first is not None
    assert first[0] < 0.9 < first[1]


def test_bootstrap_interval_gives_up_when_most_resamples_fail() -> None:
    def failing(t: np.ndarray, p: np.ndarray) -> float:
        raise ValueError("no")

    assert metrics.bootstrap_interval(failing, np.zeros(5), np.zeros(5), seed=0) is None


def test_roc_curves_thin_long_curves_and_skip_absent_classes() -> None:
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 2, 1000)
    scores = rng.random(1000)
    probabilities = np.stack([1 - scores, scores], axis=1)
    curves = metrics.roc_curves(y_true, probabilities, ["no", "yes"])
    assert list(curves) == ["yes"]
    assert len(curves["yes"]["roc"]["fpr"]) <= 101
    three = metrics.roc_curves(np.array([0, 1, 1]), np.full((3, 3), 1 / 3), ["a", "b", "c"])
    assert set(three) == {"a", "b"}
