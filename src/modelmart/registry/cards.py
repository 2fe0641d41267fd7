"""Model cards of registered versions, built only from what is stored: the version's row,
its model, the catalogue entry's card for catalogue versions and the evaluation report for
versions a training job made.

Nothing is invented: a fact that was never measured or declared is ``None`` (or an empty
list) and ``limits`` says so in words, so a reader cannot mistake a gap for a good answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from modelmart.energy.meters import cpu_time_description
from modelmart.explain.picker import card_explanation
from modelmart.schemas.catalog import Latency, ModelCard
from modelmart.schemas.registry import (
    CardEnergy,
    CardExplanation,
    CardLineage,
    CardMetric,
    CardSource,
    DeclaredCard,
    ModelInfo,
    VersionCard,
    VersionInfo,
)
from modelmart.types import Task, TensorSpec

DECLARED_CARD_KEY = "card"
"""Where an upload's declared card is kept in the version's lineage."""

_IMAGE_TASKS = frozenset(
    {Task.IMAGE_CLASSIFICATION, Task.FACE_DETECTION, Task.FACE_EMBEDDING, Task.OCR}
)
"""Tasks served by the image routes, which cap the pixels of one request."""


@dataclass(frozen=True)
class CardFacts:
    """What the server knows beyond the version's row.

    ``catalogue`` is the catalogue entry's card for a catalogue version; ``report`` the
    evaluation report of a version a training job made; the two settings feed the energy
    estimate and the image-size limit.
    """

    cpu_watts_per_core: float
    max_request_pixels: int
    catalogue: ModelCard | None = None
    report: Mapping[str, Any] | None = None


def version_card(model: ModelInfo, version: VersionInfo, facts: CardFacts) -> VersionCard:
    """The card of ``version`` of ``model``."""
    source = card_source(facts)
    declared = declared_card(version.lineage) if source == "upload" else None
    quality = _quality(source, version, facts)
    energy = _energy(facts.catalogue.latency if facts.catalogue else None, facts)
    return VersionCard(
        model=model.name,
        version=version.version,
        source=source,
        owner=model.owner,
        task=version.task,
        format=version.format,
        runtime=version.runtime,
        created_at=version.created_at,
        intended_use=_intended_use(source, model, facts, declared),
        training=_lineage(version.lineage),
        quality=quality,
        limits=_limits(source, version, facts, declared, quality, energy),
        licence=_licence(source, model, facts, declared),
        energy_per_item=energy,
        explanation=_explanation(version),
        signature=version.signature,
    )


def _explanation(version: VersionInfo) -> CardExplanation:
    """The method :mod:`modelmart.explain.picker` would choose, or why there is none."""
    method, reason = card_explanation(version)
    return CardExplanation(method=method, reason=reason)


def card_source(facts: CardFacts) -> CardSource:
    if facts.catalogue is not None:
        return "catalogue"
    return "trained" if facts.report is not None else "upload"


def declared_card(lineage: Mapping[str, Any]) -> DeclaredCard | None:
    """The card an uploader declared; None when there is none or it is not a card's shape
    (lineage is free-form, so an old upload may hold anything under the key)."""
    raw = lineage.get(DECLARED_CARD_KEY)
    if raw is None:
        return None
    try:
        return DeclaredCard.model_validate(raw)
    except ValidationError:
        return None


def with_declared_card(lineage: Mapping[str, Any], declared: DeclaredCard | None) -> dict[str, Any]:
    """``lineage`` with ``declared`` stored under its key (unchanged when None)."""
    stored = dict(lineage)
    if declared is not None:
        stored[DECLARED_CARD_KEY] = declared.model_dump(mode="json")
    return stored


# Intended use and licence


def _intended_use(
    source: CardSource, model: ModelInfo, facts: CardFacts, declared: DeclaredCard | None
) -> str | None:
    if facts.catalogue is not None:
        return facts.catalogue.description
    if source == "trained":
        dataset = _report_dataset(facts.report)
        task = model.task.value.replace("_", " ")
        return f"{task} of inputs like those of {dataset}, the data it was trained on"
    if declared is not None and declared.intended_use:
        return declared.intended_use
    return model.description or None


def _licence(
    source: CardSource, model: ModelInfo, facts: CardFacts, declared: DeclaredCard | None
) -> str:
    if facts.catalogue is not None:
        listed = "; ".join(f"{pkg}: {text}" for pkg, text in facts.catalogue.licences.items())
        return listed or "not declared"
    if source == "trained":
        maker = model.owner or "this server's user"
        dataset = _report_dataset(facts.report)
        return f"trained by {maker} on {dataset}; the dataset's licence is not recorded"
    if declared is not None and declared.licence:
        return declared.licence
    return "not declared"


def _report_dataset(report: Mapping[str, Any] | None) -> str:
    dataset = (report or {}).get("dataset")
    if not isinstance(dataset, Mapping) or not dataset.get("name"):
        return "a dataset the report does not name"
    version = dataset.get("version")
    suffix = f" version {version}" if version is not None else ""
    return f"dataset {dataset['name']!r}{suffix}"


# Lineage


def _lineage(lineage: Mapping[str, Any]) -> CardLineage:
    packages = lineage.get("packages")
    return CardLineage(
        dataset=_text(lineage.get("dataset")),
        dataset_version=_whole(lineage.get("dataset_version")),
        dataset_digest=_text(lineage.get("dataset_digest")),
        parent_version=_whole(lineage.get("parent_version")),
        training_job=_text(lineage.get("job_id")),
        packages=(
            {str(k): str(v) for k, v in packages.items()} if isinstance(packages, Mapping) else {}
        ),
        recorded=dict(lineage),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# Quality


def _quality(source: CardSource, version: VersionInfo, facts: CardFacts) -> list[CardMetric]:
    """The version's recorded metrics, each with the set it was measured on."""
    sets = _evaluation_sets(source, facts)
    default = sets.get("")
    return [
        CardMetric(metric=name, value=float(value), evaluation_set=sets.get(name, default))
        for name, value in version.metrics.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]


