"""The audit trail: every successful change is written to the audit log before its response
ends, so whoever reads the log after seeing the answer finds it there.

A route's permission dependency (:mod:`modelmart.gateway.auth`) leaves the caller and the
operation on ``request.state``; this piece reads them back when the response goes out and
records changes (``deploy`` and ``admin`` operations) that succeeded. Reads and inference are
not audited (inference is in the usage ledger), except a text request under a PII policy that
is not ``off``: it is recorded with the policy in force and the number of entities found per
type, never the texts or what was found in them.

Every record names the PII policy in force (``details.pii_policy``): the request's, on a text
route, else the caller's own (the strictest of its organisation's and its key's).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelmart.accounts.audit import AuditLog
from modelmart.gateway.auth import OPERATION_STATE, PRINCIPAL_STATE
from modelmart.gateway.pii import PII_GUARD_STATE
from modelmart.privacy.guard import PiiGuard
from modelmart.schemas.roles import Operation
from modelmart.tenancy import Principal

_AUDITED = frozenset({Operation.DEPLOY, Operation.ADMIN})


class AuditTrail:
    """ASGI middleware; ``audit`` finds the log (built with the services at start-up)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif (
                message["type"] == "http.response.body"
                and not message.get("more_body", False)
                and status < 400
            ):
                await _record(scope, status)
            await send(message)

        await self.app(scope, receive, observe)


async def _record(scope: Scope, status: int) -> None:
    state = scope.get("state", {})
    principal = state.get(PRINCIPAL_STATE)
    guard = state.get(PII_GUARD_STATE)
    guarded = isinstance(guard, PiiGuard) and guard.active
    if (
        not isinstance(principal, Principal)
        or not principal.accounts
        or (state.get(OPERATION_STATE) not in _AUDITED and not guarded)
    ):
        return
    audit: AuditLog = scope["app"].state.services.audit
    route = scope.get("route")
    action = f"{scope['method']} {getattr(route, 'path', scope['path'])}"
    client = scope.get("client")
    details: dict[str, Any] = {"status": status, "path_params": scope.get("path_params", {})}
    if isinstance(guard, PiiGuard):
        details |= {"pii_policy": guard.policy.value, "pii_entities": guard.counts()}
    else:
        details["pii_policy"] = principal.pii_policy.value
    await asyncio.to_thread(
        audit.record, principal, action, scope["path"], client[0] if client else "", details
    )
