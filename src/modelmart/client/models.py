"""The typed shapes the SDK hands back, one per kind of API response.

Where the server answers with a class outside ``gateway`` (``ModelInfo``, ``VersionInfo``,
``DeploymentView``, ``CatalogModel``), the SDK parses into that very class. The few answers
that only ``gateway`` describes (which the SDK must not import) are defined here; fields a
newer server adds are ignored, not rejected.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from modelmart.catalog.views import CatalogModel
from modelmart.deploy.views import DeploymentView
from modelmart.registry.views import AliasInfo, ModelInfo, VersionInfo

__all__ = [
    "AliasInfo",
    "CatalogModel",
    "DeploymentView",
    "Health",
    "ModelInfo",
    "Readiness",
    "VersionInfo",
]


class _Answer(BaseModel):
    # An older SDK must keep working against a newer server that returns more fields.
    model_config = ConfigDict(extra="ignore", frozen=True)


class Health(_Answer):
    """The answer of ``/healthz``: the server process is up."""

    status: str


class Readiness(_Answer):
    """The answer of ``/readyz``. ``ready`` is false while any deployment is still loading;
    ``deployments`` maps each deployment name to its state."""

    ready: bool
    status: str
    deployments: dict[str, str] = Field(default_factory=dict)
