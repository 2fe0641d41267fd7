"""Tabular data: feature selection, preprocessing inside the exported model, and the
scikit-learn families (``linear``, ``logistic``) exported to ONNX with skl2onnx.

Numeric columns are imputed (median) and scaled; other columns are one-hot encoded (a missing
value is the category "missing"; unknown categories are ignored). A dataset with only numeric
features is served with one input ``input`` FP32 [-1, n_features]; one with categorical
features takes one input per column ([-1] each), so a request row is an object keyed by column
name.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modelmart.arrays import Array, Batch
from modelmart.errors import ValidationFailed
from modelmart.explain.background import EXPLANATION_KEY, background_summary
from modelmart.explain.linear_shap import fold_linear_pipeline
from modelmart.training.context import FitContext, FitResult, class_indices
from modelmart.training.splits import fold_indices, split_rows
from modelmart.types import ArtifactFormat

OPSETS = {"": 17, "ai.onnx.ml": 3}
MODEL_FILE = "model.onnx"


@dataclass(frozen=True)
class Columns:
    """The features, split by how they are preprocessed."""

    numeric: list[str]
    categorical: list[str]

    @property
    def all(self) -> list[str]:
        return [*self.numeric, *self.categorical]

    @property
    def single_input(self) -> bool:
        return not self.categorical


def feature_columns(frame: pd.DataFrame, target: str, chosen: list[str] | None) -> Columns:
    names = chosen or [c for c in frame.columns if c != target]
    if not names:
        raise ValidationFailed("the dataset has no feature columns besides the target")
    numeric = [c for c in names if pd.api.types.is_numeric_dtype(frame[c])]
    return Columns(numeric=numeric, categorical=[c for c in names if c not in numeric])


def preprocessor(columns: Columns) -> Any:
    """Imputation, scaling and one-hot encoding, fitted with the model and exported with it."""
    numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())])
    if columns.single_input:
        return numeric
    # Missing categories become the category "missing" before the model (see model_inputs):
    # skl2onnx converts string imputers only for string markers, not NaN.
    categorical = OneHotEncoder(handle_unknown="ignore")
    return ColumnTransformer(
        [("numeric", numeric, columns.numeric), ("categorical", categorical, columns.categorical)]
    )


def model_inputs(frame: pd.DataFrame, columns: Columns) -> Any:
    """What the sklearn pipeline is fitted on: a float matrix, or a frame of typed columns."""
    if columns.single_input:
        return frame[columns.numeric].to_numpy(dtype=np.float32)
    typed = frame[columns.all].copy()
    for name in columns.numeric:
        typed[name] = typed[name].astype(np.float32)
    for name in columns.categorical:
        typed[name] = typed[name].astype(object).where(typed[name].notna(), "missing").astype(str)
    return typed


def serving_batch(frame: pd.DataFrame, columns: Columns) -> Batch:
    """The rows as the exported model's inputs."""
    inputs = model_inputs(frame, columns)
    if columns.single_input:
        return {"input": inputs}
    return {
        name: np.array(inputs[name], dtype=np.float32 if name in columns.numeric else object)
        for name in columns.all
    }


def initial_types(columns: Columns) -> list[tuple[str, Any]]:
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    if columns.single_input:
        return [("input", FloatTensorType([None, len(columns.numeric)]))]
    return [
        (
            name,
            FloatTensorType([None, 1]) if name in columns.numeric else StringTensorType([None, 1]),
        )
        for name in columns.all
    ]


def to_onnx(model: Any, columns: Columns, options: dict[Any, Any] | None = None) -> Any:
    """The fitted pipeline as an ONNX model proto."""
    import skl2onnx

    types = initial_types(columns)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        converted = skl2onnx.to_onnx(
            model, initial_types=types, options=options, target_opset=OPSETS
        )
    # skl2onnx replaces characters such as spaces in input names; serve the column names.
    for graph_input, (name, _) in zip(list(converted.graph.input), types, strict=True):
        rename_input(converted, graph_input.name, name)
    if not columns.single_input:
        _flatten_column_inputs(converted)
    return converted


