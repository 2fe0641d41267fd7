"""Tiny real datasets for training tests: sliced scikit-learn sets and small synthetic ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.datasets import load_diabetes, load_digits, load_iris

from modelmart.schemas.datasets import DatasetKind
from modelmart.training.runs import TrainingData


def iris(with_category: bool = False) -> TrainingData:
    frame = load_iris(as_frame=True).frame
    frame["target"] = frame["target"].map({0: "setosa", 1: "versicolor", 2: "virginica"})
    if with_category:
        frame["size"] = np.where(frame["petal length (cm)"] > 4, "large", "small")
        frame.loc[::17, "size"] = None  # missing categories are imputed
    return TrainingData(DatasetKind.TABULAR, frame, None, "target", "iris", 1, "sha256:iris")


def diabetes(rows: int = 200) -> TrainingData:
    frame = load_diabetes(as_frame=True).frame.iloc[:rows].copy()
    frame.loc[::13, "bmi"] = np.nan  # missing numbers are imputed
    return TrainingData(DatasetKind.TABULAR, frame, None, "target", "diabetes", 1, "sha256:d")


def reviews(rows: int = 120) -> TrainingData:
    rng = np.random.default_rng(0)
    good, bad = ["great", "lovely", "fun", "superb"], ["awful", "boring", "dull", "poor"]
    filler = ["the", "film", "was", "plot", "really", "acting", "quite"]
    records = []
    for index in range(rows):
        positive = index % 2 == 0
        words = [*rng.choice(filler, 5), *rng.choice(good if positive else bad, 2)]
        rng.shuffle(words)
        records.append({"text": " ".join(words), "label": "pos" if positive else "neg"})
    frame = pd.DataFrame(records)
    return TrainingData(DatasetKind.TEXT, frame, None, "label", "reviews", 1, "sha256:r")


def digits(root: Path, rows: int = 240) -> TrainingData:
    data = load_digits()
    records = []
    for index in range(rows):
        label = str(data.target[index])
        (root / label).mkdir(parents=True, exist_ok=True)
        pixels = (data.images[index] * 16).clip(0, 255).astype(np.uint8)
        Image.fromarray(pixels, "L").save(root / label / f"{index}.png")
        records.append({"path": f"{label}/{index}.png", "label": label})
    frame = pd.DataFrame(records)
    return TrainingData(DatasetKind.IMAGES, frame, root, "label", "digits", 1, "sha256:g")


def interactions(users: int = 80) -> TrainingData:
    """Four taste groups, each preferring its own quarter of 40 items."""
    rng = np.random.default_rng(0)
    records = []
    for user in range(users):
        group = user % 4
        for _ in range(12):
            own = rng.random() < 0.85
            item = group * 10 + int(rng.integers(0, 10)) if own else int(rng.integers(0, 40))
            records.append({"user": f"u{user}", "item": f"i{item}", "rating": 1.0})
    frame = pd.DataFrame(records).drop_duplicates(["user", "item"]).reset_index(drop=True)
    return TrainingData(DatasetKind.INTERACTIONS, frame, None, None, "ratings", 1, "sha256:i")
