"""Tenant checks for the registry routes: an organisation sees its own models, the catalogue's
and those published to it, and changes only its own. A model it may not see answers 404, as
if it did not exist, so names never leak between tenants."""

from __future__ import annotations

from modelmart.accounts.principal import current_principal
from modelmart.errors import DatasetNotFound, Forbidden, JobNotFound, ModelNotFound
from modelmart.registry.service import Registry
from modelmart.schemas.datasets import DatasetInfo
from modelmart.schemas.jobs import JobInfo
from modelmart.schemas.registry import ModelInfo


def visible_model(registry: Registry, name: str) -> ModelInfo:
    model = registry.get_model(name)
    principal = current_principal()
    if principal is not None and not principal.can_see_model(model.name, model.owner):
        raise ModelNotFound(
            f"model {name!r} does not exist; GET /v1/registry/models lists yours",
            details={"model": name},
        )
    return model


def owned_model(registry: Registry, name: str) -> ModelInfo:
    model = visible_model(registry, name)
    principal = current_principal()
    if principal is not None and not principal.can_manage(model.owner):
        raise Forbidden(
            f"model {name!r} belongs to {model.owner or 'the platform'}; you may use it, "
            "not change it"
        )
    return model


def visible_models(models: list[ModelInfo]) -> list[ModelInfo]:
    principal = current_principal()
    if principal is None:
        return models
    return [model for model in models if principal.can_see_model(model.name, model.owner)]


def new_owner(requested: str) -> str:
    """The owner of a model being created: the caller's organisation when there is one."""
    principal = current_principal()
    return principal.org_slug if principal is not None else requested


def can_see_owned(owner: str) -> bool:
    """Datasets and jobs: the caller's own, and (``""``) the built-in samples."""
    principal = current_principal()
    return principal is None or principal.is_operator or owner in ("", principal.org_slug)


def visible_dataset(info: DatasetInfo) -> DatasetInfo:
    if not can_see_owned(info.owner):
        raise DatasetNotFound(
            f"dataset {info.name!r} does not exist; GET /v1/datasets lists yours",
            details={"dataset": info.name},
        )
    return info


def can_see_job(info: JobInfo) -> bool:
    """Jobs are their organisation's alone (the operator sees every one)."""
    principal = current_principal()
    return principal is None or principal.is_operator or info.owner == principal.org_slug


def visible_job(info: JobInfo) -> JobInfo:
    if not can_see_job(info):
        raise JobNotFound(f"job {info.id!r} does not exist; GET /v1/jobs lists yours")
    return info
