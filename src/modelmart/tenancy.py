"""The one tenancy rule: who is calling, which names they mean, and what they may see, use
and change. Every service that looks an object up by a name a caller sent goes through here.

Names are scoped per organisation. An organisation's models, deployments and datasets are
stored under ``org:name``; the platform's (the catalogue's, the operator's, and everything
made with accounts off) under the bare ``name``. A caller refers to its own objects by their
bare name and to another organisation's (one published to it) as ``org:name``; a bare name
resolves to the caller's own object first, then the platform's, then one published to the
caller. No organisation can take a platform name (the catalogue's default deployment names
included), because its names always carry its prefix.

An object a caller may not see is reported exactly as one that does not exist: the services
raise the same error, with the same message, for both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from modelmart.errors import Forbidden, InvalidRequest
from modelmart.schemas.pii import PiiPolicy
from modelmart.schemas.roles import Operation, Role

CATALOGUE_OWNER = "modelmart"
"""Models owned by the built-in catalogue are visible to every organisation."""

OPERATOR_SLUG = "operator"
"""The organisation made on first start: it runs the platform and sees everything."""

PLATFORM_OWNERS = frozenset({"", OPERATOR_SLUG})
"""Owners of the platform's own deployments and samples ("" when accounts are off)."""

NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{0,127}$")  # anchored for JSON Schema; fullmatch here
"""What a model, deployment or dataset may be called within an organisation."""

SEPARATOR = ":"
"""Between an organisation and a name in a qualified name (``acme:iris``). Model names may
not contain it, and it needs no escaping in a URL path."""


@dataclass(frozen=True)
class Principal:
    """The caller of one request, passed explicitly from the route to the services.

    With accounts off every request comes from :meth:`single_user`, which may do anything
    and names things in the platform's namespace.
    """

    org_id: int
    org_slug: str
    key_id: int
    role: Role
    is_operator: bool
    models: frozenset[str] | None  # the key's model scope (qualified names); None: any
    published: frozenset[str]  # qualified names of models other organisations published to it
    accounts: bool = True
    # The strictest of its organisation's and its key's PII policies (modelmart.schemas.pii).
    pii_policy: PiiPolicy = PiiPolicy.OFF

    @classmethod
    def single_user(cls) -> Principal:
        """The caller when accounts are off: a private install's one user."""
        return cls(
            org_id=0,
            org_slug="",
            key_id=0,
            role=Role.OWNER,
            is_operator=True,
            models=None,
            published=frozenset(),
            accounts=False,
        )

    def require(self, operation: Operation) -> None:
        if not self.role.allows(operation):
            raise Forbidden(
                f"this API key has the {self.role.value} role, which cannot {operation.value}; "
                "use a key with a role that can"
            )

    # --- names --------------------------------------------------------------------------

    @property
    def namespace(self) -> str:
        """Where this caller's new objects are named: "" for the platform's namespace."""
        return "" if self.is_operator else self.org_slug

    @property
    def owner(self) -> str:
        """The owner recorded on what this caller makes."""
        return self.org_slug

    def qualify(self, name: str) -> str:
        """The stored name of a new object this caller calls ``name``.

        A name already qualified with the caller's own organisation is taken as it is; any
        other organisation's prefix is refused, whether that organisation exists or not.
        """
        owner, found, _ = name.partition(SEPARATOR)
        if found:
            if owner != self.namespace or not self.namespace:
                raise InvalidRequest(
                    f"{name!r} names another organisation's object; what you create is named "
                    f"in your own organisation: drop the {owner + SEPARATOR!r} prefix",
                    details={"name": name},
                )
            return name
        return f"{self.namespace}{SEPARATOR}{name}" if self.namespace else name

    def new_name(self, kind: str, name: str) -> str:
        """:meth:`qualify`, with the caller's own part checked by :func:`check_name`."""
        stored = self.qualify(name)
        own = stored.removeprefix(f"{self.namespace}{SEPARATOR}") if self.namespace else stored
        check_name(kind, own)
        return stored

    def candidates(self, ref: str) -> list[str]:
        """The stored names a reference may mean, in the order they are tried."""
        if SEPARATOR in ref:
            return [ref]
        own = self.qualify(ref)
        names = [own] if own == ref else [own, ref]
        names += sorted(p for p in self.published if p.partition(SEPARATOR)[2] == ref)
        return names

    # --- what may be seen, used and changed ----------------------------------------------

    def in_scope(self, model: str) -> bool:
        """Whether the key's model scope covers ``model`` (a stored name)."""
        return self.models is None or model in self.models

    def can_see_model(self, model: str, owner: str) -> bool:
        """Read, deploy and call: its own, the catalogue's and models published to it."""
        if not self.in_scope(model):
            return False
        return (
            self.is_operator or owner in (self.org_slug, CATALOGUE_OWNER) or model in self.published
        )

    def can_manage(self, owner: str) -> bool:
        """Change (push, alias, deploy, scale, undeploy) something ``owner`` made."""
        return self.is_operator or owner == self.org_slug

    def can_see_owned(self, owner: str) -> bool:
        """Datasets: its own and the platform's samples (owner "")."""
        return self.is_operator or owner in ("", self.org_slug)

    def can_see_private(self, owner: str) -> bool:
        """Jobs, keys, usage, invoices: the organisation's alone (the operator sees all)."""
        return self.is_operator or owner == self.org_slug

    def can_use_deployment(self, deployment: DeploymentAccess) -> bool:
        """Call or read a deployment.

        The platform's deployments, and a model owner's own (which serve the organisations it
        published the model to), are shared with whoever may see their model; any other
        deployment belongs to its maker alone.
        """
        shared = deployment.owner in PLATFORM_OWNERS or deployment.owner == deployment.model_owner
        return (shared or self.can_manage(deployment.owner)) and self.can_see_model(
            deployment.model, deployment.model_owner
        )

    def find(self, ref: str, names: Iterable[str]) -> str | None:
        """The first stored name ``ref`` may mean among ``names`` (which exist), if any."""
        existing = set(names)
        return next((name for name in self.candidates(ref) if name in existing), None)


@dataclass(frozen=True)
class DeploymentAccess:
    """What the rule needs to know of a deployment: who made it and what it serves."""

    owner: str
    model: str
    model_owner: str


def check_name(kind: str, name: str) -> str:
    """``name``, when :data:`NAME` allows it for a ``kind`` ("model", "dataset")."""
    if not NAME.fullmatch(name):
        raise InvalidRequest(
            f"{kind} name {name!r} is not valid; use 1 to 128 letters, digits, '.', '_' or "
            "'-', starting with a letter or digit"
        )
    return name


def bare_name(name: str) -> str:
    """``iris`` for ``acme:iris``: the name without its organisation."""
    return name.rpartition(SEPARATOR)[2]
