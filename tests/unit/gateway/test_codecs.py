import struct

import numpy as np
import orjson
import pytest

from modelmart.errors import InvalidRequest, SchemaMismatch
from modelmart.gateway.codecs import v1, v2
from modelmart.serving.placement import Prediction
from modelmart.types import Datatype, Signature, TensorSpec

TABULAR = Signature(
    inputs=(TensorSpec(name="input", datatype=Datatype.FP32, shape=(-1, 2)),),
    outputs=(TensorSpec(name="label", datatype=Datatype.INT64, shape=(-1,)),),
)
TWO_INPUTS = Signature(
    inputs=(
        TensorSpec(name="text", datatype=Datatype.BYTES, shape=(-1,)),
        TensorSpec(name="weight", datatype=Datatype.FP64, shape=(-1,)),
    ),
    outputs=(TensorSpec(name="score", datatype=Datatype.FP32, shape=(-1,)),),
)


def test_v1_rows_and_columns_give_the_same_batch() -> None:
    rows = v1.decode_request({"instances": [[1, 2], [3, 4]]}, TABULAR)
    columns = v1.decode_request({"inputs": {"input": [[1, 2], [3, 4]]}}, TABULAR)
    bare = v1.decode_request({"inputs": [[1, 2], [3, 4]]}, TABULAR)
    for batch in (rows, columns, bare):
        assert batch["input"].dtype == np.float32
        assert batch["input"].tolist() == [[1, 2], [3, 4]]


def test_v1_multi_input_rows_are_objects() -> None:
    batch = v1.decode_request({"instances": [{"text": "hi", "weight": 0.5}]}, TWO_INPUTS)
    assert batch["text"].tolist() == ["hi"]
    assert batch["weight"].tolist() == [0.5]
    with pytest.raises(SchemaMismatch, match="keys"):
        v1.decode_request({"instances": [{"text": "hi"}]}, TWO_INPUTS)


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        ([1, 2], InvalidRequest, "JSON object"),
        ({"rows": []}, InvalidRequest, "neither 'instances' nor 'inputs'"),
        ({"instances": []}, InvalidRequest, "non-empty"),
        ({"instances": [[1, 2], [3]]}, SchemaMismatch, "rectangular"),
        ({"instances": [["a", "b"]]}, SchemaMismatch, "FP32"),
        ({"inputs": {"other": [1]}}, SchemaMismatch, "unknown input 'other'"),
    ],
)
def test_v1_bad_bodies_say_what_to_send(body: object, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        v1.decode_request(body, TABULAR)


def test_v1_strings_must_be_strings() -> None:
    with pytest.raises(SchemaMismatch, match="item 1 is int"):
        v1.decode_request({"inputs": {"text": ["a", 3], "weight": [1, 2]}}, TWO_INPUTS)


def test_v1_response_shapes() -> None:
    single = Prediction({"label": np.array([1, 0])}, "m", 3)
    assert v1.encode_response(single) == {"model": "m", "version": 3, "predictions": [1, 0]}
    multi = Prediction({"a": np.array([1, 2]), "b": np.array(["x", "y"], dtype=object)}, "m", 1)
    assert v1.encode_response(multi)["predictions"] == [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]


def _bytes_tensor(*values: str) -> bytes:
    return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)


def test_v2_binary_inputs_decode_like_json_ones() -> None:
    floats = np.array([[1.5, 2.5]], dtype=np.float32)
    header = orjson.dumps(
        {
            "inputs": [
                {"name": "x", "shape": [1, 2], "datatype": "FP32",
                 "parameters": {"binary_data_size": floats.nbytes}},
                {"name": "t", "shape": [2], "datatype": "BYTES",
                 "parameters": {"binary_data_size": len(_bytes_tensor("héllo", "yo"))}},
            ],
            "outputs": [{"name": "y", "parameters": {"binary_data": True}}],
        }
    )  # fmt: skip
    raw = header + floats.tobytes() + _bytes_tensor("héllo", "yo")
    request = v2.decode_request(raw, len(header))
    assert request.inputs["x"].tolist() == [[1.5, 2.5]]
    assert request.inputs["t"].tolist() == ["héllo", "yo"]
    assert request.outputs == {"y": True}


def test_v2_json_request_and_binary_response_round_trip() -> None:
    body = {"id": "7", "inputs": [{"name": "x", "shape": [2], "datatype": "INT64", "data": [1, 2]}],
            "parameters": {"binary_data_output": True}}  # fmt: skip
    request = v2.decode_request(orjson.dumps(body), None)
    outputs = {"y": np.array([0.5, 1.5], dtype=np.float32), "s": np.array(["a"], dtype=object)}
    raw, json_length = v2.encode_response(request, "m", 2, outputs)
    assert json_length is not None
    header = orjson.loads(raw[:json_length])
    assert header["id"] == "7"
    assert header["model_version"] == "2"
    sizes = [t["parameters"]["binary_data_size"] for t in header["outputs"]]
    blob = raw[json_length:]
    assert np.frombuffer(blob[: sizes[0]], dtype=np.float32).tolist() == [0.5, 1.5]
    assert blob[sizes[0] :] == _bytes_tensor("a")


def test_v2_json_response_when_no_binary_is_asked() -> None:
    request = v2.decode_request(
        orjson.dumps({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}]}),
        None,
    )
    raw, json_length = v2.encode_response(request, "m", 1, {"y": np.array([[1, 2]])})
    assert json_length is None
    assert orjson.loads(raw)["outputs"] == [
        {"name": "y", "datatype": "INT64", "shape": [1, 2], "data": [1, 2]}
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "not valid JSON"),
        (b'{"inputs": 3}', "needs"),
        (b'{"inputs": [{"name": "x", "shape": [2], "datatype": "FP99", "data": [1, 2]}]}', "FP99"),
        (
            b'{"inputs": [{"name": "x", "shape": [3], "datatype": "FP32", "data": [1, 2]}]}',
            "holds 3",
        ),
        (b'{"inputs": [{"name": "x", "shape": [-2], "datatype": "FP32", "data": [1]}]}', "shape"),
        (b'{"inputs": [{"name": "x", "shape": [1], "datatype": "FP32"}]}', "neither data"),
    ],
)
def test_v2_bad_requests(body: bytes, message: str) -> None:
    with pytest.raises((InvalidRequest, SchemaMismatch), match=message):
        v2.decode_request(body, None)


def test_v2_truncated_binary_and_bad_header_length() -> None:
    header = orjson.dumps({"inputs": [{"name": "x", "shape": [2], "datatype": "FP32",
                                       "parameters": {"binary_data_size": 8}}]})  # fmt: skip
    with pytest.raises(InvalidRequest, match="truncated"):
        v2.decode_request(header + b"\x00" * 4, len(header))
    with pytest.raises(InvalidRequest, match="body has"):
        v2.decode_request(header, len(header) + 10)


def test_v2_unknown_requested_output() -> None:
    body = {"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}],
            "outputs": [{"name": "nope"}]}  # fmt: skip
    request = v2.decode_request(orjson.dumps(body), None)
    with pytest.raises(InvalidRequest, match="unknown output 'nope'"):
        v2.encode_response(request, "m", 1, {"y": np.array([1.0])})
