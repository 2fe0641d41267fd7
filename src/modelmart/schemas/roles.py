"""Roles of members and keys, and the operations each may perform.

A wire schema: keys and members are created with a role, and the SDK and CLI name them.
"""

from __future__ import annotations

from enum import StrEnum


class Operation(StrEnum):
    """What a request does, as far as permissions go."""

    READ = "read"  # list and show models, deployments, usage, invoices
    INFERENCE = "inference"  # call a deployment
    DEPLOY = "deploy"  # register versions, deploy, scale, undeploy
    ADMIN = "admin"  # keys, members, plans, prices, budgets, audit log


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    DEVELOPER = "developer"
    VIEWER = "viewer"
    # A key that may only call models: what a customer embeds in an application.
    INFERENCE = "inference"

    def allows(self, operation: Operation) -> bool:
        return operation in _ALLOWED[self]

    def may_grant(self, other: Role) -> bool:
        """A key or member can hand out its own powers, never more."""
        return _ALLOWED[other] <= _ALLOWED[self]


_ALLOWED: dict[Role, frozenset[Operation]] = {
    Role.OWNER: frozenset(Operation),
    Role.ADMIN: frozenset(Operation),
    Role.DEVELOPER: frozenset({Operation.READ, Operation.INFERENCE, Operation.DEPLOY}),
    Role.VIEWER: frozenset({Operation.READ}),
    Role.INFERENCE: frozenset({Operation.INFERENCE}),
}
