"""Reading uploaded tables (CSV, Parquet, JSON Lines) into data frames, with errors that name
the line that could not be read."""

from __future__ import annotations

from pathlib import Path

import orjson
import pandas as pd

from modelmart.errors import InvalidDataset

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
