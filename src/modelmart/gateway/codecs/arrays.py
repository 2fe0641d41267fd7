"""Turning JSON values into arrays of a tensor spec's datatype, with errors that point at the
input."""

from __future__ import annotations

from typing import Any

import numpy as np

from modelmart.arrays import Array, numpy_dtype
from modelmart.errors import SchemaMismatch
from modelmart.types import Datatype


def strings_array(values: Any, name: str) -> Array:
    """An object array of ``str``; anything else is refused (a BYTES input takes text)."""
    array = np.array(values, dtype=object)
    if array.ndim == 0:
        raise SchemaMismatch(f"input {name!r} must be a list of strings, one per instance")
    flat = array.reshape(-1)
    for index, value in enumerate(flat):
        if isinstance(value, bytes):
            flat[index] = value.decode("utf-8", errors="replace")
        elif not isinstance(value, str):
            raise SchemaMismatch(
                f"input {name!r} takes strings; item {index} is {type(value).__name__}"
            )
    return array


def numeric_array(values: Any, datatype: Datatype, name: str) -> Array:
    """A NumPy array of ``datatype``; ragged lists and non-numbers are refused."""
    try:
        array = np.asarray(values, dtype=numpy_dtype(datatype))
    except (ValueError, TypeError) as exc:
        raise SchemaMismatch(
            f"input {name!r} must be a rectangular list of {datatype} numbers ({exc})",
            details={"input": name, "datatype": datatype.value},
        ) from exc
    if array.ndim == 0:
        raise SchemaMismatch(f"input {name!r} must be a list with one entry per instance")
    return array


def to_array(values: Any, datatype: Datatype, name: str) -> Array:
    if datatype is Datatype.BYTES:
        return strings_array(values, name)
    return numeric_array(values, datatype, name)


def to_json_values(array: Array) -> list[Any]:
    """Plain Python values for JSON (bytes become text)."""
    if array.dtype.kind == "S":
        return np.char.decode(array, "utf-8", errors="replace").tolist()  # type: ignore[no-any-return]
    values: list[Any] = array.tolist()
    return values
