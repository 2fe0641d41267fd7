"""What the registry returns: frozen snapshots of models and versions, detached from the
database, ready to serialise as JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

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


class AliasInfo(BaseModel):
    """Where an alias such as ``production`` points."""

    model_config = ConfigDict(frozen=True)

    model: str
    alias: str
    version: int


class VersionMetadata(BaseModel):
    """What accompanies an artifact upload (the ``metadata`` form field, as JSON)."""

    model_config = ConfigDict(extra="forbid")

    format: ArtifactFormat | None = None
    signature: Signature | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    lineage: dict[str, Any] = Field(default_factory=dict)
