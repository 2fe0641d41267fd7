"""Reading uploaded tables (CSV, Parquet, JSON Lines) into data frames, with errors that name
the line that could not be read.

A table's width is checked before it is parsed (:func:`check_width`): the header line of a
CSV, the schema of a Parquet file, the first record of JSON Lines. Parsing and summarising
cost Python work per column, so a table of 100,000 narrow columns (a few megabytes) would hold
the interpreter for many seconds; it is refused in milliseconds instead.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson
import pandas as pd

from modelmart.errors import InvalidDataset

MAX_COLUMNS = 2000
"""Columns a table may have unless the server's settings say otherwise."""

_HEADER_BYTES_PER_COLUMN = 256
"""A header line longer than this per allowed column is refused without being split."""

_JSON_LINE_BYTES = 16 * 1024 * 1024
"""The first JSON Lines record is read up to this size to count its keys."""

TABLE_FORMATS = ("csv", "parquet", "jsonl")
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".zip": "zip",
}


def detect_file_format(path: Path, filename: str) -> str:
    """``csv``, ``parquet``, ``jsonl`` or ``zip``: from the file's first bytes where they are
    telling (zip, Parquet), else from the name's extension."""
    with path.open("rb") as stream:
        head = stream.read(4)
    if head == b"PK\x03\x04":
        return "zip"
    if head == b"PAR1":
        return "parquet"
    found = _EXTENSIONS.get(Path(filename).suffix.lower())
    if found is None or found in ("zip", "parquet"):
        raise InvalidDataset(
            f"file {filename!r} is not a dataset ModelMart reads; upload a .csv, .parquet or "
            ".jsonl table, or a .zip of images or audio",
            details={"file": filename},
        )
    return found


def check_width(path: Path, file_format: str, filename: str, max_columns: int) -> None:
    """Refuse a table with more than ``max_columns`` columns, from its header alone."""
    name = filename or path.name
    counted = "has"
    if file_format == "parquet":
        columns = _parquet_columns(path, name)
    elif file_format == "jsonl":
        columns = _first_record_keys(path)
    else:
        separator = "\t" if name.lower().endswith(".tsv") else ","
        columns, complete = _header_columns(path, separator, max_columns)
        counted = "has" if complete else "has at least"
    if columns > max_columns:
        raise InvalidDataset(
            f"{name} {counted} {columns} columns; a dataset may have at most {max_columns}. "
            "Keep the columns a model needs (or reshape wide data into rows) and upload it "
            "again",
            details={"file": name, "columns": columns, "max_columns": max_columns},
        )


def _header_columns(path: Path, separator: str, max_columns: int) -> tuple[int, bool]:
    """Fields in the first line, and whether all of it was read: a header longer than any
    allowed one is not read to its end, and counts as too wide."""
    limit = max_columns * _HEADER_BYTES_PER_COLUMN
    with path.open("rb") as stream:
        line = stream.readline(limit + 1)
    if len(line) > limit and not line.endswith(b"\n"):
        return max(max_columns + 1, line.count(separator.encode())), False
    text = line.decode("utf-8", errors="replace")
    first = next(csv.reader(io.StringIO(text), delimiter=separator), [])
    return len(first), True


def _parquet_columns(path: Path, name: str) -> int:
    # With pandas' Parquet support (no type information); imported once a file arrives.
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    try:
        return len(pq.read_schema(path).names)
    except (OSError, ValueError) as exc:
        raise InvalidDataset(
            f"{name} could not be read as parquet: {exc}; check the file's format",
            details={"file": name},
        ) from exc


def _first_record_keys(path: Path) -> int:
    """Keys of the first JSON Lines record; 0 when it cannot tell (a bad line is reported
    when the table is read, and a first line past ``_JSON_LINE_BYTES`` is not read here)."""
    with path.open("rb") as stream:
        for line in iter(lambda: stream.readline(_JSON_LINE_BYTES + 1), b""):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                return 0
            return len(record) if isinstance(record, dict) else 0
    return 0


def read_table(path: Path, file_format: str, filename: str = "") -> pd.DataFrame:
    """The table in ``path``; InvalidDataset naming the line when it cannot be parsed."""
    name = filename or path.name
    try:
        if file_format == "parquet":
            return pd.read_parquet(path)
        if file_format == "jsonl":
            return _read_json_lines(path, name)
        separator = "\t" if name.lower().endswith(".tsv") else ","
        return pd.read_csv(path, sep=separator)
    except InvalidDataset:
        raise
    except pd.errors.EmptyDataError:
        raise InvalidDataset(
            f"{name} is empty; a table needs a header line and at least one row",
            details={"file": name},
        ) from None
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise InvalidDataset(
            f"{name} could not be read as {file_format}: {exc}; check the file's format",
            details={"file": name},
        ) from exc


def _read_json_lines(path: Path, name: str) -> pd.DataFrame:
    records = []
    with path.open("rb") as stream:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise InvalidDataset(
                    f"{name} line {number} is not valid JSON ({exc}); each line must be one "
                    'object such as {"text": "...", "label": "..."}',
                    details={"file": name, "line": number},
                ) from exc
            if not isinstance(record, dict):
                raise InvalidDataset(
                    f"{name} line {number} is a JSON {type(record).__name__}, not an object; "
                    'each line must be one object such as {"text": "...", "label": "..."}',
                    details={"file": name, "line": number},
                )
            records.append(record)
    if not records:
        raise InvalidDataset(f"{name} holds no records", details={"file": name})
    return pd.DataFrame.from_records(records)
