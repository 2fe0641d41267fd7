"""Database rows to the registry's detached views."""

from __future__ import annotations

from collections.abc import Mapping

from modelmart.schemas.registry import ModelInfo, VersionInfo
from modelmart.store.tables import ModelRow, ModelVersionRow
from modelmart.types import ArtifactFormat, RuntimeName, Signature, Task


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
