"""``mlp``: a PyTorch multi-layer perceptron on preprocessed tabular features.

The scikit-learn preprocessing (imputation, scaling, one-hot) is exported with skl2onnx and
joined in front of the network's ONNX graph, so the served model takes raw columns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from modelmart.arrays import Array
from modelmart.explain.background import EXPLANATION_KEY
from modelmart.training import tabular
from modelmart.training.context import FitContext, FitResult, class_indices
from modelmart.training.loop import Tensors, classification_loss, fit_network, predict
from modelmart.training.onnx_graphs import add_classifier_outputs, export_module, prepend
from modelmart.training.splits import Split, split_rows
from modelmart.types import ArtifactFormat


class MultiLayerPerceptron(nn.Module):
    """Linear layers with ReLU and dropout; ``scale``/``shift`` undo target standardisation."""

    def __init__(self, n_in: int, hidden: list[int], n_out: int, dropout: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for width in hidden:
            layers += [nn.Linear(n_in, width), nn.ReLU(), nn.Dropout(dropout)]
            n_in = width
        layers.append(nn.Linear(n_in, n_out))
        self.layers = nn.Sequential(*layers)
        self.register_buffer("scale", torch.ones(n_out))
        self.register_buffer("shift", torch.zeros(n_out))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        output: torch.Tensor = self.layers(features) * self.scale + self.shift
        return output


def fit_mlp(context: FitContext) -> FitResult:
    frame, target = context.data.frame, context.target
    columns = tabular.feature_columns(frame, target, context.spec.features)
    classify = context.spec.task == "classification"
    labels: list[str] = []
    if classify:
        y, labels = class_indices(frame[target])
        split = split_rows(len(frame), context.spec.split, context.spec.seed, y)
    else:
        y = tabular.numeric_target(frame, target).astype(np.float32)  # a writable copy
        split = split_rows(len(frame), context.spec.split, context.spec.seed)
    prepare = tabular.preprocessor(columns).fit(
        tabular.model_inputs(frame.iloc[split.train], columns)
    )
    features = _dense(prepare.transform(tabular.model_inputs(frame, columns)))
    torch.manual_seed(context.spec.seed)  # the initial weights come from the seed too
    model = MultiLayerPerceptron(
        features.shape[1],
        list(context.hyper["hidden_sizes"]),
        len(labels) if classify else 1,
        float(context.hyper["dropout"]),
    )
    history = _train(context, model, features, y, split, labels)
    graph = _export(model, features.shape[1], labels)
    preprocessing = tabular.to_onnx(prepare, columns)
    served = prepend(preprocessing, graph, (preprocessing.graph.output[0].name, "features"))
    path = context.workdir / tabular.MODEL_FILE
    path.write_bytes(served.SerializeToString())
    train_inputs = tabular.model_inputs(frame.iloc[split.train], columns)
    parameters: dict[str, Any] = {
        "features": columns.all,
        "target": target,
        EXPLANATION_KEY: tabular.explanation_background(context, prepare, train_inputs),
    }
    if classify:
        parameters["labels"] = labels
    return FitResult(
        artifact=path,
        format=ArtifactFormat.ONNX,
        parameters=parameters,
        test_batch=tabular.serving_batch(frame.iloc[split.test], columns),
        y_test=y[split.test],
        split=split,
        labels=labels,
        history=history,
        reference=_reference(model, features[split.test], bool(labels)),
    )


def _train(
    context: FitContext,
    model: MultiLayerPerceptron,
    features: Array,
    y: Array,
    split: Split,
    labels: list[str],
) -> list[dict[str, float]]:
    x = torch.from_numpy(features)
    if labels:
        target = torch.from_numpy(y)
        loss_fn = classification_loss(context, y[split.train], len(labels))
    else:
        target = torch.from_numpy(y).reshape(-1, 1)
        mean, std = float(y[split.train].mean()), float(y[split.train].std() or 1.0)
        model.scale.fill_(std)  # type: ignore[operator]
        model.shift.fill_(mean)  # type: ignore[operator]
        loss_fn = _ScaledMSE(std)
    train = Tensors((x[split.train],), target[split.train])
    validation = Tensors((x[split.validation],), target[split.validation])
    return fit_network(context, model, loss_fn, train, validation)


class _ScaledMSE(nn.Module):
    """MSE in standardised target units, so one learning rate suits any target scale."""

    def __init__(self, std: float) -> None:
        super().__init__()
        self.std = std

    def forward(self, predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return torch.mean(((predicted - target) / self.std) ** 2)


def _export(model: MultiLayerPerceptron, n_features: int, labels: list[str]) -> Any:
    output = "logits" if labels else "prediction"
    graph = export_module(
        model, (torch.zeros(2, n_features),), ["features"], output, {"features": {0: "batch"}}
    )
    if labels:
        add_classifier_outputs(graph, "logits", labels)
    return graph


def _reference(model: MultiLayerPerceptron, features: Array, classify: bool) -> Array:
    output = predict(model, (torch.from_numpy(features),))
    result: Array = (output.softmax(1) if classify else output).numpy().astype(np.float64)
    return result


def _dense(matrix: Any) -> Array:
    dense = matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix)
    return np.asarray(dense, dtype=np.float32)
