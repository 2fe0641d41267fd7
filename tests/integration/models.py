"""Tiny real models trained on scikit-learn's bundled data, saved in safe formats."""

from __future__ import annotations

from pathlib import Path

import skops.io
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression


def iris_skops(path: Path, *, regularisation: float = 1.0) -> Path:
    """An iris logistic regression saved with skops; ``regularisation`` changes its weights."""
    features, labels = load_iris(return_X_y=True)
    model = LogisticRegression(C=regularisation, max_iter=500).fit(features, labels)
    skops.io.dump(model, path)
    return path
