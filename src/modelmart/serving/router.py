"""Maps deployment names to the endpoints that serve them."""

from __future__ import annotations

from modelmart.errors import DeploymentNotFound
from modelmart.serving.placement import Endpoint


class Router:
    """Live endpoints by deployment name. Swapping an entry is atomic for readers."""

    def __init__(self) -> None:
        self._endpoints: dict[str, Endpoint] = {}

    def add(self, name: str, endpoint: Endpoint) -> None:
        self._endpoints[name] = endpoint

    def remove(self, name: str) -> Endpoint | None:
        return self._endpoints.pop(name, None)

    def find(self, name: str) -> Endpoint | None:
        return self._endpoints.get(name)

    def get(self, name: str) -> Endpoint:
        endpoint = self._endpoints.get(name)
        if endpoint is None:
            raise DeploymentNotFound(
                f"no deployment named {name!r} is serving; list them with GET /v1/deployments "
                "or deploy the model with POST /v1/deployments",
                details={"deployment": name, "serving": sorted(self._endpoints)},
            )
        return endpoint

    def names(self) -> list[str]:
        return sorted(self._endpoints)

    def endpoints(self) -> dict[str, Endpoint]:
        """A snapshot of every live endpoint by name."""
        return dict(self._endpoints)
