"""Open Inference Protocol (KServe v2) tensors, including the binary tensor extension that
Triton's clients use by default: a JSON header of ``Inference-Header-Content-Length`` bytes,
followed by raw tensor bytes in the order the JSON names them."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from modelmart.arrays import Array, Batch, datatype_of, numpy_dtype
from modelmart.errors import InvalidRequest, SchemaMismatch
from modelmart.gateway.codecs.arrays import to_array, to_json_values
from modelmart.types import Datatype

HEADER_LENGTH = "inference-header-content-length"
_LENGTH = struct.Struct("<I")


@dataclass(frozen=True)
class V2Request:
    id: str | None
    inputs: Batch
    outputs: dict[str, bool] | None  # requested output -> binary; None means all
    binary_outputs: bool  # the request-level default


def _split_body(raw: bytes, header_length: int | None) -> tuple[dict[str, Any], memoryview]:
    json_part = raw if header_length is None else raw[:header_length]
    if header_length is not None and not 0 <= header_length <= len(raw):
        raise InvalidRequest(
            f"{HEADER_LENGTH} is {header_length} but the body has {len(raw)} bytes"
        )
    try:
        body = orjson.loads(json_part)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the inference request is not valid JSON: {exc}") from exc
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise InvalidRequest(
            'a v2 inference request needs {"inputs": [{"name", "shape", "datatype", "data"}]}'
        )
    offset = len(raw) if header_length is None else header_length
    return body, memoryview(raw)[offset:]


def _decode_bytes_elements(blob: memoryview, count: int, name: str) -> Array:
    values: list[str] = []
    offset = 0
    for _ in range(count):
        if offset + 4 > len(blob):
            raise InvalidRequest(f"binary data of BYTES input {name!r} is truncated")
        (length,) = _LENGTH.unpack_from(blob, offset)
        values.append(bytes(blob[offset + 4 : offset + 4 + length]).decode("utf-8", "replace"))
        offset += 4 + length
    return np.array(values, dtype=object)


def _tensor_meta(tensor: Any) -> tuple[str, list[int], Datatype]:
    if not isinstance(tensor, dict) or "name" not in tensor:
        raise InvalidRequest("each input needs a name, a shape, a datatype and data")
    name = str(tensor["name"])
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise InvalidRequest(f"input {name!r} needs a shape: a list of non-negative sizes")
    try:
        datatype = Datatype(str(tensor.get("datatype")))
    except ValueError as exc:
        known = [d.value for d in Datatype]
        raise InvalidRequest(
            f"input {name!r} has datatype {tensor.get('datatype')!r}; use one of {known}"
        ) from exc
    return name, shape, datatype


def _decode_input(tensor: Any, blob: memoryview, offset: int) -> tuple[str, Array, int]:
    name, shape, datatype = _tensor_meta(tensor)
    count = math.prod(shape)
    binary_size = (tensor.get("parameters") or {}).get("binary_data_size")
    if binary_size is not None:
        chunk = blob[offset : offset + int(binary_size)]
        if len(chunk) != binary_size:
            raise InvalidRequest(f"binary data of input {name!r} is truncated")
        offset += int(binary_size)
        if datatype is Datatype.BYTES:
            array = _decode_bytes_elements(chunk, count, name)
        else:
            array = np.frombuffer(chunk, dtype=numpy_dtype(datatype))
    else:
        if "data" not in tensor:
            raise InvalidRequest(f"input {name!r} has neither data nor binary_data_size")
        array = to_array(tensor["data"], datatype, name)
    if array.size != count:
        raise SchemaMismatch(
            f"input {name!r} has {array.size} values but its shape {shape} holds {count}"
        )
    return name, array.reshape(shape), offset


def decode_request(raw: bytes, header_length: int | None) -> V2Request:
    body, blob = _split_body(raw, header_length)
    inputs: Batch = {}
    offset = 0
    for tensor in body["inputs"]:
        name, array, offset = _decode_input(tensor, blob, offset)
        inputs[name] = array
    parameters = body.get("parameters") or {}
    requested = body.get("outputs")
    outputs = None
    if isinstance(requested, list):
        outputs = {
            str(o["name"]): bool((o.get("parameters") or {}).get("binary_data", False))
            for o in requested
            if isinstance(o, dict) and "name" in o
        }
    request_id = body.get("id")
    return V2Request(
        id=str(request_id) if request_id is not None else None,
        inputs=inputs,
        outputs=outputs,
        binary_outputs=bool(parameters.get("binary_data_output", False)),
    )


def _binary(array: Array, datatype: Datatype) -> bytes:
    if datatype is not Datatype.BYTES:
        return np.ascontiguousarray(array).tobytes()
    parts: list[bytes] = []
    for value in array.reshape(-1):
        data = value if isinstance(value, bytes) else str(value).encode()
        parts.append(_LENGTH.pack(len(data)) + data)
    return b"".join(parts)


def encode_response(
    request: V2Request,
    model: str,
    version: int,
    outputs: Batch,
    usage: dict[str, Any] | None = None,
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header length when binary tensors follow it.
    ``usage`` (ModelMart's: items and energy) is an extra top-level field of the JSON."""
    names = list(outputs) if request.outputs is None else list(request.outputs)
    tensors: list[dict[str, Any]] = []
    blobs: list[bytes] = []
    for name in names:
        if name not in outputs:
            raise InvalidRequest(f"unknown output {name!r}; the model returns {list(outputs)}")
        array = outputs[name]
        datatype = datatype_of(array.dtype)
        tensor: dict[str, Any] = {
            "name": name,
            "datatype": datatype.value,
            "shape": list(array.shape),
        }
        wants_binary = request.binary_outputs if request.outputs is None else request.outputs[name]
        if wants_binary:
            blob = _binary(array, datatype)
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            tensor["data"] = to_json_values(array.reshape(-1))
        tensors.append(tensor)
    body: dict[str, Any] = {"model_name": model, "model_version": str(version), "outputs": tensors}
    if request.id is not None:
        body["id"] = request.id
    if usage is not None:
        body["usage"] = usage
    header = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return header, None
    return header + b"".join(blobs), len(header)
