"""Installing the catalogue into the registry, once per server start.

Every entry becomes a model owned by ``modelmart``, and gets a new version only when none of
its versions already serves the entry's current manifest, signature and parameters: a restart
adds nothing, an upgraded catalogue adds one version per changed entry. Registering a package
reference stores its small manifest and loads nothing, so this costs milliseconds.
"""

from __future__ import annotations

import hashlib
import logging

from modelmart.catalog.cards import Catalogue, Measurements, load_measurements
from modelmart.catalog.entries import ENTRIES, OWNER, CatalogEntry
from modelmart.errors import AlreadyExists, ModelNotFound
from modelmart.registry.packages import PackageManifest
from modelmart.registry.service import Registry
from modelmart.schemas.registry import ModelInfo
from modelmart.tenancy import Principal

logger = logging.getLogger("modelmart.catalog")


def install_catalogue(
    registry: Registry,
    entries: tuple[CatalogEntry, ...] = ENTRIES,
    measurements: Measurements | None = None,
) -> Catalogue:
    """Register what is missing of ``entries`` and return the catalogue to serve.

    An entry whose packages are not installed is registered all the same (its card says how
    to install them; deploying it fails with the same advice). An entry whose name a user's
    model already holds is left alone and listed as unavailable.
    """
    measured = measurements if measurements is not None else load_measurements()
    conflicts: dict[str, str] = {}
    for entry in entries:
        conflict = _install(registry, entry, measured)
        if conflict is not None:
            logger.warning("catalogue entry %s not installed: %s", entry.name, conflict)
            conflicts[entry.name] = conflict
    return Catalogue(entries, measured, conflicts)


def manifest_digest(manifest: PackageManifest) -> str:
    """The artifact digest the registry stores for ``manifest``: the SHA-256 of its bytes."""
    return hashlib.sha256(manifest.to_bytes()).hexdigest()


def _install(registry: Registry, entry: CatalogEntry, measurements: Measurements) -> str | None:
    """Bring ``entry`` up to date in the registry; the reason when it cannot be."""
    model = _ensure_model(registry, entry)
    if model.owner != OWNER:
        return (
            f"a model called {entry.name!r} owned by {model.owner or 'nobody'!r} already "
            f"exists, and the catalogue does not add versions to it; rename or delete that "
            "model and restart the server to install this entry"
        )
    if _serves_entry(registry, entry):
        return None
    measured = measurements.models.get(entry.name)
    metrics = {m.metric: m.value for m in measured.quality} if measured else {}
    version = registry.register_package(
        entry.name, entry.manifest, entry.signature, entry.parameters, metrics
    )
    logger.info("catalogue entry %s registered as version %d", entry.name, version.version)
    return None


def _ensure_model(registry: Registry, entry: CatalogEntry) -> ModelInfo:
    try:
        return registry.get_model(entry.name)
    except ModelNotFound:
        pass
    try:
        return registry.create_model(
            Principal.single_user(),
            entry.name,
            entry.task,
            description=entry.description,
            owner=OWNER,
        )
    except AlreadyExists:  # another server sharing the database created it just now
        return registry.get_model(entry.name)


def _serves_entry(registry: Registry, entry: CatalogEntry) -> bool:
    """Whether a registered version already serves the entry exactly as it is now."""
    digest = manifest_digest(entry.manifest)
    return any(
        version.artifact_digest == digest
        and version.signature == entry.signature
        and version.parameters == entry.parameters
        for version in registry.list_versions(entry.name)
    )
