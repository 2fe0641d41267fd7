"""Train/validation/test splits: stratified where it applies, reproducible from the seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from modelmart.arrays import Array
from modelmart.errors import ValidationFailed
from modelmart.schemas.jobs import SplitSpec


@dataclass(frozen=True)
class Split:
    """Row indices of each part; ``validation`` is empty when no validation share is asked."""

    train: Array
    validation: Array
    test: Array


def split_rows(n_rows: int, spec: SplitSpec, seed: int, labels: Array | None = None) -> Split:
    """Split ``n_rows`` rows. ``labels`` (classification) stratifies when ``spec.stratify``."""
    indices = np.arange(n_rows)
    strata = labels if spec.stratify and labels is not None else None
    if strata is not None:
        _check_classes(strata, spec)
    rest, test = _take(indices, spec.test, seed, strata)
    if spec.validation == 0:
        return Split(train=np.sort(rest), validation=np.array([], dtype=int), test=np.sort(test))
    share = spec.validation / (1.0 - spec.test)
    rest_strata = strata[rest] if strata is not None else None
    train, validation = _take(rest, share, seed + 1, rest_strata)
    return Split(train=np.sort(train), validation=np.sort(validation), test=np.sort(test))


def fold_indices(
    n_rows: int, k: int, seed: int, labels: Array | None = None
) -> list[tuple[Array, Array]]:
    """``k`` (train, held-out) index pairs, stratified when ``labels`` is given."""
    rows = np.arange(n_rows)
    if labels is not None:
        folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        return [(train, held) for train, held in folds.split(rows, labels)]
    plain = KFold(n_splits=k, shuffle=True, random_state=seed)
    return [(train, held) for train, held in plain.split(rows)]


def _take(indices: Array, share: float, seed: int, strata: Array | None) -> tuple[Array, Array]:
    try:
        kept, held = train_test_split(indices, test_size=share, random_state=seed, stratify=strata)
    except ValueError as exc:  # too few rows for a stratified part; scikit-learn says why
        raise ValidationFailed(
            f"cannot split {len(indices)} rows with a {share:.0%} share stratified by class "
            f"({exc}); add rows, raise the split's validation/test shares, or set "
            "split.stratify to false",
            details={"rows": len(indices)},
        ) from exc
    return np.asarray(kept), np.asarray(held)


def _check_classes(labels: Array, spec: SplitSpec) -> None:
    """Stratifying needs every class in every part; say which class is too small."""
    values, counts = np.unique(labels, return_counts=True)
    if len(values) < 2:
        raise ValidationFailed(
            f"the target has a single class ({values[0]!r}); a classifier needs at least two",
            details={"classes": [str(v) for v in values]},
        )
    parts = 3 if spec.validation > 0 else 2
    needed = max(parts, spec.k_folds or 0)
    small = [str(value) for value, count in zip(values, counts, strict=True) if count < needed]
    if small:
        raise ValidationFailed(
            f"class {', '.join(map(repr, small))} has fewer than {needed} examples, too few to "
            "appear in every split; add examples, merge the class, or set split.stratify to false",
            details={"classes": small},
        )
