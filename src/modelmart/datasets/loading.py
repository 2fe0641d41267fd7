"""From a stored dataset blob to the frame (and unpacked folder) that training reads.

Both the upload check and the training worker go through :func:`read_examples`, so a version
trains on exactly the rows that were validated and summarised.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from modelmart.datasets.media import media_frame
from modelmart.datasets.reading import read_table
from modelmart.datasets.stored import StoredDataset
from modelmart.registry.archives import unpack_cached
from modelmart.schemas.datasets import DatasetKind
from modelmart.training.runs import TrainingData

IMPLICIT_RATING = 1.0


def read_examples(
    path: Path, file_format: str, kind: DatasetKind, target: str | None, max_unpacked_bytes: int
) -> pd.DataFrame:
    """One row per example. Media datasets list their files in a ``path`` column."""
    if file_format == "zip":
        return media_frame(path, kind, target or "label", max_unpacked_bytes)
    frame = read_table(path, file_format)
    if kind is DatasetKind.INTERACTIONS and "rating" not in frame.columns:
        # Implicit feedback: every listed interaction counts as one positive.
        frame = frame.assign(rating=IMPLICIT_RATING)
    return frame


def load_training_data(stored: StoredDataset) -> TrainingData:
    """The :class:`TrainingData` for ``stored``, unpacking a media zip into the cache once."""
    frame = read_examples(
        stored.blob, stored.file_format, stored.kind, stored.target, stored.max_unpacked_bytes
    )
    root = None
    if stored.file_format == "zip":
        root = unpack_cached(
            stored.blob, stored.cache_dir, stored.digest, stored.max_unpacked_bytes
        )
    return TrainingData(
        kind=stored.kind,
        frame=frame,
        root=root,
        target=stored.target,
        name=stored.name,
        version=stored.version,
        digest=stored.digest,
    )
