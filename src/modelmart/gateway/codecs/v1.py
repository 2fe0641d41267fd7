"""The plain JSON protocol: ``{"instances": [...]}`` or ``{"inputs": {...}}`` in,
``{"predictions": [...]}`` out."""

from __future__ import annotations

from typing import Any

from modelmart.arrays import Batch
from modelmart.errors import InvalidRequest, SchemaMismatch
from modelmart.gateway.codecs.arrays import to_array, to_json_values
from modelmart.serving.placement import Prediction
from modelmart.types import Signature

_SHAPE_HELP = 'send {"instances": [one entry per example]} or {"inputs": {"<input name>": [...]}}'


def _from_rows(rows: Any, signature: Signature) -> Batch:
    if not isinstance(rows, list) or not rows:
        raise InvalidRequest(f"'instances' must be a non-empty list; {_SHAPE_HELP}")
    if len(signature.inputs) == 1:
        spec = signature.inputs[0]
        return {spec.name: to_array(rows, spec.datatype, spec.name)}
    names = [spec.name for spec in signature.inputs]
    for index, row in enumerate(rows):
        if not isinstance(row, dict) or set(row) != set(names):
            raise SchemaMismatch(
                f"instance {index} must be an object with the keys {names}, "
                "because the model has several inputs",
                details={"instance": index, "inputs": names},
            )
    return {
        spec.name: to_array([row[spec.name] for row in rows], spec.datatype, spec.name)
        for spec in signature.inputs
    }


def _from_columns(columns: Any, signature: Signature) -> Batch:
    if isinstance(columns, list) and len(signature.inputs) == 1:
        columns = {signature.inputs[0].name: columns}
    if not isinstance(columns, dict):
        raise InvalidRequest(f"'inputs' must map input names to lists; {_SHAPE_HELP}")
    batch: Batch = {}
    for name, values in columns.items():
        spec = signature.input_named(str(name))
        if spec is None:
            known = [s.name for s in signature.inputs]
            raise SchemaMismatch(f"unknown input {name!r}; the model takes {known}")
        batch[spec.name] = to_array(values, spec.datatype, spec.name)
    return batch


def decode_request(body: Any, signature: Signature) -> Batch:
    """The batch described by a parsed JSON body."""
    if not isinstance(body, dict):
        raise InvalidRequest(f"the body must be a JSON object; {_SHAPE_HELP}")
    if "instances" in body:
        return _from_rows(body["instances"], signature)
    if "inputs" in body:
        return _from_columns(body["inputs"], signature)
    raise InvalidRequest(f"the body has neither 'instances' nor 'inputs'; {_SHAPE_HELP}")


def encode_response(prediction: Prediction) -> dict[str, Any]:
    """Single-output models give a list of values, others a list of objects by output name."""
    columns = {name: to_json_values(array) for name, array in prediction.outputs.items()}
    if len(columns) == 1:
        predictions: list[Any] = next(iter(columns.values()))
    else:
        names = list(columns)
        predictions = [
            dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)
        ]
    return {"model": prediction.model, "version": prediction.version, "predictions": predictions}
