"""Checks a batch against a signature before it reaches a queue."""

from __future__ import annotations

from modelmart.arrays import Batch, numpy_dtype
from modelmart.errors import SchemaMismatch
from modelmart.types import Datatype, Signature, TensorSpec


def _check_tensor(spec: TensorSpec, array_shape: tuple[int, ...], problems: list[str]) -> None:
    if len(array_shape) != len(spec.shape):
        problems.append(
            f"input {spec.name!r} has shape {list(array_shape)} but the model expects "
            f"{len(spec.shape)} dimensions {list(spec.shape)} (-1 is any size)"
        )
        return
    for axis, (expected, actual) in enumerate(zip(spec.shape, array_shape, strict=True)):
        if axis > 0 and expected != -1 and expected != actual:
            problems.append(
                f"input {spec.name!r} has size {actual} on axis {axis} but the model expects "
                f"{expected}; its full shape is {list(spec.shape)}"
            )


def validate_batch(signature: Signature, batch: Batch) -> int:
    """Return the batch size, or raise :class:`SchemaMismatch` listing every problem."""
    problems: list[str] = []
    expected_names = {spec.name for spec in signature.inputs}
    for name in sorted(batch.keys() - expected_names):
        problems.append(f"unknown input {name!r}; the model takes {sorted(expected_names)}")
    for spec in signature.inputs:
        array = batch.get(spec.name)
        if array is None:
            problems.append(f"missing input {spec.name!r} ({spec.datatype}, {list(spec.shape)})")
            continue
        if (spec.datatype is Datatype.BYTES) != (array.dtype.kind in "OUS"):
            problems.append(f"input {spec.name!r} must be {spec.datatype}, got {array.dtype}")
        _check_tensor(spec, array.shape, problems)
    sizes = {len(array) for array in batch.values() if array.ndim > 0}
    if len(sizes) > 1:
        problems.append(f"inputs disagree on the batch size: {sorted(sizes)}")
    if not problems and (not sizes or 0 in sizes):
        problems.append("the batch is empty; send at least one instance")
    if problems:
        raise SchemaMismatch("; ".join(problems), details={"problems": problems})
    return sizes.pop()


def conform_batch(signature: Signature, batch: Batch) -> Batch:
    """Validate ``batch`` and cast numeric inputs to the signature's dtypes."""
    validate_batch(signature, batch)
    conformed: Batch = {}
    for spec in signature.inputs:
        array = batch[spec.name]
        if spec.datatype is not Datatype.BYTES and array.dtype != numpy_dtype(spec.datatype):
            array = array.astype(numpy_dtype(spec.datatype))
        conformed[spec.name] = array
    return conformed
