"""The authenticated caller of the current request.

The gateway's access layer sets it for each request; code that must filter by tenant (the
router, registry and deployment routes) reads it with :func:`current_principal`. With
authentication off there is no principal and nothing is filtered.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from modelmart.errors import Forbidden
from modelmart.schemas.roles import Operation, Role

CATALOGUE_OWNER = "modelmart"
"""Models owned by the built-in catalogue are visible to every organisation."""

OPERATOR_SLUG = "operator"
"""The organisation made on first start: it runs the platform and sees everything."""


@dataclass(frozen=True)
class Principal:
    org_id: int
    org_slug: str
    key_id: int
    role: Role
    is_operator: bool
    models: frozenset[str] | None  # None: any model the organisation can see
    published: frozenset[str]  # models other organisations published to this one

    def require(self, operation: Operation) -> None:
        if not self.role.allows(operation):
            raise Forbidden(
                f"this API key has the {self.role.value} role, which cannot {operation.value}; "
                "use a key with a role that can"
            )

    def can_see_model(self, model: str, owner: str) -> bool:
        if self.models is not None and model not in self.models:
            return False
        return (
            self.is_operator or owner in (self.org_slug, CATALOGUE_OWNER) or model in self.published
        )

    def can_manage(self, owner: str) -> bool:
        """Change (deploy, alias, undeploy) something ``owner`` made."""
        return self.is_operator or owner == self.org_slug


_current: ContextVar[Principal | None] = ContextVar("modelmart_principal", default=None)


def current_principal() -> Principal | None:
    return _current.get()


def set_principal(principal: Principal | None) -> None:
    _current.set(principal)
