"""Tensors as the server holds them: NumPy arrays, and the NumPy dtype of each v2 datatype.

Apart from :mod:`modelmart.types` because only the server side computes on arrays: the SDK
sends and receives JSON, and ``pip install modelmart`` (the SDK alone) has no NumPy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from modelmart.types import Datatype

Array = npt.NDArray[Any]
Batch = dict[str, Array]
"""Named arrays whose first dimension is the batch: ``{"input": array of shape (n, ...)}``."""

_NUMPY_DTYPES: dict[Datatype, str] = {
    Datatype.BOOL: "bool",
    Datatype.UINT8: "uint8",
    Datatype.INT8: "int8",
    Datatype.INT16: "int16",
    Datatype.INT32: "int32",
    Datatype.INT64: "int64",
    Datatype.FP16: "float16",
    Datatype.FP32: "float32",
    Datatype.FP64: "float64",
    Datatype.BYTES: "object",
}


def numpy_dtype(datatype: Datatype) -> np.dtype[Any]:
    """The NumPy dtype arrays of ``datatype`` are held in; ``BYTES`` holds Python objects."""
    return np.dtype(_NUMPY_DTYPES[datatype])


def datatype_of(dtype: np.dtype[Any]) -> Datatype:
    """The v2 datatype of a NumPy dtype; strings and objects become BYTES."""
    if dtype.kind in "OUS":
        return Datatype.BYTES
    for datatype, name in _NUMPY_DTYPES.items():
        if np.dtype(name) == dtype:
            return datatype
    raise ValueError(f"NumPy dtype {dtype} has no Open Inference Protocol datatype")
