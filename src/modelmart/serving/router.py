"""Maps deployment names to the endpoints that serve them."""

from __future__ import annotations

from collections.abc import Callable

from modelmart.errors import DeploymentNotFound
from modelmart.serving.placement import Endpoint


class Router:
    """Live endpoints by deployment name. Swapping an entry is atomic for readers."""

    def __init__(self) -> None:
        self._endpoints: dict[str, Endpoint] = {}
        # Raises DeploymentNotFound for a deployment the current caller may not use (set by
        # the gateway when accounts are on; a tenant never learns another's names).
        self.guard: Callable[[str], None] | None = None

    def add(self, name: str, endpoint: Endpoint) -> None:
        self._endpoints[name] = endpoint

    def remove(self, name: str) -> Endpoint | None:
        return self._endpoints.pop(name, None)

    def find(self, name: str) -> Endpoint | None:
        return self._endpoints.get(name)

    def get(self, name: str) -> Endpoint:
        endpoint = self._endpoints.get(name)
        if self.guard is not None:
            self.guard(name)
        if endpoint is None:
            raise DeploymentNotFound(
                f"no deployment named {name!r} is serving; list them with GET /v1/deployments "
                "or deploy the model with POST /v1/deployments",
                # With tenants, listing what serves would tell one about the others'.
                details={"deployment": name}
                if self.guard is not None
                else {"deployment": name, "serving": sorted(self._endpoints)},
            )
        return endpoint

    def names(self) -> list[str]:
        return sorted(self._endpoints)

    def endpoints(self) -> dict[str, Endpoint]:
        """A snapshot of every live endpoint by name."""
        return dict(self._endpoints)
