"""What the catalogue returns: model cards and their serving state, ready to serialise as
JSON. Plain data only, so the SDK can parse answers into these very classes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from modelmart.types import ArtifactFormat, RuntimeName, Signature, Task


class Measurement(BaseModel):
    """One quality figure, measured by ``python -m modelmart.catalog.evaluate``."""

    model_config = ConfigDict(frozen=True)

    metric: str
    value: float
    dataset: str
    """What it was measured on, and how small that set is."""


class Latency(BaseModel):
    """Time per text on the CPU the evaluation ran on, through the model's runtime."""

    model_config = ConfigDict(frozen=True)

    ms_per_item_alone: float
    """A batch of one: the latency of a lone request, serving overhead not included."""
    ms_per_item_batched: float
    batch_size: int
    cpu: str
    threads: int
    tokens_per_second: float | None = None
    """Generative models: the median speed of producing an answer after its first token."""
    first_token_ms: float | None = None
    """Generative models: the median time from the request to the first piece of answer."""


class ModelCard(BaseModel):
    """What the catalogue says about one of its models.

    ``size_bytes`` is what the model's files take on disk (the whole package when the model
    is the package); ``None`` when the package is not installed. ``unavailable_reason`` says
    how to make an unavailable model deployable.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    title: str
    task: Task
    description: str
    runtime: RuntimeName
    format: ArtifactFormat
    packages: dict[str, str]
    licences: dict[str, str]
    size_bytes: int | None
    signature: Signature
    latency: Latency | None
    quality: list[Measurement]
    available: bool
    unavailable_reason: str | None


class CatalogModel(ModelCard):
    """A card with the model's state on this server: its latest registered version and
    whether any deployment serves it."""

    latest_version: int | None
    deployed: bool
