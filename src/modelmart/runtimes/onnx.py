"""ONNX models on onnxruntime's CPU execution provider.

The signature comes from the session: tensor types map onto v2 datatypes and symbolic or
unknown dimensions become -1. Classifiers converted by skl2onnx with the default ZipMap return
probabilities as a list of ``{class: probability}`` maps; they are served as an FP32 matrix
``[-1, n_classes]`` with columns in the converter's class order, so converting with
``options={id(model): {"zipmap": False}}`` gives the same result, only faster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnxruntime as ort

from modelmart.arrays import Array, Batch, numpy_dtype
from modelmart.errors import UnsupportedFormat
from modelmart.runtimes.base import LoadRequest, Runtime
from modelmart.runtimes.parameters import positive_int_parameter
from modelmart.runtimes.signatures import reconcile
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, TensorSpec

_ONNX_TENSOR_TYPES: dict[str, Datatype] = {
    "tensor(bool)": Datatype.BOOL,
    "tensor(uint8)": Datatype.UINT8,
    "tensor(int8)": Datatype.INT8,
    "tensor(int16)": Datatype.INT16,
    "tensor(int32)": Datatype.INT32,
    "tensor(int64)": Datatype.INT64,
    "tensor(float16)": Datatype.FP16,
    "tensor(float)": Datatype.FP32,
    "tensor(double)": Datatype.FP64,
    "tensor(string)": Datatype.BYTES,
}
_ZIPMAP_PREFIX = "seq(map("


class OnnxRuntime(Runtime):
    """Serves one ``.onnx`` file. Parameters: ``threads`` (intra-op threads, default: all)."""

    name = RuntimeName.ONNX
    label = "ONNX"
    _session: ort.InferenceSession | None = None
    _inputs: tuple[TensorSpec, ...] = ()
    _zipmap_outputs: frozenset[str] = frozenset()

    def load(self, request: LoadRequest) -> None:
        if request.format is not ArtifactFormat.ONNX:
            raise UnsupportedFormat(
                f"the ONNX runtime loads .onnx files, not {request.format.value}; "
                "export the model to ONNX first"
            )
        session = ort.InferenceSession(
            str(request.path),
            sess_options=session_options(request.parameters),
            providers=["CPUExecutionProvider"],
        )
        inputs = tuple(_tensor_spec(arg, "input") for arg in session.get_inputs())
        outputs = tuple(_tensor_spec(arg, "output") for arg in session.get_outputs())
        self._signature = reconcile(request.signature, Signature(inputs=inputs, outputs=outputs))
        self._zipmap_outputs = frozenset(
            arg.name for arg in session.get_outputs() if arg.type.startswith(_ZIPMAP_PREFIX)
        )
        self._inputs = inputs
        self._session = session

    def predict(self, batch: Batch) -> Batch:
        session = self._require(self._session)
        # Inputs are cast to what the graph takes: a declared FP64 input may feed an FP32 graph.
        feed = {spec.name: _as_datatype(batch[spec.name], spec.datatype) for spec in self._inputs}
        names = [arg.name for arg in session.get_outputs()]
        values = session.run(names, feed)
        return {
            name: _zipmap_matrix(value) if name in self._zipmap_outputs else np.asarray(value)
            for name, value in zip(names, values, strict=True)
        }

    def unload(self) -> None:
        self._session = None
        super().unload()

    @property
    def metadata(self) -> dict[str, Any]:
        facts: dict[str, Any] = {**super().metadata, "onnxruntime_version": ort.__version__}
        if self._session is not None:
            model_meta = self._session.get_modelmeta()
            facts["producer"] = model_meta.producer_name
            facts["providers"] = self._session.get_providers()
        return facts


def session_options(parameters: Mapping[str, Any]) -> ort.SessionOptions:
    """ONNX Runtime options honouring the ``threads`` parameter (intra-op threads)."""
    options = ort.SessionOptions()
    threads = positive_int_parameter(parameters, "threads")
    if threads is not None:
        options.intra_op_num_threads = threads
    return options


def _tensor_spec(arg: Any, role: str) -> TensorSpec:
    """The v2 spec of one session input or output (an ``onnxruntime.NodeArg``)."""
    if role == "output" and arg.type.startswith(_ZIPMAP_PREFIX):
        return TensorSpec(name=arg.name, datatype=Datatype.FP32, shape=(-1, -1))
    datatype = _ONNX_TENSOR_TYPES.get(arg.type)
    if datatype is None:
        raise UnsupportedFormat(
            f"ONNX {role} '{arg.name}' has type {arg.type}; ModelMart serves tensors of "
            f"{', '.join(_ONNX_TENSOR_TYPES)}, so re-export the model with those types"
        )
    if not arg.shape:
        raise UnsupportedFormat(
            f"ONNX {role} '{arg.name}' is a scalar; every input and output needs a batch "
            "dimension first, so re-export the model with one"
        )
    return TensorSpec(name=arg.name, datatype=datatype, shape=_dims(arg.shape))


def _dims(shape: Sequence[Any]) -> tuple[int, ...]:
    # Symbolic names ("batch"), None and non-positive sizes all mean "any size".
    return tuple(dim if isinstance(dim, int) and dim > 0 else -1 for dim in shape)


def _as_datatype(array: Array, datatype: Datatype) -> Array:
    if datatype is Datatype.BYTES:
        return np.asarray(array, dtype=object)
    return np.asarray(array, dtype=numpy_dtype(datatype))


def _zipmap_matrix(rows: list[dict[Any, float]]) -> Array:
    """``[{class: probability}, ...]`` as an FP32 matrix with one column per class."""
    matrix = np.array([list(row.values()) for row in rows], dtype=np.float32)
    return matrix.reshape(len(rows), -1)
