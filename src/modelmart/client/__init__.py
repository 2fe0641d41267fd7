"""The Python SDK: :class:`Client` (blocking) and :class:`AsyncClient` (asyncio), one method
per API operation, both raising the classes of :mod:`modelmart.errors`.

The answers it returns are the wire schemas of :mod:`modelmart.schemas`, the classes the
server answers with; the ones most calls return are named here too.
"""

from modelmart.client.asyncio import AsyncClient
from modelmart.client.sync import Client
from modelmart.schemas.catalog import CatalogModel
from modelmart.schemas.deployments import DeploymentView
from modelmart.schemas.health import Health, Readiness
from modelmart.schemas.registry import AliasInfo, ModelInfo, VersionInfo

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
