"""``embedding-head``: logistic regression on the catalogue's MiniLM sentence embeddings.

Embeddings come from the int8 ONNX MiniLM and its tokenizer, read from the installed catalogue
packages (nothing is downloaded). The served graph is MiniLM with the pooling (mean under the
mask, unit length) and the fitted linear head appended, saved with MiniLM's tokenizer as an
``onnx_text`` classifier directory, so it takes raw text.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from modelmart.arrays import Array
from modelmart.catalog.entries import MINILM_INT8_MODULE, MINILM_MODULE
from modelmart.errors import ValidationFailed
from modelmart.runtimes.base import LoadRequest
from modelmart.runtimes.onnx_text import OnnxTextRuntime
from modelmart.training.context import FitContext, FitResult, class_indices
from modelmart.training.onnx_graphs import add_classifier_outputs
from modelmart.training.splits import split_rows
from modelmart.training.tabular import logistic_regression
from modelmart.training.text import texts_of
from modelmart.types import ArtifactFormat

MAX_LENGTH = 256
_BATCH = 64


def minilm_files() -> tuple[Path, Path]:
    """``model.onnx`` (int8) and ``tokenizer.json`` inside the installed packages."""
    found = []
    for module, relative in (
        (MINILM_INT8_MODULE, "model.onnx"),
        (MINILM_MODULE, "model/tokenizer.json"),
    ):
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise ValidationFailed(
                f"family 'embedding-head' needs the catalogue package {module}; install "
                "ModelMart with its dependencies"
            )
        found.append(Path(spec.origin).parent / relative)
    return found[0], found[1]


def embed(texts: list[str], workdir: Path, context: FitContext) -> Array:
    """Unit-length MiniLM sentence embeddings of ``texts``, in batches."""
    model_path, tokenizer_path = minilm_files()
    encoder_dir = workdir / "minilm"
    encoder_dir.mkdir(parents=True, exist_ok=True)
    for source in (model_path, tokenizer_path):
        target = encoder_dir / source.name
        if not target.exists():
            target.symlink_to(source)
    runtime = OnnxTextRuntime()
    runtime.load(
        LoadRequest(encoder_dir, ArtifactFormat.ONNX_TEXT, parameters={"max_length": MAX_LENGTH})
    )
    try:
        chunks = []
        for start in range(0, len(texts), _BATCH):
            context.check_cancelled()
            batch = np.array(texts[start : start + _BATCH], dtype=object)
            chunks.append(runtime.predict({"text": batch})["embedding"])
    finally:
        runtime.unload()
    return np.concatenate(chunks)


def fit_embedding_head(context: FitContext) -> FitResult:
    texts = texts_of(context)
    y, labels = class_indices(context.data.frame[context.target])
    split = split_rows(len(y), context.spec.split, context.spec.seed, y)
    embeddings = embed(texts, context.workdir, context)
    train_rows = np.concatenate([split.train, split.validation])
    classifier = logistic_regression({**context.hyper, "penalty": "l2"}, context.spec.seed)
    classifier.fit(embeddings[train_rows], y[train_rows])
    coef, intercept = classifier.coef_, classifier.intercept_
    if coef.shape[0] == 1:  # binary: one row for the positive class; logits [0, z]
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    directory = _save(context.workdir, coef, intercept, labels)
    return FitResult(
        artifact=directory,
        format=ArtifactFormat.ONNX_TEXT,
        parameters={"labels": labels, "max_length": MAX_LENGTH},
        test_batch={"text": np.array([texts[i] for i in split.test], dtype=object)},
        y_test=y[split.test],
        split=split,
        labels=labels,
        details={"encoder": "minilm-int8"},
        reference=classifier.predict_proba(embeddings[split.test]),
    )


def _save(workdir: Path, coef: Array, intercept: Array, labels: list[str]) -> Path:
    model_path, tokenizer_path = minilm_files()
    model = onnx.load(str(model_path))
    hidden = model.graph.output[0].name
    _append_head(model, hidden, coef, intercept)
    add_classifier_outputs(model, "logits", labels)
    directory = workdir / "text-classifier"
    directory.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(directory / "model.onnx"))
    shutil.copyfile(tokenizer_path, directory / "tokenizer.json")
    return directory


def _append_head(model: onnx.ModelProto, hidden: str, coef: Array, intercept: Array) -> None:
    """Mean-pool ``hidden`` under the mask, scale to unit length, apply the linear head."""
    graph = model.graph
    constants: dict[str, Array] = {
        "head_axis1": np.array([1], dtype=np.int64),
        "head_eps": np.array(1e-9, dtype=np.float32),
        "head_weight": coef.T.astype(np.float32),
        "head_bias": intercept.astype(np.float32),
    }
    graph.initializer.extend(numpy_helper.from_array(v, name=k) for k, v in constants.items())
    graph.node.extend(
        [
            helper.make_node("Cast", ["attention_mask"], ["head_mask"], to=onnx.TensorProto.FLOAT),
            helper.make_node("Unsqueeze", ["head_mask", "head_axis2"], ["head_mask3"]),
            helper.make_node("Mul", [hidden, "head_mask3"], ["head_masked"]),
            helper.make_node("ReduceSum", ["head_masked", "head_axis1"], ["head_sum"], keepdims=0),
            helper.make_node("ReduceSum", ["head_mask3", "head_axis1"], ["head_count"], keepdims=0),
            helper.make_node("Max", ["head_count", "head_eps"], ["head_count_safe"]),
            helper.make_node("Div", ["head_sum", "head_count_safe"], ["head_mean"]),
            helper.make_node("ReduceL2", ["head_mean"], ["head_norm"], axes=[1], keepdims=1),
            helper.make_node("Max", ["head_norm", "head_eps"], ["head_norm_safe"]),
            helper.make_node("Div", ["head_mean", "head_norm_safe"], ["head_unit"]),
            helper.make_node("MatMul", ["head_unit", "head_weight"], ["head_linear"]),
            helper.make_node("Add", ["head_linear", "head_bias"], ["logits"]),
        ]
    )
    graph.initializer.append(numpy_helper.from_array(np.array([2], dtype=np.int64), "head_axis2"))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, None))
