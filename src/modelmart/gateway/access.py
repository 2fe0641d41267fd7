"""Who may call what, and what it costs: authentication, limits and metering around the routes.

For every request but health checks and the API docs, :class:`AccessControl`

1. reads the API key (``Authorization: Bearer <key>`` or ``X-API-Key``) and sets the request's
   :class:`~modelmart.accounts.principal.Principal`, which the routes use to filter by tenant;
2. checks the key's role covers the operation (read, inference, deploy, admin);
3. for inference: replays a stored response for a repeated ``Idempotency-Key``, then admits
   the request against rate limits, quota and budget;
4. when the route has answered 2xx and reported its usage, writes the usage record and only
   then lets the response's last byte go, so a client never holds a complete response that is
   not in the ledger (a crash in between leaves a record whose response was not delivered:
   retrying with the same idempotency key returns it without billing again).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelmart.accounts.principal import Principal, set_principal
from modelmart.billing.ledger import StoredResponse, UsageEntry
from modelmart.billing.retention import MAX_RETAINED_BODY, RetainedInput
from modelmart.errors import ModelMartError, NotReady, RateLimited, Unauthenticated
from modelmart.gateway.openai_errors import openai_error_response
from modelmart.gateway.responses import error_response
from modelmart.gateway.services import Services
from modelmart.gateway.usage import reported_usage
from modelmart.schemas.roles import Operation

PUBLIC_PATHS = frozenset(
    {"/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"}
)
# The console's static files hold no data: the page calls the API with the user's own key.
CONSOLE_PATH = "/console"
_OPENAI_PREFIXES = ("/v1/embeddings", "/v1/chat/", "/v1/completions", "/v1/audio/")
_INFERENCE_PREFIXES = (*_OPENAI_PREFIXES, "/v1/tasks/")
_DEPLOY_PREFIXES = ("/v1/registry", "/v1/deployments", "/v1/datasets", "/v1/jobs", "/v1/train")
MAX_STORED_RESPONSE = 4 * 1024 * 1024


def operation_for(method: str, path: str) -> Operation:
    """The permission a request needs, from its method and path alone."""
    if method == "POST" and (
        path.endswith((":predict", "/infer")) or path.startswith(_INFERENCE_PREFIXES)
    ):
        return Operation.INFERENCE
    if method in ("GET", "HEAD", "OPTIONS"):
        return Operation.READ
    if path.startswith(_DEPLOY_PREFIXES):
        return Operation.DEPLOY
    return Operation.ADMIN


def is_public_path(path: str) -> bool:
    """Health checks, the API docs and the console's files need no key."""
    return path in PUBLIC_PATHS or path == CONSOLE_PATH or path.startswith(CONSOLE_PATH + "/")


def is_openai_path(path: str) -> bool:
    return path.startswith(_OPENAI_PREFIXES) or (path.startswith("/v1/models") and ":" not in path)


class AccessControl:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        services: Services = scope["app"].state.services
        path: str = scope["path"]
        set_principal(None)
        if not services.settings.auth_enabled or is_public_path(path):
            await self.app(scope, receive, send)
            return
        raw_key, idempotency_key = _credentials(scope)
        try:
            principal = self._authenticate(services, raw_key)
            operation = operation_for(scope["method"], path)
            principal.require(operation)
            set_principal(principal)
            if operation is Operation.READ:
                await self.app(scope, receive, send)
                return
            if operation is not Operation.INFERENCE:
                await _audited(self.app, services, principal, scope, receive, send)
                return
            if idempotency_key is not None:
                stored = await asyncio.to_thread(
                    services.billing.ledger.replay, principal.org_id, idempotency_key
                )
                if stored is not None:
                    await _send_stored(send, stored)
                    return
            terms = await services.billing.admit(principal)
        except ModelMartError as error:
            await _send_error(scope, receive, send, error)
            return
        meter = _Meter(services, principal, scope, send, idempotency_key)
        if terms.shares_data:
            receive = meter.capture(receive)
        await self.app(scope, receive, meter.send)

    @staticmethod
    def _authenticate(services: Services, raw: str | None) -> Principal:
        if raw is None:
            raise Unauthenticated(
                "this route needs an API key: send it as 'Authorization: Bearer <key>' "
                "(the first start printed the operator's key)"
            )
        return services.accounts.authenticate(raw)


