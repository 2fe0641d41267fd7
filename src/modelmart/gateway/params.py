"""Parameters several routes share, with the bounds the storage behind them has."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from modelmart.schemas.deployments import MAX_VERSION

MAX_ID = MAX_VERSION
"""The largest row id or version a request may name: larger numbers name nothing, and past
the database's integer they would fail inside it instead of answering 404."""

RowId = Annotated[int, Path(ge=1, le=MAX_ID)]
"""A path parameter naming a stored row (a key, a member) or a version by its number."""
