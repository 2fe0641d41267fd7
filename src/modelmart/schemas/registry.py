"""What the registry returns: frozen snapshots of models and versions, detached from the
database, ready to serialise as JSON."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

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


class DeclaredCard(BaseModel):
    """What an uploader may declare for the version's model card; anything left out is
    shown as not declared."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    intended_use: str | None = Field(default=None, max_length=4000)
    limits: list[Annotated[str, Field(max_length=1000)]] = Field(
        default_factory=list, max_length=50
    )
    licence: str | None = Field(default=None, max_length=1000)


class VersionMetadata(BaseModel):
    """What accompanies an artifact upload (the ``metadata`` form field, as JSON)."""

    model_config = ConfigDict(extra="forbid")

    format: ArtifactFormat | None = None
    signature: Signature | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)
    lineage: dict[str, Any] = Field(default_factory=dict)
    card: DeclaredCard | None = None
    """What the uploader says about the version's use; stored in its lineage as ``card``."""


CardSource = Literal["catalogue", "trained", "upload"]


class CardMetric(BaseModel):
    """One quality figure with the set it was measured on (``None``: not named)."""

    model_config = ConfigDict(frozen=True)

    metric: str
    value: float
    evaluation_set: str | None


class CardLineage(BaseModel):
    """Where the version came from, as recorded when it was registered."""

    model_config = ConfigDict(frozen=True)

    dataset: str | None = None
    dataset_version: int | None = None
    dataset_digest: str | None = None
    parent_version: int | None = None
    training_job: str | None = None
    packages: dict[str, str] = Field(default_factory=dict)
    recorded: dict[str, Any] = Field(default_factory=dict)
    """The lineage exactly as stored."""


class CardEnergy(BaseModel):
    """Energy one item costs; ``estimated`` when derived from time rather than measured."""

    model_config = ConfigDict(frozen=True)

    joules_per_item: float
    estimated: bool
    method: str


class CardExplanation(BaseModel):
    """How the version's predictions can be explained; ``method`` None says why not."""

    model_config = ConfigDict(frozen=True)

    method: str | None
    reason: str | None


class VersionCard(BaseModel):
    """The model card of one registered version, built from what the registry stores.

    Unknown facts stay unknown: ``None`` (or an empty list), with a line in ``limits`` that
    says what was not evaluated or declared.
    """

    model_config = ConfigDict(frozen=True)

    model: str
    version: int
    source: CardSource
    owner: str
    task: Task
    format: ArtifactFormat
    runtime: RuntimeName
    created_at: datetime
    intended_use: str | None
    training: CardLineage
    quality: list[CardMetric]
    limits: list[str]
    licence: str
    energy_per_item: CardEnergy | None
    explanation: CardExplanation
    signature: Signature
