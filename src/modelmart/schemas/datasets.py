"""What the dataset API returns and accepts: frozen snapshots, ready to serialise as JSON."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class DatasetKind(StrEnum):
    TABULAR = "tabular"
    TEXT = "text"
    IMAGES = "images"
    AUDIO = "audio"
    INTERACTIONS = "interactions"


class ColumnSummary(BaseModel):
    """One column: its type as read, how many values are missing, and distinct values."""

    model_config = ConfigDict(frozen=True)

    name: str
    dtype: str
    missing: int
    distinct: int


class DatasetSummary(BaseModel):
    """Summary statistics computed once, when the version was registered."""

    model_config = ConfigDict(frozen=True)

    rows: int
    columns: list[ColumnSummary] = Field(
        description="each column's statistics; empty in list views, which give column_count"
    )
    column_count: int = 0
    class_balance: dict[str, int] = Field(default_factory=dict)
    files: int = 0


class DatasetInfo(BaseModel):
    """One immutable version of a named dataset."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: int
    kind: DatasetKind
    file_format: str
    digest: str
    size: int
    target: str | None
    description: str
    summary: DatasetSummary
    created_at: datetime
    owner: str = ""


class DatasetPreview(BaseModel):
    """The first rows of a version, as JSON-safe records."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: int
    columns: list[str]
    rows: list[dict[str, Any]]


class DatasetMetadata(BaseModel):
    """What accompanies a dataset upload (the ``metadata`` form field, as JSON). Everything is
    optional: the kind is detected from the file and the target defaults to ``label``."""

    model_config = ConfigDict(extra="forbid")

    kind: DatasetKind | None = None
    target: str | None = Field(default=None, min_length=1, max_length=128)
    description: str = Field(default="", max_length=10_000)
