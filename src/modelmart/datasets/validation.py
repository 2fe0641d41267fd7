"""The rules an uploaded table must follow, per dataset kind. Every refusal names the column,
and where one row is at fault the row (counted from 1 after the header) and its line."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from modelmart.errors import InvalidDataset
from modelmart.schemas.datasets import DatasetKind

MIN_ROWS = 2
TEXT_COLUMNS = ("text",)
INTERACTION_COLUMNS = ("user", "item", "rating", "timestamp")
_NUMERIC_SHARE = 0.9  # a column this numeric is meant to be numbers: the rest are typos


def _row(index: int) -> str:
    return f"row {index + 1} (line {index + 2})"


def detect_table_kind(columns: Sequence[str]) -> DatasetKind:
    """Interactions when there are ``user`` and ``item`` columns, text when there is a
    ``text`` column, tabular otherwise."""
    if {"user", "item"} <= set(columns):
        return DatasetKind.INTERACTIONS
    if "text" in columns:
        return DatasetKind.TEXT
    return DatasetKind.TABULAR


def default_target(kind: DatasetKind, columns: Sequence[str]) -> str | None:
    """``label``, else ``target``, else (tabular only) the last column; None for interactions."""
    if kind is DatasetKind.INTERACTIONS:
        return None
    for name in ("label", "target"):
        if name in columns:
            return name
    return str(columns[-1]) if kind is DatasetKind.TABULAR else "label"


def validate_table(frame: pd.DataFrame, kind: DatasetKind, target: str | None) -> None:
    """Raise InvalidDataset for the first rule ``frame`` breaks as a dataset of ``kind``."""
    if len(frame) < MIN_ROWS:
        raise InvalidDataset(
            f"the table has {len(frame)} row(s); a dataset needs at least {MIN_ROWS}",
            details={"rows": len(frame)},
        )
    if kind is DatasetKind.INTERACTIONS:
        _check_interactions(frame)
        return
    target_columns = [target] if target else []
    allowed = [*TEXT_COLUMNS, *target_columns] if kind is DatasetKind.TEXT else None
    _check_columns(frame, required=allowed or target_columns, allowed=allowed)
    if kind is DatasetKind.TEXT:
        _check_text(frame, "text")
    else:
        for column in frame.columns:
            check_numeric_column(frame, str(column))
    if target is not None:
        check_target(frame, target)


def _check_columns(
    frame: pd.DataFrame, required: Sequence[str], allowed: Sequence[str] | None
) -> None:
    present = [str(c) for c in frame.columns]
    for name in required:
        if name not in present:
            raise InvalidDataset(
                f"column {name!r} is missing; the table has the columns {', '.join(present)}; "
                "rename a column or name the target column in the upload's metadata",
                details={"column": name, "columns": present},
            )
    if allowed is not None:
        for name in present:
            if name not in allowed:
                raise InvalidDataset(
                    f"column {name!r} is unknown; this kind of dataset has exactly the columns "
                    f"{', '.join(allowed)}; remove or rename it",
                    details={"column": name, "allowed": list(allowed)},
                )


def check_numeric_column(frame: pd.DataFrame, column: str) -> None:
    """A column that is almost all numbers must be all numbers (or empty cells)."""
    values = frame[column]
    if values.dtype != object and not pd.api.types.is_string_dtype(values):
        return
    present = values.dropna()
    if present.empty:
        return
    numbers = pd.to_numeric(present, errors="coerce")
    bad = numbers.isna()
    if bad.any() and bad.mean() <= 1 - _NUMERIC_SHARE:
        index = int(present.index[bad.to_numpy()][0])
        raise InvalidDataset(
            f"column {column!r} holds numbers, but {_row(index)} has {values[index]!r}; "
            "fix the value or leave the cell empty",
            details={"column": column, "row": index + 1},
        )


def check_target(frame: pd.DataFrame, target: str) -> None:
    """Every row has a target value, and there are at least two distinct values."""
    values = frame[target]
    missing = values.isna() | (values.astype(str).str.strip() == "")
    if missing.any():
        index = int(values.index[missing.to_numpy()][0])
        raise InvalidDataset(
            f"{_row(index)} has no value in the target column {target!r}; every example "
            "needs a label (or remove the row)",
            details={"column": target, "row": index + 1},
        )
    distinct = values.unique()
    if len(distinct) < 2:
        raise InvalidDataset(
            f"the target column {target!r} has a single value ({distinct[0]!r}) in all "
            f"{len(values)} rows; a model needs examples of at least two classes",
            details={"column": target, "classes": [str(v) for v in distinct]},
        )


def _check_text(frame: pd.DataFrame, column: str) -> None:
    for index, value in frame[column].items():
        if not isinstance(value, str) or not value.strip():
            raise InvalidDataset(
                f"{_row(int(index))} has {value!r} in column {column!r}; every example "
                "needs a non-empty text",
                details={"column": column, "row": int(index) + 1},
            )


def _check_interactions(frame: pd.DataFrame) -> None:
    _check_columns(frame, required=("user", "item"), allowed=INTERACTION_COLUMNS)
    for column in ("user", "item"):
        missing = frame[column].isna()
        if missing.any():
            index = int(frame.index[missing.to_numpy()][0])
            raise InvalidDataset(
                f"{_row(index)} has no {column}; every interaction names a user and an item",
                details={"column": column, "row": index + 1},
            )
    for column in ("rating", "timestamp"):
        if column in frame.columns:
            _check_all_numeric(frame, column)


def _check_all_numeric(frame: pd.DataFrame, column: str) -> None:
    values = frame[column]
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        index = int(frame.index[bad.to_numpy()][0])
        raise InvalidDataset(
            f"column {column!r} must hold numbers, but {_row(index)} has {values[index]!r}",
            details={"column": column, "row": index + 1},
        )
