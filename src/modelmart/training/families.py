"""The model families the trainer knows, their hyperparameters and defaults per task."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelmart.errors import ValidationFailed
from modelmart.schemas.datasets import DatasetKind
from modelmart.schemas.jobs import TaskName


@dataclass(frozen=True)
class FamilyInfo:
    """A model family: what it is for and the hyperparameters it accepts (with defaults)."""

    name: str
    description: str
    tasks: tuple[TaskName, ...]
    kinds: tuple[DatasetKind, ...]
    hyperparameters: Mapping[str, Any]
    default_epochs: int | None = None  # None: not trained by epochs (closed form / solver)


_TORCH_COMMON: dict[str, Any] = {
    "learning_rate": 1e-3,
    "weight_decay": 1e-4,
    "batch_size": 64,
    "dropout": 0.1,
    "class_weight": None,  # None or "balanced" (classification only)
}
_SEQUENCE_COMMON: dict[str, Any] = {
    **_TORCH_COMMON,
    "embedding_dim": 64,
    "max_length": 128,
    "vocabulary_size": 20_000,
}

FAMILIES: Mapping[str, FamilyInfo] = {
    info.name: info
    for info in (
        FamilyInfo(
            "linear",
            "Linear regression with L2 (ridge), L1 (lasso) or elastic-net regularisation.",
            ("regression",),
            (DatasetKind.TABULAR,),
            {"penalty": "l2", "alpha": 1.0, "l1_ratio": 0.5},
        ),
        FamilyInfo(
            "logistic",
            "Logistic regression with L1, L2 or elastic-net regularisation and class weights.",
            ("classification",),
            (DatasetKind.TABULAR, DatasetKind.TEXT),
            {"penalty": "l2", "C": 1.0, "l1_ratio": 0.5, "class_weight": None, "max_iter": 1000},
        ),
        FamilyInfo(
            "mlp",
            "A multi-layer perceptron (PyTorch) with dropout, weight decay and early stopping.",
            ("classification", "regression"),
            (DatasetKind.TABULAR,),
            {**_TORCH_COMMON, "hidden_sizes": [128, 64]},
            default_epochs=100,
        ),
        FamilyInfo(
            "cnn",
            "A small convolutional network for images (greyscale or RGB, resized).",
            ("classification",),
            (DatasetKind.IMAGES,),
            {**_TORCH_COMMON, "channels": [32, 64], "image_size": 28, "dropout": 0.25},
            default_epochs=10,
        ),
        *(
            FamilyInfo(
                cell,
                f"A {cell.upper()} over a fitted word vocabulary, for text classification.",
                ("classification",),
                (DatasetKind.TEXT,),
                {**_SEQUENCE_COMMON, "hidden_size": 64, "num_layers": 1, "bidirectional": False},
                default_epochs=10,
            )
            for cell in ("rnn", "lstm", "gru")
        ),
        FamilyInfo(
            "transformer",
            "A small Transformer encoder over a fitted word vocabulary, for text classification.",
            ("classification",),
            (DatasetKind.TEXT,),
            {**_SEQUENCE_COMMON, "heads": 4, "layers": 2, "feedforward_dim": 128},
            default_epochs=10,
        ),
        FamilyInfo(
            "embedding-head",
            "A logistic-regression head on the catalogue's MiniLM sentence embeddings.",
            ("classification",),
            (DatasetKind.TEXT,),
            {"C": 1.0, "class_weight": None, "max_iter": 1000},
        ),
        FamilyInfo(
            "matrix-factorization",
            "Matrix factorisation trained with PyTorch on (user, item, rating) interactions.",
            ("recommendation",),
            (DatasetKind.INTERACTIONS,),
            {
                "factors": 32,
                "learning_rate": 0.01,
                "weight_decay": 1e-5,
                "batch_size": 1024,
                "top_k": 10,
            },
            default_epochs=20,
        ),
        FamilyInfo(
            "als",
            "Alternating least squares for implicit feedback (confidence-weighted), in NumPy.",
            ("recommendation",),
            (DatasetKind.INTERACTIONS,),
            {"factors": 32, "regularization": 0.1, "alpha": 10.0, "top_k": 10},
            default_epochs=15,
        ),
    )
}

_DEFAULT_FAMILIES: dict[tuple[TaskName, DatasetKind], str] = {
    ("classification", DatasetKind.TABULAR): "logistic",
    ("regression", DatasetKind.TABULAR): "linear",
    ("classification", DatasetKind.TEXT): "logistic",
    ("classification", DatasetKind.IMAGES): "cnn",
    ("recommendation", DatasetKind.INTERACTIONS): "als",
}


def default_family(task: TaskName, kind: DatasetKind) -> str:
    """The family ``modelmart train --task TASK`` uses on a dataset of this kind."""
    family = _DEFAULT_FAMILIES.get((task, kind))
    if family is None:
        supported = sorted(f"{t} on {k.value}" for t, k in _DEFAULT_FAMILIES)
        raise ValidationFailed(
            f"no model family trains {task} on a {kind.value} dataset; supported: "
            + ", ".join(supported),
            details={"task": task, "kind": kind.value},
        )
    return family