class _Meter:
    """Holds back the response's end until its usage record is durable."""

    __slots__ = (
        "_body",
        "_headers",
        "_idempotency_key",
        "_principal",
        "_request",
        "_scope",
        "_send",
        "_services",
        "_start",
        "_started",
        "_status",
    )

    def __init__(
        self,
        services: Services,
        principal: Principal,
        scope: Scope,
        send: Send,
        idempotency_key: str | None,
    ) -> None:
        self._services = services
        self._principal = principal
        self._scope = scope
        self._send = send
        self._idempotency_key = idempotency_key
        self._started = time.perf_counter()
        self._start: Message | None = None
        self._status = 500
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] | None = [] if idempotency_key else None
        self._request: list[bytes] | None = None

    def capture(self, receive: Receive) -> Receive:
        """Keep a copy of the request body (data-sharing organisations only)."""
        self._request = []
        kept = self._request

        async def receive_and_keep() -> Message:
            message = await receive()
            if message["type"] == "http.request" and sum(map(len, kept)) < MAX_RETAINED_BODY:
                kept.append(message.get("body", b""))
            return message

        return receive_and_keep

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._start = message
            self._status = message["status"]
            self._headers = message.get("headers", [])
            return
        if message["type"] != "http.response.body":
            await self._send(message)
            return
        body: bytes = message.get("body", b"")
        if self._body is not None:
            self._body.append(body)
        if message.get("more_body", False):  # a stream: headers go now, the end waits
            await self._flush_start()
            await self._send(message)
            return
        try:
            await self._settle()
        except ModelMartError as error:
            if self._start is None:  # the stream's headers are out: the client sees it cut
                raise
            self._start = None
            response = error_response(error)
            await response(self._scope, _no_body, self._send)
            return
        await self._flush_start()
        await self._send(message)

    async def _flush_start(self) -> None:
        if self._start is not None:
            start, self._start = self._start, None
            await self._send(start)

    async def _settle(self) -> None:
        usage = reported_usage(self._scope)
        if usage is None or not 200 <= self._status < 300:
            return  # failed requests are not billed; registry calls are not metered
        body = b"".join(self._body) if self._body is not None else None
        stored = (
            StoredResponse(self._status, _content_type(self._headers), body)
            if body is not None and len(body) <= MAX_STORED_RESPONSE
            else None
        )
        state = self._scope.get("state", {})
        entry = UsageEntry(
            request_id=str(state.get("request_id", "")),
            org_id=self._principal.org_id,
            key_id=self._principal.key_id,
            model=usage.model,
            version=usage.version,
            units=dict(usage.units),
            latency_ms=(time.perf_counter() - self._started) * 1000,
            idempotency_key=self._idempotency_key,
            response=stored,
        )
        try:
            await self._services.billing.settle(self._principal, entry)
        except ModelMartError:
            raise
        except Exception as exc:  # the ledger is unreachable: do not serve unbilled
            raise NotReady(
                "the usage ledger could not record this request, so it was not completed; "
                "retry shortly"
            ) from exc
        if self._request is not None:
            body = b"".join(self._request)
            if len(body) <= MAX_RETAINED_BODY:
                kept = RetainedInput(self._principal.org_id, usage.model, body)
                self._services.billing.retention.keep(kept)


async def _audited(
    app: ASGIApp,
    services: Services,
    principal: Principal,
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    """Run a change; if it succeeded, its audit entry is written before the response ends, so
    whoever reads the log after seeing the answer finds it there."""
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
            await _write_audit(services, principal, scope, status)
        await send(message)

    await app(scope, receive, observe)


async def _write_audit(services: Services, principal: Principal, scope: Scope, status: int) -> None:
    route = scope.get("route")
    action = f"{scope['method']} {getattr(route, 'path', scope['path'])}"
    client = scope.get("client")
    address = client[0] if client else ""
    details = {"status": status, "path_params": scope.get("path_params", {})}
    await asyncio.to_thread(
        services.audit.record, principal, action, scope["path"], address, details
    )


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _credentials(scope: Scope) -> tuple[str | None, str | None]:
    """The API key and the ``Idempotency-Key``, in one pass over the request's headers (ASGI
    servers give their names in lower case): ``Authorization: Bearer`` wins over
    ``X-API-Key``; the first of a repeated header counts."""
    authorization = api_key = idempotency_key = None
    for name, value in scope["headers"]:
        if name == b"authorization" and authorization is None:
            authorization = value
        elif name == b"idempotency-key" and idempotency_key is None:
            idempotency_key = value
        elif name == b"x-api-key" and api_key is None:
            api_key = value
    if authorization is not None:
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        key = token.strip() if scheme.lower() == "bearer" and token.strip() else None
    else:
        key = api_key.decode("latin-1") if api_key is not None else None
    return key, idempotency_key.decode("latin-1") if idempotency_key is not None else None


def _content_type(headers: list[tuple[bytes, bytes]]) -> str:
    for key, value in headers:
        if key.lower() == b"content-type":
            return str(value.decode("latin-1"))
    return ""


async def _send_stored(send: Send, stored: StoredResponse) -> None:
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", stored.media_type.encode("latin-1")),
        (b"content-length", str(len(stored.body)).encode()),
        (b"idempotent-replayed", b"true"),
    ]
    await send({"type": "http.response.start", "status": stored.status, "headers": headers})
    await send({"type": "http.response.body", "body": stored.body})


async def _send_error(scope: Scope, receive: Receive, send: Send, error: ModelMartError) -> None:
    headers: dict[str, Any] = {}
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after_s)
    if isinstance(error, Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if is_openai_path(scope["path"]):
        response = openai_error_response(error)
        response.headers.update(headers)
    else:
        response = error_response(error, headers=headers)
    await response(scope, receive, send)
