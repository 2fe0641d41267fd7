"""Where a dataset version's bytes are and how to read them (no pandas here: the server
imports this at start-up; reading happens in the modules that need the data)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelmart.schemas.datasets import DatasetKind


@dataclass(frozen=True)
class StoredDataset:
    """Where one dataset version's bytes are and how to read them; picklable, so a worker
    process can load the data itself."""

    name: str
    version: int
    kind: DatasetKind
    file_format: str
    target: str | None
    digest: str
    blob: Path
    cache_dir: Path
    max_unpacked_bytes: int
