"""The explanation background a tabular version stores at training time.

Model-agnostic SHAP needs a reference distribution of inputs. Sending the whole training set
with every request would cost one model evaluation per training row per coalition, so the
training rows are summarised with k-means (on the preprocessed features, where distances mean
something) into at most :data:`BACKGROUND_ROWS` rows, each weighted by its cluster's share.
Each cluster is represented by its medoid, the real training row nearest the centroid, so
categorical columns keep values the model knows.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from modelmart.arrays import Array
from modelmart.explain.picker import EXPLANATION_KEY

__all__ = ["BACKGROUND_ROWS", "EXPLANATION_KEY", "background_summary"]

BACKGROUND_ROWS = 16
"""Rows in a stored background: Kernel SHAP evaluates the model on every one per coalition."""


def background_summary(
    inputs: Any, prepared: Array, seed: int, rows: int = BACKGROUND_ROWS
) -> dict[str, Any]:
    """``{"rows": [...], "weights": [...]}``: medoids of a k-means over ``prepared`` (the
    preprocessed training matrix), written as request instances of the raw ``inputs``
    (a float matrix, or a frame with one column per model input)."""
    from sklearn.cluster import KMeans

    dense = np.asarray(prepared.toarray() if hasattr(prepared, "toarray") else prepared)
    dense = np.nan_to_num(dense.astype(np.float64))
    k = max(1, min(rows, len(np.unique(dense, axis=0))))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a near-duplicate cluster is harmless here
        clusters = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(dense)
    medoids, weights = [], []
    for cluster in range(k):
        members = np.flatnonzero(clusters.labels_ == cluster)
        if len(members) == 0:
            continue
        distances = np.linalg.norm(dense[members] - clusters.cluster_centers_[cluster], axis=1)
        medoids.append(int(members[np.argmin(distances)]))
        weights.append(len(members) / len(dense))
    return {"rows": [_instance(inputs, index) for index in medoids], "weights": weights}


def _instance(inputs: Any, index: int) -> Any:
    """Row ``index`` as a JSON request instance (a missing number is written as its column's
    median, which is what the model's imputer would use)."""
    if isinstance(inputs, pd.DataFrame):
        values = inputs.iloc[index]
        return {str(name): _number_or_text(values[name], inputs[name]) for name in inputs.columns}
    matrix = np.asarray(inputs, dtype=np.float64)
    medians = np.nanmedian(matrix, axis=0)
    values = matrix[index]
    return np.where(np.isnan(values), medians, values).tolist()


def _number_or_text(value: Any, column: pd.Series) -> Any:
    if pd.api.types.is_numeric_dtype(column):
        number = float(value)
        if np.isnan(number):
            return float(np.nanmedian(column.to_numpy(dtype=np.float64)))
        return number
    return str(value)
