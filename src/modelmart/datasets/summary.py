"""Summary statistics and previews of a dataset's table, computed with pandas."""

from __future__ import annotations

from typing import Any

import orjson
import pandas as pd

from modelmart.schemas.datasets import ColumnSummary, DatasetSummary

MAX_CLASSES = 100  # more distinct targets than this reads as regression: no class balance


def summarize(frame: pd.DataFrame, target: str | None, files: int = 0) -> DatasetSummary:
    """Rows, each column's type, missing and distinct counts, and the target's class balance
    when it looks categorical."""
    missing = frame.isna().sum()  # one pass over the frame, not one call per column
    distinct = frame.nunique()
    columns = [
        ColumnSummary(
            name=str(name),
            dtype=str(dtype),
            missing=int(missing.iloc[index]),
            distinct=int(distinct.iloc[index]),
        )
        for index, (name, dtype) in enumerate(frame.dtypes.items())
    ]
    return DatasetSummary(
        rows=len(frame),
        columns=columns,
        column_count=len(columns),
        class_balance=class_balance(frame, target),
        files=files,
    )


def class_balance(frame: pd.DataFrame, target: str | None) -> dict[str, int]:
    if target is None or target not in frame.columns:
        return {}
    values = frame[target]
    if pd.api.types.is_float_dtype(values) or values.nunique() > MAX_CLASSES:
        return {}
    counts = values.astype(str).value_counts().sort_index()
    return {str(label): int(count) for label, count in counts.items()}


def preview_rows(frame: pd.DataFrame, rows: int) -> list[dict[str, Any]]:
    """The first ``rows`` rows as JSON-safe records (missing values become null)."""
    records: list[dict[str, Any]] = orjson.loads(
        frame.head(rows).to_json(orient="records", date_format="iso")
    )
    return records
