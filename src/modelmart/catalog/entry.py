"""What one catalogue entry holds. Kept apart from :mod:`modelmart.catalog.entries` so the
modules that define entries of one kind (:mod:`modelmart.catalog.vision_entries`, ...) and the
list that gathers them import it without importing each other."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelmart.registry.packages import PackageManifest
from modelmart.types import Signature, Task


class CatalogEntry(BaseModel):
    """One catalogue model: what the registry stores, plus what its card says about it.

    ``licences`` maps each distribution to the licence its own metadata or licence file
    declares, written down when the package version was pinned.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    title: str = Field(min_length=1)
    task: Task
    description: str = Field(min_length=1)
    licences: dict[str, str]
    manifest: PackageManifest
    signature: Signature
    parameters: dict[str, Any] = Field(default_factory=dict)
    programs: dict[str, str] = Field(default_factory=dict)
    """Programs the model runs as separate processes (not Python packages), each with the
    Debian packages that install it: the card is unavailable while one is missing."""
