"""The numbers an explanation attributes: a classifier's class probabilities (the predicted
class by default) or a regressor's prediction, read from the model's outputs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from modelmart.arrays import Array, Batch
from modelmart.errors import NotExplainable

PROBABILITIES = "probabilities"
SCORES = "scores"
PREDICTION = "prediction"


def score_matrix(outputs: Batch) -> Array:
    """[rows, outputs] float64: probabilities (or scores) of a classifier, the prediction of a
    regressor."""
    for name in (PROBABILITIES, SCORES, PREDICTION):
        if name in outputs:
            values = np.asarray(outputs[name], dtype=np.float64)
            return values.reshape(len(values), -1)
    numeric = [a for a in outputs.values() if np.issubdtype(np.asarray(a).dtype, np.number)]
    if len(numeric) == 1:
        values = np.asarray(numeric[0], dtype=np.float64)
        return values.reshape(len(values), -1)
    raise NotExplainable(
        "the model's outputs have no 'probabilities' or 'prediction' (and not exactly one "
        f"numeric output) to attribute; it returns {sorted(outputs)}",
        details={"outputs": sorted(outputs)},
    )


def target_index(outputs: Batch) -> int:
    """The output explained for a one-row ``outputs``: the most probable class (or the only
    regression output)."""
    return int(np.argmax(score_matrix(outputs)[0]))


def target_name(index: int, names: Sequence[str]) -> str:
    return names[index] if index < len(names) else str(index)
