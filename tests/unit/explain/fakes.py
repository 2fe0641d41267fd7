"""In-memory models for the explanation methods: plain functions of a batch, with known
answers, standing in for a deployment's predict."""

from __future__ import annotations

import numpy as np

from modelmart.arrays import Array, Batch


def softmax(logits: Array) -> Array:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


class LinearRegressor:
    """``prediction = x @ weights + bias`` on input ``input``; counts the rows it answers."""

    def __init__(self, weights: Array, bias: float = 0.0) -> None:
        self.weights = weights
        self.bias = bias
        self.rows = 0

    def __call__(self, batch: Batch) -> Batch:
        x = np.asarray(batch["input"], dtype=np.float64)
        self.rows += len(x)
        return {"prediction": x @ self.weights + self.bias}


class InkClassifier:
    """Two classes; the second's logit grows with the ink inside a square region of a
    [N, 1, H, W] image, so that region is what should explain it."""

    def __init__(self, top: int, left: int, size: int) -> None:
        self.region = (slice(top, top + size), slice(left, left + size))

    def __call__(self, batch: Batch) -> Batch:
        images = np.asarray(batch["image"], dtype=np.float64)
        ink = images[:, 0, self.region[0], self.region[1]].mean(axis=(1, 2)) / 255.0
        logits = np.stack([np.zeros_like(ink), 8.0 * ink - 2.0], axis=1)
        return {"probabilities": softmax(logits)}


class WordClassifier:
    """``pos`` / ``neg`` by counting words of two vocabularies in input ``text``."""

    positive = frozenset({"good", "great"})
    negative = frozenset({"bad", "awful"})

    def __call__(self, batch: Batch) -> Batch:
        rows = []
        for text in batch["text"]:
            words = str(text).split()
            score = sum(w in self.positive for w in words) - sum(w in self.negative for w in words)
            rows.append([-score, score])
        return {"probabilities": softmax(np.asarray(rows, dtype=np.float64))}
