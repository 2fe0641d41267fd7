"""Everything an upload goes through before it becomes a dataset version: format and kind
detection, the rules for its kind, and its summary statistics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelmart.datasets.loading import read_examples
from modelmart.datasets.media import check_media_files, detect_media_kind, zip_entries
from modelmart.datasets.reading import MAX_COLUMNS, check_width, detect_file_format, read_table
from modelmart.datasets.summary import summarize
from modelmart.datasets.validation import default_target, detect_table_kind, validate_table
from modelmart.errors import InvalidDataset
from modelmart.schemas.datasets import DatasetKind, DatasetMetadata, DatasetSummary

MEDIA_KINDS = (DatasetKind.IMAGES, DatasetKind.AUDIO)


@dataclass(frozen=True)
class CheckedUpload:
    kind: DatasetKind
    file_format: str
    target: str | None
    summary: DatasetSummary


def check_upload(
    path: Path,
    filename: str,
    metadata: DatasetMetadata,
    max_unpacked_bytes: int,
    max_columns: int = MAX_COLUMNS,
) -> CheckedUpload:
    """Detect, validate and summarise an upload; InvalidDataset says what to fix."""
    file_format = detect_file_format(path, filename)
    if file_format == "zip":
        return _check_media(path, metadata, max_unpacked_bytes)
    if metadata.kind in MEDIA_KINDS:
        raise InvalidDataset(
            f"a {metadata.kind} dataset is uploaded as a .zip; {filename!r} is a {file_format} "
            "table"
        )
    check_width(path, file_format, filename, max_columns)
    frame = read_table(path, file_format, filename)
    columns = [str(c) for c in frame.columns]
    kind = metadata.kind or detect_table_kind(columns)
    target = metadata.target or default_target(kind, columns)
    validate_table(frame, kind, target)
    frame = read_examples(path, file_format, kind, target, max_unpacked_bytes)
    return CheckedUpload(kind, file_format, target, summarize(frame, target))


def _check_media(path: Path, metadata: DatasetMetadata, max_unpacked_bytes: int) -> CheckedUpload:
    entries = zip_entries(path, max_unpacked_bytes)
    kind = metadata.kind or detect_media_kind(entries)
    if kind not in MEDIA_KINDS:
        raise InvalidDataset(
            f"a zip upload is an images or audio dataset, not {kind}; upload a {kind} dataset "
            "as a .csv, .parquet or .jsonl table"
        )
    target = metadata.target or ("transcript" if kind is DatasetKind.AUDIO else "label")
    frame = read_examples(path, "zip", kind, target, max_unpacked_bytes)
    if frame.empty:
        raise InvalidDataset(f"the zip lists no {kind.value} examples")
    check_media_files(path, kind, frame["path"])
    if kind is DatasetKind.IMAGES:
        validate_table(frame, DatasetKind.TABULAR, target)
    return CheckedUpload(kind, "zip", target, summarize(frame, target, files=len(frame)))