def _flatten_column_inputs(model: Any) -> None:
    """Per-column inputs as [batch] instead of skl2onnx's [batch, 1], so a request row is
    ``{"age": 41, "colour": "red"}`` rather than ``{"age": [41], "colour": ["red"]}``."""
    from onnx import helper, numpy_helper

    graph = model.graph
    model_nodes = list(graph.node)
    unsqueezes = []
    for graph_input in graph.input:
        name = graph_input.name
        for node in model_nodes:
            node.input[:] = [f"{name}__column" if i == name else i for i in node.input]
        unsqueezes.append(helper.make_node("Unsqueeze", [name, "column_axis"], [f"{name}__column"]))
        del graph_input.type.tensor_type.shape.dim[1:]
    graph.initializer.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "column_axis"))
    del graph.node[:]
    graph.node.extend([*unsqueezes, *model_nodes])


def fit_linear(context: FitContext) -> FitResult:
    """``linear``: ordinary least squares, ridge, lasso or elastic net on the preprocessed rows."""
    frame, target = context.data.frame, context.target
    columns = feature_columns(frame, target, context.spec.features)
    y = numeric_target(frame, target)
    split = split_rows(len(frame), context.spec.split, context.spec.seed)
    model = Pipeline([("prepare", preprocessor(columns)), ("model", _regressor(context.hyper))])
    train_rows = np.concatenate([split.train, split.validation])
    inputs = model_inputs(frame.iloc[train_rows], columns)
    model.fit(inputs, y[train_rows])
    context.check_cancelled()
    folds = k_fold(context, model, inputs, y[train_rows])
    onnx_model = to_onnx(model, columns)
    rename_output(onnx_model, onnx_model.graph.output[0].name, "prediction")
    return FitResult(
        artifact=_save(onnx_model, context.workdir),
        format=ArtifactFormat.ONNX,
        parameters={
            "features": columns.all,
            "target": target,
            EXPLANATION_KEY: explanation_background(
                context, model.named_steps["prepare"], inputs, (model[-1], [target])
            ),
        },
        test_batch=serving_batch(frame.iloc[split.test], columns),
        y_test=y[split.test],
        split=split,
        details=folds,
        reference=model.predict(model_inputs(frame.iloc[split.test], columns)).reshape(-1, 1),
    )


def fit_logistic(context: FitContext) -> FitResult:
    """``logistic``: regularised logistic regression with optional balanced class weights."""
    frame, target = context.data.frame, context.target
    columns = feature_columns(frame, target, context.spec.features)
    y, labels = class_indices(frame[target])
    split = split_rows(len(frame), context.spec.split, context.spec.seed, y)
    classifier = logistic_regression(context.hyper, context.spec.seed)
    model = Pipeline([("prepare", preprocessor(columns)), ("model", classifier)])
    train_rows = np.concatenate([split.train, split.validation])
    as_labels = np.asarray(labels, dtype=object)
    inputs = model_inputs(frame.iloc[train_rows], columns)
    model.fit(inputs, as_labels[y[train_rows]])
    context.check_cancelled()
    folds = k_fold(context, model, inputs, as_labels[y[train_rows]])
    onnx_model = to_onnx(model, columns, {id(classifier): {"zipmap": False}})
    return FitResult(
        artifact=_save(onnx_model, context.workdir),
        format=ArtifactFormat.ONNX,
        parameters={
            "labels": labels,
            "features": columns.all,
            "target": target,
            EXPLANATION_KEY: explanation_background(
                context, model.named_steps["prepare"], inputs, (classifier, labels)
            ),
        },
        test_batch=serving_batch(frame.iloc[split.test], columns),
        y_test=y[split.test],
        split=split,
        labels=labels,
        details=folds,
        reference=model.predict_proba(model_inputs(frame.iloc[split.test], columns)),
    )


