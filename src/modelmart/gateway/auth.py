"""Who may call a route: every route declares one of these dependencies, next to the route.

A route (or its router, with ``dependencies=``) names what it needs and receives the caller as
an explicit :class:`~modelmart.tenancy.Principal`, which it hands to the services::

    @router.get("/v1/registry/models")
    def list_models(principal: Reader, services: ServicesDep) -> ...

``Authenticated`` takes any usable key; ``Reader``, ``Deployer`` and ``Admin`` need a key
whose role allows that operation (inference routes declare theirs through
:mod:`modelmart.gateway.metering`, which also bills them); ``OperatorOnly`` is the platform's
operator; :func:`public` marks the few routes that
need no key on purpose (health probes, the docs, the console's static files). A test walks
every route of the app and fails on one that declares none of them.

With accounts off the caller is :meth:`Principal.single_user` and no key is read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import Headers

from modelmart.errors import Forbidden, Unauthenticated
from modelmart.gateway.services import Services
from modelmart.schemas.roles import Operation
from modelmart.tenancy import Principal

_SINGLE_USER = Principal.single_user()

PRINCIPAL_STATE = "principal"
"""``request.state`` attribute holding the caller once a permission was checked: the audit
trail reads it to record who changed something."""

OPERATION_STATE = "operation"


def api_key(headers: Headers) -> str | None:
    """``Authorization: Bearer <key>`` (which wins) or ``X-API-Key: <key>``."""
    authorization = headers.get("authorization")
    if authorization is not None:
        scheme, _, token = authorization.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return headers.get("x-api-key")


async def authenticate(request: Request) -> Principal:
    """The caller of ``request``: 401 without a usable key when accounts are on."""
    services: Services = request.app.state.services
    if not services.settings.auth_enabled:
        return _SINGLE_USER
    raw = api_key(request.headers)
    if raw is None:
        raise Unauthenticated(
            "this route needs an API key: send it as 'Authorization: Bearer <key>' "
            "(the first start printed the operator's key)"
        )
    return await services.accounts.authenticate(raw)


def requires(operation: Operation) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that admits callers whose role allows ``operation``."""

    async def permission(request: Request) -> Principal:
        principal = await authenticate(request)
        principal.require(operation)
        setattr(request.state, PRINCIPAL_STATE, principal)
        setattr(request.state, OPERATION_STATE, operation)
        return principal

    permission.__name__ = f"requires_{operation.value}"
    permission.__qualname__ = permission.__name__
    return permission


async def requires_key(request: Request) -> Principal:
    """Any usable key, whatever its role: for the caller to learn who it is."""
    principal = await authenticate(request)
    setattr(request.state, PRINCIPAL_STATE, principal)
    return principal


requires_read = requires(Operation.READ)
requires_inference = requires(Operation.INFERENCE)
requires_deploy = requires(Operation.DEPLOY)
requires_admin = requires(Operation.ADMIN)


async def requires_operator(request: Request) -> Principal:
    """The platform's operator (any role that reads): server-wide figures name every tenant."""
    principal = await requires_read(request)
    if not principal.is_operator:
        raise Forbidden("only the platform's operator may read this; use an operator key")
    return principal


async def public() -> None:
    """Declares a route open to anyone, on purpose: it must name no tenant's objects."""


PERMISSIONS: frozenset[Callable[..., object]] = frozenset(
    {
        requires_key,
        requires_read,
        requires_inference,
        requires_deploy,
        requires_admin,
        requires_operator,
        public,
    }
)
"""Every dependency that declares who may call a route."""

Authenticated = Annotated[Principal, Depends(requires_key)]
Reader = Annotated[Principal, Depends(requires_read)]
Deployer = Annotated[Principal, Depends(requires_deploy)]
Admin = Annotated[Principal, Depends(requires_admin)]
OperatorOnly = Annotated[Principal, Depends(requires_operator)]
Public = Depends(public)
