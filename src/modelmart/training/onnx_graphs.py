"""Build served ONNX graphs: export a torch module, add class names, prepend preprocessing.

Served classifiers return ``label`` (BYTES, the class name) and ``probabilities``
(FP32 [-1, n_classes], columns in ``parameters["labels"]`` order), the same outputs the
scikit-learn families produce through skl2onnx, so every classifier answers alike.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence

import onnx
import torch
from onnx import TensorProto, helper

from modelmart.training.tabular import rename_input

OPSET = 17
ML_OPSET = 3


def export_module(
    module: torch.nn.Module,
    examples: tuple[torch.Tensor, ...],
    input_names: Sequence[str],
    output_name: str,
    dynamic: dict[str, dict[int, str]],
) -> onnx.ModelProto:
    """``module`` as ONNX through the TorchScript-based exporter (no onnxscript needed)."""
    module.eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter warns about its own deprecation
        torch.onnx.export(
            module,
            examples,
            buffer,  # type: ignore[arg-type]  # file objects are accepted at run time
            input_names=list(input_names),
            output_names=[output_name],
            dynamic_axes={**dynamic, output_name: {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    return onnx.load_from_string(buffer.getvalue())


def add_classifier_outputs(model: onnx.ModelProto, logits: str, labels: Sequence[str]) -> None:
    """Replace the ``logits`` output by ``label`` and ``probabilities`` (in place)."""
    graph = model.graph
    graph.node.extend(
        [
            helper.make_node("Softmax", [logits], ["probabilities"], axis=1),
            helper.make_node("ArgMax", ["probabilities"], ["label_index"], axis=1, keepdims=0),
            helper.make_node(
                "LabelEncoder",
                ["label_index"],
                ["label"],
                domain="ai.onnx.ml",
                keys_int64s=list(range(len(labels))),
                values_strings=list(labels),
                default_string="",
            ),
        ]
    )
    kept = [o for o in graph.output if o.name != logits]
    del graph.output[:]
    graph.output.extend(
        [
            helper.make_tensor_value_info("label", TensorProto.STRING, ["batch"]),
            helper.make_tensor_value_info(
                "probabilities", TensorProto.FLOAT, ["batch", len(labels)]
            ),
            *kept,
        ]
    )
    _require_ml_opset(model)


def prepend(
    first: onnx.ModelProto, second: onnx.ModelProto, link: tuple[str, str]
) -> onnx.ModelProto:
    """One graph: ``first``'s output ``link[0]`` feeds ``second``'s input ``link[1]``."""
    for model in (first, second):
        _require_ml_opset(model)
        model.ir_version = min(first.ir_version, second.ir_version)
    first_prefixed = onnx.compose.add_prefix(first, "prepare_")
    merged: onnx.ModelProto = onnx.compose.merge_models(
        first_prefixed,
        second,
        io_map=[("prepare_" + link[0], link[1])],
        outputs=[o.name for o in second.graph.output],
    )
    for original, renamed in zip(first.graph.input, merged.graph.input, strict=False):
        rename_input(merged, renamed.name, original.name)
    return merged


def _require_ml_opset(model: onnx.ModelProto) -> None:
    """One import per domain, at the versions every graph here is built for."""
    wanted = {"": OPSET, "ai.onnx.ml": ML_OPSET}
    for entry in model.opset_import:
        wanted[entry.domain] = max(wanted.get(entry.domain, 0), entry.version)
    del model.opset_import[:]
    model.opset_import.extend(
        helper.make_opsetid(domain, version) for domain, version in wanted.items()
    )
