"""Catalogue entries and measurements for tests that must not depend on the real ones."""

from __future__ import annotations

from modelmart.catalog.cards import MeasuredModel, Measurements
from modelmart.catalog.entries import VADER_SENTIMENT, CatalogEntry
from modelmart.registry.packages import PackageManifest
from modelmart.schemas.catalog import Latency, Measurement
from modelmart.types import ArtifactFormat, RuntimeName

MISSING = CatalogEntry(
    name="missing-model",
    title="A model whose package is not installed",
    task=VADER_SENTIMENT.task,
    description="Stands in for a slim install.",
    licences={"modelmart-no-such-package": "MIT"},
    manifest=PackageManifest(
        runtime=RuntimeName.VADER,
        format=ArtifactFormat.PACKAGE,
        packages={"modelmart-no-such-package": "1.0.0"},
    ),
    signature=VADER_SENTIMENT.signature,
)

LATENCY = Latency(
    ms_per_item_alone=0.5, ms_per_item_batched=0.1, batch_size=32, cpu="Test CPU", threads=2
)


def measurements(*names: str, accuracy: float = 0.9) -> Measurements:
    quality = [Measurement(metric="accuracy", value=accuracy, dataset="three sentences")]
    return Measurements(
        measured_at="2025-01-01",
        notes="made up for tests",
        models={name: MeasuredModel(latency=LATENCY, quality=quality) for name in names},
    )
