"""PyTorch models saved as TorchScript (``torch.jit.save``) or torch.export (``.pt2``).

Inputs are passed to ``forward`` as positional tensors; what it returns is named like this:
a single tensor is the first output, a tuple or list fills the outputs in order, a dict is
matched by key.

TorchScript does not record tensor types, so it needs a declared signature; loading runs the
model once on a batch of zeros to check the declared outputs. torch.export records names,
datatypes and shapes, so its signature is derived (symbolic dimensions become -1). Its outputs
are named by key when ``forward`` returns a dict; positional outputs have no names, so they
take the declared output names in order, or ``output`` / ``output_0``, ``output_1``, ...

Parameters: ``threads`` sets ``torch.set_num_threads``, which applies to the whole process.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.export.graph_signature import InputKind, OutputKind, TensorArgument
from torch.export.pt2_archive.constants import (
    TENSOR_CONSTANT_FILENAME_PREFIX,
    WEIGHT_FILENAME_PREFIX,
)

from modelmart.arrays import Array, Batch, numpy_dtype
from modelmart.errors import (
    BadModelOutput,
    ModelMartError,
    SchemaMismatch,
    UnsafeFormat,
    UnsupportedFormat,
)
from modelmart.runtimes.base import LoadRequest, Runtime
from modelmart.runtimes.parameters import positive_int_parameter
from modelmart.runtimes.signatures import reconcile
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, TensorSpec

_TORCH_DTYPES: dict[Datatype, torch.dtype] = {
    Datatype.BOOL: torch.bool,
    Datatype.UINT8: torch.uint8,
    Datatype.INT8: torch.int8,
    Datatype.INT16: torch.int16,
    Datatype.INT32: torch.int32,
    Datatype.INT64: torch.int64,
    Datatype.FP16: torch.float16,
    Datatype.FP32: torch.float32,
    Datatype.FP64: torch.float64,
}
_DATATYPES: dict[torch.dtype, Datatype] = {dtype: name for name, dtype in _TORCH_DTYPES.items()}

Forward = Callable[..., Any]


def apply_thread_count(parameters: Mapping[str, Any]) -> None:
    """Honour the ``threads`` parameter; torch's thread pool is per process, not per model."""
    threads = positive_int_parameter(parameters, "threads")
    if threads is not None:
        torch.set_num_threads(threads)


class TorchRuntime(Runtime):
    """Serves one TorchScript or torch.export model on the CPU."""

    name = RuntimeName.TORCH
    _forward: Forward | None = None
    _arguments: tuple[TensorSpec, ...] = ()

    def load(self, request: LoadRequest) -> None:
        apply_thread_count(request.parameters)
        if request.format is ArtifactFormat.TORCHSCRIPT:
            forward, arguments, signature = _load_torchscript(request)
        elif request.format is ArtifactFormat.TORCH_EXPORT:
            forward, arguments, signature = _load_exported(request)
        else:
            raise UnsupportedFormat(
                f"the torch runtime loads TorchScript or torch.export files, not "
                f"{request.format.value}; save with torch.jit.save or torch.export.save"
            )
        self._forward, self._arguments, self._signature = forward, arguments, signature

    def predict(self, batch: Batch) -> Batch:
        forward = self._require(self._forward)
        arrays = [batch[spec.name] for spec in self._arguments]
        result = _call(forward, arrays, self._arguments)
        names = [spec.name for spec in self.signature.outputs]
        named = _named(result, names, BadModelOutput)
        return {name: tensor.numpy() for name, tensor in named.items()}

    def unload(self) -> None:
        self._forward = None
        super().unload()

    @property
    def metadata(self) -> dict[str, Any]:
        return {**super().metadata, "torch_version": torch.__version__, "device": "cpu"}


def _call(forward: Forward, arrays: Sequence[Array], specs: Sequence[TensorSpec]) -> Any:
    # A copy, cast to what the model takes: torch refuses read-only NumPy buffers.
    tensors = [
        torch.from_numpy(np.array(array, dtype=numpy_dtype(spec.datatype), copy=True))
        for array, spec in zip(arrays, specs, strict=True)
    ]
    with torch.inference_mode():
        return forward(*tensors)


