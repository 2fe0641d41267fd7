"""What the registry returns: frozen snapshots of models and versions, detached from the
database, ready to serialise as JSON."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from modelmart.store.tables import ModelRow, ModelVersionRow
from modelmart.types import ArtifactFormat, RuntimeName, Signature, Task


class ModelInfo(BaseModel):
    """A model: a name that versions are registered under."""

    model_config = ConfigDict(frozen=True)

    name: str
    task: Task
    description: str
    owner: str
    created_at: datetime
    latest_version: int | None
    aliases: dict[str, int]


class VersionInfo(BaseModel):
    """One immutable registered version of a model."""

    model_config = ConfigDict(frozen=True)

    model: str
    version: int
    format: ArtifactFormat
    runtime: RuntimeName
    task: Task
    signature: Signature
    parameters: dict[str, Any]
    metrics: dict[str, Any]
    lineage: dict[str, Any]
    artifact_digest: str
    artifact_size: int
    created_at: datetime


def model_info(row: ModelRow, latest_version: int | None, aliases: Mapping[str, int]) -> ModelInfo:
    return ModelInfo(
        name=row.name,
        task=Task(row.task),
        description=row.description,
        owner=row.owner,
        created_at=row.created_at,
        latest_version=latest_version,
        aliases=dict(sorted(aliases.items())),
    )


def version_info(model: ModelRow, row: ModelVersionRow) -> VersionInfo:
    return VersionInfo(
        model=model.name,
        version=row.version,
        format=ArtifactFormat(row.format),
        runtime=RuntimeName(row.runtime),
        task=Task(model.task),
        signature=Signature.model_validate(row.signature),
        parameters=row.parameters,
        metrics=row.metrics,
        lineage=row.lineage,
        artifact_digest=row.artifact_digest,
        artifact_size=row.artifact_size,
        created_at=row.created_at,
    )
