"""Spec validation: fill in the defaults and refuse what cannot be trained, precisely."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modelmart.errors import ValidationFailed
from modelmart.schemas.datasets import DatasetKind
from modelmart.schemas.jobs import TrainingSpec
from modelmart.training.families import FAMILIES, FamilyInfo, default_family

_CHOICES: dict[str, tuple[Any, ...]] = {
    "penalty": ("l1", "l2", "elasticnet", "none"),
    "class_weight": (None, "balanced"),
}
_FRACTIONS = frozenset({"dropout", "l1_ratio"})
_MAY_BE_ZERO = frozenset({"dropout", "l1_ratio", "weight_decay", "alpha", "regularization"})
_K_FOLD_FAMILIES = ("linear", "logistic")
_INTERACTION_COLUMNS = ("user", "item", "rating")


def complete_spec(
    spec: TrainingSpec, data_kind: DatasetKind, columns: Sequence[str]
) -> TrainingSpec:
    """``spec`` with its family and every hyperparameter set; ValidationFailed otherwise."""
    family = _family(spec, data_kind)
    hyperparameters = _hyperparameters(family, spec.hyperparameters)
    _check_columns(spec, data_kind, columns)
    if spec.split.validation + spec.split.test >= 0.9:
        raise ValidationFailed(
            f"split holds out {spec.split.validation:.0%} for validation and "
            f"{spec.split.test:.0%} for test, leaving too little to train on; keep their sum "
            "under 90 %",
            details={"field": "split"},
        )
    if spec.split.k_folds and family.name not in _K_FOLD_FAMILIES:
        raise ValidationFailed(
            f"k-fold cross-validation runs for the families {', '.join(_K_FOLD_FAMILIES)}, not "
            f"'{family.name}' (it would train the network k more times); remove split.k_folds",
            details={"field": "split.k_folds"},
        )
    return spec.model_copy(update={"family": family.name, "hyperparameters": hyperparameters})


def _family(spec: TrainingSpec, kind: DatasetKind) -> FamilyInfo:
    name = spec.family or default_family(spec.task, kind)
    family = FAMILIES.get(name)
    if family is None:
        raise ValidationFailed(
            f"unknown model family '{name}'; choose one of {', '.join(sorted(FAMILIES))}",
            details={"field": "family"},
        )
    if spec.task not in family.tasks:
        raise ValidationFailed(
            f"family '{name}' trains {' or '.join(family.tasks)}, not {spec.task}; pick another "
            f"family or omit it to use the default ({_default_hint(spec, kind)})",
            details={"field": "family"},
        )
    if kind not in family.kinds:
        kinds = ", ".join(k.value for k in family.kinds)
        raise ValidationFailed(
            f"family '{name}' trains on {kinds} datasets, not {kind.value}; omit the family to "
            f"use the default ({_default_hint(spec, kind)})",
            details={"field": "family"},
        )
    return family


def _default_hint(spec: TrainingSpec, kind: DatasetKind) -> str:
    try:
        return default_family(spec.task, kind)
    except ValidationFailed:
        return f"none trains {spec.task} on {kind.value} data"


def _hyperparameters(family: FamilyInfo, given: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(given) - set(family.hyperparameters))
    if unknown:
        raise ValidationFailed(
            f"family '{family.name}' has no hyperparameter {', '.join(map(repr, unknown))}; "
            f"it accepts {', '.join(sorted(family.hyperparameters))}",
            details={"field": "hyperparameters", "unknown": unknown},
        )
    merged = {**family.hyperparameters, **given}
    for name, value in given.items():
        _check_value(family.name, name, value, family.hyperparameters[name])
    return merged


def _check_value(family: str, name: str, value: Any, default: Any) -> None:
    where = f"hyperparameter '{name}' of family '{family}' is {value!r}"
    if name in _CHOICES:
        if value not in _CHOICES[name]:
            raise ValidationFailed(
                f"{where}; expected one of {', '.join(map(repr, _CHOICES[name]))}",
                details={"field": f"hyperparameters.{name}"},
            )
        return
    if isinstance(default, list):
        if not value or not all(_positive_int(item) for item in value):
            raise ValidationFailed(
                f"{where}; expected a non-empty list of positive integers such as {default}",
                details={"field": f"hyperparameters.{name}"},
            )
        return
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ValidationFailed(f"{where}; expected true or false")
        return
    _check_number(where, name, value, default)


def _check_number(where: str, name: str, value: Any, default: Any) -> None:
    if isinstance(default, int) and not _positive_int(value):
        raise ValidationFailed(
            f"{where}; expected a positive integer such as {default}",
            details={"field": f"hyperparameters.{name}"},
        )
    if isinstance(default, float):
        number_ok = isinstance(value, int | float) and not isinstance(value, bool)
        low_ok = number_ok and (value >= 0 if name in _MAY_BE_ZERO else value > 0)
        if not low_ok or (name in _FRACTIONS and value > (1 if name == "l1_ratio" else 0.95)):
            expected = "a fraction between 0 and 1" if name in _FRACTIONS else "a positive number"
            raise ValidationFailed(
                f"{where}; expected {expected} such as {default}",
                details={"field": f"hyperparameters.{name}"},
            )


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _check_columns(spec: TrainingSpec, kind: DatasetKind, columns: Sequence[str]) -> None:
    available = set(columns)
    if kind is DatasetKind.INTERACTIONS:
        missing = [name for name in _INTERACTION_COLUMNS if name not in available]
        if missing:
            raise ValidationFailed(
                f"an interactions dataset needs columns user, item and rating; it lacks "
                f"{', '.join(missing)}",
                details={"missing": missing},
            )
        return
    named = [spec.target] if spec.target else []
    named += spec.features or []
    missing = [name for name in named if name not in available]
    if missing:
        raise ValidationFailed(
            f"the dataset has no column {', '.join(map(repr, missing))}; its columns are "
            f"{', '.join(columns)}",
            details={"missing": missing, "columns": list(columns)},
        )
    if spec.target and spec.features and spec.target in spec.features:
        raise ValidationFailed(
            f"column '{spec.target}' is both the target and a feature; drop it from features",
            details={"field": "features"},
        )