def _named(result: Any, names: Sequence[str], error: type[ModelMartError]) -> dict[str, Any]:
    """The model's return value as ``{output name: tensor}``, following the module contract."""
    if isinstance(result, torch.Tensor):
        values = {names[0]: result}
    elif isinstance(result, tuple | list):
        if len(result) != len(names):
            raise error(
                f"the model returned {len(result)} values but the signature names "
                f"{len(names)} outputs ({', '.join(names)}); declare one output per value"
            )
        values = dict(zip(names, result, strict=True))
    elif isinstance(result, dict):
        missing = [name for name in names if name not in result]
        if missing:
            raise error(
                f"the model returned keys {sorted(result)} but the signature expects "
                f"{', '.join(missing)}; declare outputs named like the returned keys"
            )
        values = {name: result[name] for name in names}
    else:
        raise error(f"the model returned {type(result).__name__}; expected tensors")
    if not all(isinstance(value, torch.Tensor) for value in values.values()):
        raise error("the model returned something other than tensors; return only tensors")
    return values


def _load_torchscript(request: LoadRequest) -> tuple[Forward, tuple[TensorSpec, ...], Signature]:
    declared = request.signature
    if declared is None:
        raise SchemaMismatch(
            "a TorchScript file does not describe its inputs and outputs; declare a signature, "
            'e.g. inputs [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}] and outputs '
            '[{"name": "output", "datatype": "FP32", "shape": [-1, 2]}]'
        )
    _refuse_strings(declared)
    module = torch.jit.load(str(request.path), map_location="cpu")  # type: ignore[no-untyped-call]
    module.eval()
    _check_argument_count(module, declared)
    outputs = _probe_outputs(module, declared)
    derived = Signature(inputs=declared.inputs, outputs=outputs)
    return module, declared.inputs, reconcile(declared, derived)


def _probe_outputs(module: Forward, declared: Signature) -> tuple[TensorSpec, ...]:
    """The datatype and rank of each output, from one run on a batch of zeros."""
    probe = [np.zeros([max(dim, 1) for dim in spec.shape]) for spec in declared.inputs]
    try:
        result = _call(module, probe, declared.inputs)
    except Exception as exc:  # the model's own error says best which declared input is wrong
        raise SchemaMismatch(
            f"the model failed on a batch of zeros shaped like the declared inputs ({exc}); "
            "check the declared input order, datatypes and shapes"
        ) from exc
    names = [spec.name for spec in declared.outputs]
    returned = _named(result, names, SchemaMismatch)
    outputs = tuple(_spec_of(name, tensor, "output") for name, tensor in returned.items())
    # Only the probe's datatypes and ranks are facts about the model; its sizes came from us.
    return tuple(spec.model_copy(update={"shape": (-1,) * len(spec.shape)}) for spec in outputs)


def _check_argument_count(module: Any, declared: Signature) -> None:
    arguments = module.forward.schema.arguments[1:]  # the first is self
    required = [arg.name for arg in arguments if arg.default_value is None]
    if not len(required) <= len(declared.inputs) <= len(arguments):
        raise SchemaMismatch(
            f"the TorchScript forward takes {len(required)} tensors "
            f"({', '.join(arg.name for arg in arguments)}) but the signature declares "
            f"{len(declared.inputs)} inputs; declare one input per argument, in order"
        )


def _refuse_strings(signature: Signature) -> None:
    specs = (*signature.inputs, *signature.outputs)
    strings = [spec.name for spec in specs if spec.datatype is Datatype.BYTES]
    if strings:
        raise SchemaMismatch(
            f"{', '.join(strings)} declared as BYTES, but torch models take and return "
            "numeric tensors only; declare a numeric datatype"
        )


