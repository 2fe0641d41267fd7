"""Model cards: each catalogue entry with its measured quality and latency (``measured.json``,
written by ``python -m modelmart.catalog.evaluate``), its size on disk and whether its
packages are installed here.

Size and availability are read from the installed packages' metadata each time a card is
built, so a ``pip install`` shows on the next listing without a restart.
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelmart.catalog.entries import CatalogEntry, entry_named
from modelmart.catalog.programs import missing_programs, programs_size
from modelmart.errors import ModelMartError, NotReady
from modelmart.registry.packages import PackageManifest, check_installed
from modelmart.schemas.catalog import Latency, Measurement, ModelCard

MEASURED_FILE = "measured.json"


class MeasuredModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    latency: Latency
    quality: list[Measurement]


class Measurements(BaseModel):
    """The contents of ``measured.json``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    measured_at: str = ""
    notes: str = ""
    models: dict[str, MeasuredModel] = Field(default_factory=dict)


def load_measurements() -> Measurements:
    """The measurements shipped with the package; none (empty cards) when the file is absent."""
    source = importlib.resources.files("modelmart.catalog").joinpath(MEASURED_FILE)
    if not source.is_file():
        return Measurements()
    try:
        return Measurements.model_validate_json(source.read_bytes())
    except ValidationError as exc:
        raise ModelMartError(
            f"modelmart/catalog/{MEASURED_FILE} is not valid ({exc}); regenerate it with "
            "python -m modelmart.catalog.evaluate"
        ) from exc


def unavailable_reason(manifest: PackageManifest) -> str | None:
    """Why the manifest's packages cannot be loaded here (with the pip command), or None."""
    try:
        check_installed(manifest)
    except NotReady as exc:
        return exc.message
    return None


def installed_size(manifest: PackageManifest) -> int | None:
    """Bytes on disk of the files the manifest names, or of its whole packages when it names
    none; None when a package is missing or does not record its files."""
    targets = [
        "/".join(part for part in (entry.module.replace(".", "/"), entry.path) if part)
        for entry in manifest.files.values()
    ]
    total = 0
    for distribution in manifest.packages:
        try:
            files = importlib.metadata.files(distribution)
        except importlib.metadata.PackageNotFoundError:
            return None
        if files is None:
            return None
        total += sum(
            file.size or 0
            for file in files
            if not targets or any(_is_within(str(file), target) for target in targets)
        )
    return total


def _is_within(path: str, target: str) -> bool:
    return path == target or path.startswith(f"{target}/")


def _size(entry: CatalogEntry) -> int | None:
    """A model that runs a program takes what the program's Debian packages take."""
    return programs_size(entry.programs) if entry.programs else installed_size(entry.manifest)


def build_card(
    entry: CatalogEntry, measurements: Measurements, conflict: str | None = None
) -> ModelCard:
    """The card of ``entry``; ``conflict`` makes it unavailable for a reason of the caller's."""
    measured = measurements.models.get(entry.name)
    reason = conflict or unavailable_reason(entry.manifest) or missing_programs(entry.programs)
    return ModelCard(
        name=entry.name,
        title=entry.title,
        task=entry.task,
        description=entry.description,
        runtime=entry.manifest.runtime,
        format=entry.manifest.format,
        packages=dict(entry.manifest.packages),
        licences=dict(entry.licences),
        size_bytes=_size(entry),
        signature=entry.signature,
        latency=measured.latency if measured else None,
        quality=list(measured.quality) if measured else [],
        available=reason is None,
        unavailable_reason=reason,
    )


class Catalogue:
    """The catalogue as this server installed it.

    ``conflicts`` maps entry names to why they were not installed (a model of that name that
    ModelMart does not own); those entries are listed as unavailable.
    """

    def __init__(
        self,
        entries: tuple[CatalogEntry, ...],
        measurements: Measurements,
        conflicts: Mapping[str, str] | None = None,
    ) -> None:
        self.entries = entries
        self._measurements = measurements
        self._conflicts = dict(conflicts or {})

    def card(self, name: str) -> ModelCard:
        """The card of entry ``name``; NotFound listing the entries when there is none."""
        entry = entry_named(self.entries, name)
        return build_card(entry, self._measurements, self._conflicts.get(name))

    def cards(self) -> list[ModelCard]:
        return [self.card(entry.name) for entry in self.entries]
