"""A small, learnable classification table written as CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def blobs_csv(path: Path, rows: int = 90, seed: int = 0) -> Path:
    """Three well-separated classes in two features."""
    rng = np.random.default_rng(seed)
    labels = np.arange(rows) % 3
    features = rng.normal(size=(rows, 2)) * 0.5 + labels[:, None] * 3.0
    lines = ["x1,x2,label"] + [
        f"{a:.4f},{b:.4f},class_{label}" for (a, b), label in zip(features, labels, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


LONG_SPEC = {"max_epochs": 2000, "early_stopping_patience": 2000}
"""An MLP spec that trains for minutes: long enough to kill or cancel mid-run."""


def reviews_jsonl(path: Path, rows: int = 80) -> Path:
    """A text dataset: four words per review, positive and negative vocabularies apart."""
    rng = np.random.default_rng(0)
    words = {"pos": ["good", "great", "fine", "love"], "neg": ["bad", "awful", "hate", "poor"]}
    labels = ["pos", "neg"] * (rows // 2)
    lines = [
        f'{{"text": "{" ".join(rng.choice(words[label], 4))}", "label": "{label}"}}'
        for label in labels
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def ratings_csv(path: Path, users: int = 30, per_user: int = 8) -> Path:
    """Interactions: each user rates eight of twenty items, with timestamps."""
    lines = ["user,item,rating,timestamp"] + [
        f"u{u},i{(u * 3 + k) % 20},{1 + (u + k) % 5},{1000 + k}"
        for u in range(users)
        for k in range(per_user)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path