def _load_exported(request: LoadRequest) -> tuple[Forward, tuple[TensorSpec, ...], Signature]:
    _refuse_pickled_objects(request.path)
    program = torch.export.load(str(request.path))
    nodes = {node.name: node for node in program.graph.nodes}
    inputs = tuple(
        _spec_of(spec.arg.name, _meta(nodes, spec.arg, "input"), "input")
        for spec in program.graph_signature.input_specs
        if spec.kind is InputKind.USER_INPUT
    )
    tensors = [
        _meta(nodes, spec.arg, "output")
        for spec in program.graph_signature.output_specs
        if spec.kind is OutputKind.USER_OUTPUT
    ]
    names = _output_names(program.call_spec.out_spec, len(tensors), request.signature)
    outputs = tuple(
        _spec_of(name, tensor, "output") for name, tensor in zip(names, tensors, strict=True)
    )
    derived = Signature(inputs=inputs, outputs=outputs)
    return program.module(), inputs, reconcile(request.signature, derived)


def _refuse_pickled_objects(path: Path) -> None:
    """Refuse a .pt2 archive that would make ``torch.export.load`` unpickle freely.

    It does so for weights and constants marked ``use_pickle``, for non-tensor constants, and,
    as a fallback, for any ``.pt`` member (sample inputs) that a weights-only load rejects.
    """
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if member.endswith(".pt"):
                _require_weights_only(archive.read(member), member)
            elif member.endswith(("_weights_config.json", "_constants_config.json")):
                _require_plain_tensors(json.loads(archive.read(member)), member)


def _require_weights_only(payload: bytes, member: str) -> None:
    try:
        torch.load(io.BytesIO(payload), weights_only=True)
    except Exception as exc:  # any refusal of the restricted unpickler means "not just tensors"
        raise _pickled_object_error(member) from exc


def _require_plain_tensors(config: dict[str, Any], member: str) -> None:
    prefixes = (WEIGHT_FILENAME_PREFIX, TENSOR_CONSTANT_FILENAME_PREFIX)
    for entry in config.get("config", {}).values():
        if entry.get("use_pickle") or not str(entry.get("path_name", "")).startswith(prefixes):
            raise _pickled_object_error(member)


def _pickled_object_error(member: str) -> UnsafeFormat:
    return UnsafeFormat(
        f"the torch.export archive stores pickled Python objects ({member}); unpickling can "
        "run arbitrary code, so export a model whose weights, constants and example inputs "
        "are plain tensors"
    )


def _meta(nodes: Mapping[str, Any], argument: Any, role: str) -> torch.Tensor:
    """The fake tensor torch.export recorded for one graph input or output."""
    value = nodes[argument.name].meta.get("val") if isinstance(argument, TensorArgument) else None
    if not isinstance(value, torch.Tensor):
        raise UnsupportedFormat(
            f"the exported program has a non-tensor {role} ({argument}); ModelMart passes and "
            "returns tensors only, so export a forward that takes and returns tensors"
        )
    return value


def _output_names(out_spec: Any, count: int, declared: Signature | None) -> list[str]:
    if out_spec.type is dict:
        return [str(key) for key in out_spec.context]
    if declared is not None and len(declared.outputs) == count:
        return [spec.name for spec in declared.outputs]
    return ["output"] if out_spec.is_leaf() else [f"output_{index}" for index in range(count)]


def _spec_of(name: str, tensor: torch.Tensor, role: str) -> TensorSpec:
    datatype = _DATATYPES.get(tensor.dtype)
    if datatype is None:
        raise UnsupportedFormat(
            f"{role} '{name}' is a {tensor.dtype} tensor; ModelMart serves "
            f"{', '.join(str(dtype) for dtype in _DATATYPES)}, so convert it in forward"
        )
    if tensor.dim() == 0:
        raise UnsupportedFormat(
            f"{role} '{name}' is a scalar; every input and output needs a batch dimension first"
        )
    shape = tuple(dim if isinstance(dim, int) and dim > 0 else -1 for dim in tensor.shape)
    return TensorSpec(name=name, datatype=datatype, shape=shape)
