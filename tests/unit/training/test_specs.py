from typing import Any

import pydantic
import pytest

from modelmart.errors import ValidationFailed
from modelmart.schemas.datasets import DatasetKind
from modelmart.schemas.jobs import TrainingSpec
from modelmart.training.api import validate_spec
from modelmart.training.families import FAMILIES, default_family

COLUMNS = ["age", "colour", "label"]


def test_defaults_fill_family_and_hyperparameters() -> None:
    spec = validate_spec(TrainingSpec(task="classification"), DatasetKind.TABULAR, COLUMNS)
    assert spec.family == "logistic"
    assert spec.hyperparameters == dict(FAMILIES["logistic"].hyperparameters)


def test_given_hyperparameters_override_defaults() -> None:
    spec = validate_spec(
        TrainingSpec(task="classification", family="mlp", hyperparameters={"dropout": 0.5}),
        DatasetKind.TABULAR,
        COLUMNS,
    )
    assert spec.hyperparameters["dropout"] == 0.5
    assert spec.hyperparameters["hidden_sizes"] == [128, 64]


@pytest.mark.parametrize(
    ("task", "kind", "family"),
    [
        ("classification", DatasetKind.TABULAR, "logistic"),
        ("regression", DatasetKind.TABULAR, "linear"),
        ("classification", DatasetKind.TEXT, "logistic"),
        ("classification", DatasetKind.IMAGES, "cnn"),
        ("recommendation", DatasetKind.INTERACTIONS, "als"),
    ],
)
def test_default_families(task: str, kind: DatasetKind, family: str) -> None:
    assert default_family(task, kind) == family  # type: ignore[arg-type]


def test_no_default_for_unsupported_pairs() -> None:
    with pytest.raises(ValidationFailed, match="no model family trains regression on a images"):
        default_family("regression", DatasetKind.IMAGES)


TABULAR, TEXT = DatasetKind.TABULAR, DatasetKind.TEXT
CLASSIFY: dict[str, Any] = {"task": "classification"}
BAD_SPECS: list[tuple[dict[str, Any], DatasetKind, str]] = [
    ({**CLASSIFY, "family": "forest"}, TABULAR, "unknown model family 'forest'"),
    ({"task": "regression", "family": "logistic"}, TABULAR, "classification, not regression"),
    ({**CLASSIFY, "family": "cnn"}, TABULAR, "trains on images datasets, not tabular"),
    ({**CLASSIFY, "hyperparameters": {"depth": 3}}, TABULAR, "no hyperparameter 'depth'"),
    ({**CLASSIFY, "hyperparameters": {"penalty": "l3"}}, TABULAR, "expected one of 'l1'"),
    ({**CLASSIFY, "hyperparameters": {"C": -1}}, TABULAR, "expected a positive number"),
    ({**CLASSIFY, "hyperparameters": {"max_iter": 1.5}}, TABULAR, "expected a positive integer"),
    (
        {**CLASSIFY, "family": "mlp", "hyperparameters": {"dropout": 1.0}},
        TABULAR,
        "fraction between 0 and 1",
    ),
    (
        {**CLASSIFY, "family": "mlp", "hyperparameters": {"hidden_sizes": []}},
        TABULAR,
        "non-empty list of positive integers",
    ),
    (
        {**CLASSIFY, "family": "lstm", "hyperparameters": {"bidirectional": 1}},
        TEXT,
        "expected true or false",
    ),
    ({**CLASSIFY, "target": "price"}, TABULAR, "no column 'price'"),
    ({**CLASSIFY, "target": "age", "features": ["age"]}, TABULAR, "both the target and a feature"),
    ({**CLASSIFY, "family": "mlp", "split": {"k_folds": 5}}, TABULAR, "k-fold cross-validation"),
    ({**CLASSIFY, "split": {"validation": 0.5, "test": 0.45}}, TABULAR, "too little to train"),
    ({"task": "recommendation"}, DatasetKind.INTERACTIONS, "lacks user, item, rating"),
]


@pytest.mark.parametrize(("fields", "kind", "message"), BAD_SPECS)
def test_bad_specs_are_refused_precisely(
    fields: dict[str, Any], kind: DatasetKind, message: str
) -> None:
    with pytest.raises(ValidationFailed, match=message):
        validate_spec(TrainingSpec.model_validate(fields), kind, COLUMNS)


def test_zero_weight_decay_is_allowed() -> None:
    spec = TrainingSpec(task="classification", family="mlp", hyperparameters={"weight_decay": 0.0})
    assert validate_spec(spec, DatasetKind.TABULAR, COLUMNS).hyperparameters["weight_decay"] == 0


def test_interactions_with_the_right_columns_pass() -> None:
    spec = validate_spec(
        TrainingSpec(task="recommendation", family="matrix-factorization"),
        DatasetKind.INTERACTIONS,
        ["user", "item", "rating", "timestamp"],
    )
    assert spec.family == "matrix-factorization"


def test_spec_refuses_unknown_fields() -> None:
    with pytest.raises(pydantic.ValidationError):
        TrainingSpec.model_validate({"task": "classification", "epochs": 3})