def explanation_background(
    context: FitContext,
    prepare: Any,
    inputs: Any,
    linear: tuple[Any, list[str]] | None = None,
) -> dict[str, Any]:
    """What explaining the version needs, kept in its parameters: a k-means summary of the
    training rows (``inputs``, fitted ``prepare``) and, for a linear ``(estimator, output
    names)`` on numeric inputs, its weights folded into the raw inputs' space (exact SHAP;
    see :mod:`modelmart.explain.linear_shap`)."""
    stored: dict[str, Any] = {
        "background": background_summary(inputs, prepare.transform(inputs), context.spec.seed),
        "source": {"dataset": context.data.name, "dataset_version": context.data.version},
    }
    if linear is not None and isinstance(prepare, Pipeline):  # numeric inputs only
        stored["linear"] = fold_linear_pipeline(prepare, *linear).to_json()
    return stored


def k_fold(context: FitContext, model: Any, inputs: Any, y: Array) -> dict[str, Any]:
    """Cross-validated scores on the training rows when the split asks for k folds."""
    k = context.spec.split.k_folds
    if k is None:
        return {}
    from sklearn.base import clone

    scoring = "accuracy" if context.spec.task == "classification" else "r2"
    labels = y if context.spec.task == "classification" and context.spec.split.stratify else None
    scores = []
    for train, held in fold_indices(len(y), k, context.spec.seed, labels):
        context.check_cancelled()
        rows = inputs.iloc if hasattr(inputs, "iloc") else inputs
        fitted = clone(model).fit(rows[train], y[train])
        scores.append(float(fitted.score(rows[held], y[held])))
    return {
        "k_fold": {
            "k": k,
            "metric": scoring,
            "scores": scores,
            "mean": float(np.mean(scores)),
            "std": float(np.std(scores)),
        }
    }


def logistic_regression(hyper: dict[str, Any], seed: int) -> LogisticRegression:
    penalty = hyper.get("penalty", "l2")
    l1_ratio = {"l1": 1.0, "l2": 0.0, "elasticnet": float(hyper.get("l1_ratio", 0.5))}
    return LogisticRegression(
        C=float(hyper["C"]) if penalty != "none" else np.inf,
        l1_ratio=l1_ratio.get(penalty, 0.0),
        solver="saga" if penalty in ("l1", "elasticnet") else "lbfgs",
        class_weight=hyper["class_weight"],
        max_iter=int(hyper["max_iter"]),
        random_state=seed,
    )


def _regressor(hyper: dict[str, Any]) -> Any:
    alpha, penalty = float(hyper["alpha"]), hyper["penalty"]
    if penalty == "none" or alpha == 0:
        return LinearRegression()
    if penalty == "l1":
        return Lasso(alpha=alpha)
    if penalty == "elasticnet":
        return ElasticNet(alpha=alpha, l1_ratio=float(hyper["l1_ratio"]))
    return Ridge(alpha=alpha)


def numeric_target(frame: pd.DataFrame, target: str) -> Array:
    if not pd.api.types.is_numeric_dtype(frame[target]):
        raise ValidationFailed(
            f"regression needs a numeric target, but column '{target}' holds "
            f"{frame[target].dtype} values; choose a numeric column or train a classifier"
        )
    values: Array = frame[target].to_numpy(dtype=np.float64)
    if np.isnan(values).any():
        row = int(np.flatnonzero(np.isnan(values))[0])
        raise ValidationFailed(f"target '{target}' is missing in row {row}; fill or drop it")
    return values


def rename_output(model: Any, old: str, new: str) -> None:
    """Rename a graph output (and every reference to it) in place."""
    for node in model.graph.node:
        node.output[:] = [new if name == old else name for name in node.output]
        node.input[:] = [new if name == old else name for name in node.input]
    for output in model.graph.output:
        if output.name == old:
            output.name = new


def rename_input(model: Any, old: str, new: str) -> None:
    """Rename a graph input (and every reference to it) in place."""
    for node in model.graph.node:
        node.input[:] = [new if name == old else name for name in node.input]
    for graph_input in model.graph.input:
        if graph_input.name == old:
            graph_input.name = new


def _save(model: Any, workdir: Path) -> Path:
    path = workdir / MODEL_FILE
    path.write_bytes(model.SerializeToString())
    return path
