"""ModelMart: self-hosted AI models as a service.

The public surface is small on purpose: the SDK clients, the settings object, the error base
class and the signature types. Everything else may change between releases.
"""

from __future__ import annotations

from modelmart.client import AsyncClient, Client
from modelmart.config import Settings
from modelmart.errors import ModelMartError
from modelmart.types import Datatype, Signature, TensorSpec

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "Client",
    "Datatype",
    "ModelMartError",
    "Settings",
    "Signature",
    "TensorSpec",
    "__version__",
]