def _evaluation_sets(source: CardSource, facts: CardFacts) -> dict[str, str]:
    """Metric name to evaluation set; ``""`` holds the set of every metric not listed."""
    if facts.catalogue is not None:
        return {m.metric: m.dataset for m in facts.catalogue.quality}
    if source == "trained":
        return {"": _held_out_split(facts.report or {})}
    return {}  # an upload's metrics come with no named set


def _held_out_split(report: Mapping[str, Any]) -> str:
    sizes = report.get("split_sizes")
    rows = sizes.get("test") if isinstance(sizes, Mapping) else None
    counted = f" ({rows} rows)" if isinstance(rows, int) else ""
    return f"held-out test split{counted} of {_report_dataset(report)}"


# Energy


def _energy(latency: Latency | None, facts: CardFacts) -> CardEnergy | None:
    """An estimate from the evaluation's measured CPU time: batched time per item x threads
    x watts per core, worded as the serving path's ``cpu-time-estimate`` method
    (:func:`~modelmart.energy.meters.cpu_time_description`; what a request's usage reports
    is measured per batch, by RAPL where readable). None when no latency was measured.
    """
    if latency is None:
        return None
    watts = facts.cpu_watts_per_core
    joules = latency.ms_per_item_batched / 1000 * latency.threads * watts
    return CardEnergy(
        joules_per_item=joules,
        estimated=True,
        method=(
            f"{cpu_time_description(watts)}: {latency.ms_per_item_batched:g} "
            f"ms per item in batches of {latency.batch_size} on {latency.threads} thread(s) "
            f"of {latency.cpu}"
        ),
    )


# Limits


def _limits(
    source: CardSource,
    version: VersionInfo,
    facts: CardFacts,
    declared: DeclaredCard | None,
    quality: list[CardMetric],
    energy: CardEnergy | None,
) -> list[str]:
    lines = [_input_limit(spec) for spec in version.signature.inputs]
    lines += _runtime_limits(version, facts)
    if declared is not None:
        lines += declared.limits
    if facts.catalogue is not None and facts.catalogue.unavailable_reason:
        lines.append(f"not deployable here: {facts.catalogue.unavailable_reason}")
    lines += _unknowns(source, declared, quality, energy)
    return lines


def _input_limit(spec: TensorSpec) -> str:
    dims = ", ".join("any" if dim == -1 else str(dim) for dim in spec.shape)
    return f"input {spec.name!r}: {spec.datatype.value} of shape [{dims}] (first: batch)"


def _runtime_limits(version: VersionInfo, facts: CardFacts) -> list[str]:
    lines = []
    if version.task is Task.CHAT:
        context = _whole(version.parameters.get("context_length"))
        lines.append(
            f"context window: {context} tokens"
            if context
            else "context window: as the model file sets it (not recorded in the registry)"
        )
        max_tokens = _whole(version.parameters.get("max_tokens"))
        if max_tokens:
            lines.append(f"tensor-route answers stop after {max_tokens} tokens")
    if version.task in _IMAGE_TASKS:
        lines.append(
            f"images: at most {facts.max_request_pixels:,} pixels per request on the image "
            "task routes (server setting)"
        )
    return lines


def _unknowns(
    source: CardSource,
    declared: DeclaredCard | None,
    quality: list[CardMetric],
    energy: CardEnergy | None,
) -> list[str]:
    lines = []
    if not quality:
        lines.append("quality: not evaluated")
    elif any(metric.evaluation_set is None for metric in quality):
        lines.append("quality: the uploader's figures, on an evaluation set it did not name")
    if energy is None:
        lines.append("energy per item: not measured (no latency was measured)")
    if source == "upload" and (declared is None or not declared.intended_use):
        lines.append("intended use: not declared by the uploader")
    if source == "upload" and (declared is None or not declared.licence):
        lines.append("licence: not declared by the uploader")
    lines.append("fairness and robustness: not evaluated")
    return lines
