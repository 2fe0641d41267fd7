"""Maps deployment names to the endpoints that serve them, for the caller asking.

Every lookup a request makes goes through :meth:`Router.endpoint` (or :meth:`Router.visible`),
which applies the tenancy rule: a name resolves among the deployments the caller may use
(:meth:`~modelmart.tenancy.Principal.candidates`), and one it may not use is reported exactly
as one that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from modelmart.errors import DeploymentNotFound
from modelmart.serving.placement import Endpoint
from modelmart.tenancy import DeploymentAccess, Principal


@dataclass(frozen=True)
class _Entry:
    endpoint: Endpoint
    access: DeploymentAccess


class Router:
    """Live endpoints by stored deployment name. Swapping an entry is atomic for readers."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def add(self, name: str, endpoint: Endpoint, access: DeploymentAccess) -> None:
        self._entries[name] = _Entry(endpoint, access)

    def remove(self, name: str) -> Endpoint | None:
        entry = self._entries.pop(name, None)
        return entry.endpoint if entry is not None else None

    def resolve(self, principal: Principal, ref: str) -> tuple[str, Endpoint]:
        """The stored name and endpoint ``ref`` means to ``principal``; 404 otherwise."""
        for name in principal.candidates(ref):
            entry = self._entries.get(name)
            if entry is not None and principal.can_use_deployment(entry.access):
                return name, entry.endpoint
        raise not_serving(ref)

    def endpoint(self, principal: Principal, ref: str) -> Endpoint:
        return self.resolve(principal, ref)[1]

    def visible(self, principal: Principal) -> dict[str, Endpoint]:
        """Every live endpoint ``principal`` may call, by stored name."""
        return {
            name: entry.endpoint
            for name, entry in sorted(self._entries.items())
            if principal.can_use_deployment(entry.access)
        }

    def serving(self, name: str) -> Endpoint | None:
        """The endpoint stored as ``name``, for the deployment manager (no caller involved)."""
        entry = self._entries.get(name)
        return entry.endpoint if entry is not None else None

    def endpoints(self) -> dict[str, Endpoint]:
        """A snapshot of every live endpoint by name, for server-wide metrics."""
        return {name: entry.endpoint for name, entry in self._entries.items()}


def not_serving(ref: str) -> DeploymentNotFound:
    """The one answer for a deployment that is not there, or not the caller's to use."""
    return DeploymentNotFound(
        f"no deployment named {ref!r} is serving; list yours with GET /v1/deployments or "
        "deploy the model with POST /v1/deployments",
        details={"deployment": ref},
    )
