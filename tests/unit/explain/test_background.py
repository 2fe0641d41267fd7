from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelmart.explain.background import background_summary


def test_the_summary_is_weighted_medoids_of_the_training_rows() -> None:
    rng = np.random.default_rng(0)
    rows = np.vstack([rng.normal(0, 0.1, (30, 2)), rng.normal(5, 0.1, (10, 2))])
    rows[3, 1] = np.nan
    summary = background_summary(rows, np.nan_to_num(rows), seed=0, rows=2)
    assert sorted(summary["weights"]) == pytest.approx([0.25, 0.75])
    medoids = np.asarray(summary["rows"])
    assert all(any(np.allclose(m, r) for r in rows[~np.isnan(rows).any(axis=1)]) for m in medoids)


def test_a_frame_gives_instances_keyed_by_column_with_real_categories() -> None:
    frame = pd.DataFrame(
        {"age": [20.0, 21.0, np.nan, 60.0], "colour": ["red", "red", "red", "blue"]}
    )
    prepared = np.c_[frame["age"].fillna(20.5), frame["colour"] == "blue"]
    summary = background_summary(frame, prepared, seed=0, rows=2)
    assert {row["colour"] for row in summary["rows"]} == {"red", "blue"}
    assert all(not np.isnan(row["age"]) for row in summary["rows"])
    assert sum(summary["weights"]) == pytest.approx(1.0)
