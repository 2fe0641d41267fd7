"""Checks for version parameters and text inputs shared by the runtimes.

Kept free of framework imports, so a runtime that needs no torch never loads it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelmart.arrays import Array
from modelmart.errors import InvalidRequest


def positive_int_parameter(parameters: Mapping[str, Any], name: str) -> int | None:
    """``parameters[name]`` when it is a positive integer, None when absent."""
    value = parameters.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequest(f"parameter '{name}' is {value!r}; expected a positive integer")
    return value


def bool_parameter(parameters: Mapping[str, Any], name: str, default: bool) -> bool:
    value = parameters.get(name, default)
    if not isinstance(value, bool):
        raise InvalidRequest(f"parameter '{name}' is {value!r}; expected true or false")
    return value


def texts(array: Array) -> list[str]:
    """The strings of a BYTES input, whatever its shape."""
    return [
        item.decode("utf-8") if isinstance(item, bytes) else str(item) for item in array.ravel()
    ]
