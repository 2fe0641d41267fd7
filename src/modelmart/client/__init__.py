"""The Python SDK: :class:`Client` (blocking) and :class:`AsyncClient` (asyncio), one method
per API operation, both raising the classes of :mod:`modelmart.errors`."""

from modelmart.client.asyncio import AsyncClient
from modelmart.client.models import (
    AliasInfo,
    CatalogModel,
    DeploymentView,
    Health,
    ModelInfo,
    Readiness,
    VersionInfo,
)
from modelmart.client.sync import Client

__all__ = [
    "AliasInfo",
    "AsyncClient",
    "CatalogModel",
    "Client",
    "DeploymentView",
    "Health",
    "ModelInfo",
    "Readiness",
    "VersionInfo",
]
