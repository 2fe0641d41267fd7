import numpy as np
import pytest

from modelmart.errors import ValidationFailed
from modelmart.schemas.jobs import SplitSpec
from modelmart.training.splits import fold_indices, split_rows


def test_split_is_a_partition_and_reproducible() -> None:
    first = split_rows(100, SplitSpec(), seed=7)
    again = split_rows(100, SplitSpec(), seed=7)
    other = split_rows(100, SplitSpec(), seed=8)
    every = np.concatenate([first.train, first.validation, first.test])
    assert sorted(every.tolist()) == list(range(100))
    assert len(first.test) == 15
    assert len(first.validation) in (15, 16)  # 15 % of 100 taken from the remaining 85
    assert np.array_equal(first.test, again.test)
    assert not np.array_equal(first.test, other.test)


def test_stratified_split_keeps_class_shares() -> None:
    labels = np.array([0] * 80 + [1] * 20)
    split = split_rows(100, SplitSpec(validation=0.2, test=0.2), seed=0, labels=labels)
    for part in (split.train, split.validation, split.test):
        assert np.mean(labels[part]) == pytest.approx(0.2, abs=0.02)


def test_no_validation_part_when_asked() -> None:
    split = split_rows(50, SplitSpec(validation=0.0, test=0.2), seed=0)
    assert len(split.validation) == 0
    assert len(split.train) == 40


def test_single_class_is_refused() -> None:
    with pytest.raises(ValidationFailed, match="single class"):
        split_rows(10, SplitSpec(), seed=0, labels=np.zeros(10))


def test_tiny_class_is_named() -> None:
    labels = np.array(["a"] * 20 + ["rare"] * 2)
    with pytest.raises(ValidationFailed, match="'rare' has fewer than 3 examples"):
        split_rows(22, SplitSpec(), seed=0, labels=labels)


def test_unstratified_split_accepts_tiny_classes() -> None:
    labels = np.array(["a"] * 20 + ["rare"] * 2)
    split = split_rows(22, SplitSpec(stratify=False), seed=0, labels=labels)
    assert len(split.test) > 0


def test_folds_cover_every_row_once() -> None:
    labels = np.array([0, 1] * 12)
    folds = fold_indices(24, 4, seed=0, labels=labels)
    held = np.concatenate([h for _, h in folds])
    assert sorted(held.tolist()) == list(range(24))
    assert all(np.mean(labels[h]) == 0.5 for _, h in folds)
    assert len(fold_indices(9, 3, seed=0)) == 3


def test_too_few_rows_for_every_class_in_every_part() -> None:
    labels = np.array([0, 1, 2, 3, 4] * 4)
    with pytest.raises(ValidationFailed, match="cannot split 20 rows with a 15% share"):
        split_rows(20, SplitSpec(), seed=0, labels=labels)
