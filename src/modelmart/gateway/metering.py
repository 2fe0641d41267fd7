"""What an inference costs: the routes that bill opt in, and their usage is durable before their
response ends.

A route bills by declaring its caller as ``principal: Caller`` and living on a router whose
``route_class`` is :class:`MeteredRoute` (:class:`MeteredOpenAIRoute` on the OpenAI-compatible
routes, which answer failures in OpenAI's shape); it reports what it used with
:func:`~modelmart.gateway.usage.report_usage`::

    router = APIRouter(route_class=MeteredRoute)

    @router.post("/v1/models/{name}:predict")
    async def predict(name: str, request: Request, principal: Caller) -> Response:
        ...
        report_usage(request, prediction.model, prediction.version, {"items": rows})

With accounts on, :func:`admit_inference`, the route's permission,

1. admits callers whose key's role may call models;
2. for a repeated ``Idempotency-Key``, answers with the response stored for it (marked
   ``Idempotent-Replayed: true``) when it is the same request — same API key, method, path
   and body — and refuses any other request with ``422 idempotency_key_reused``;
3. admits the request against rate limits, quota and budget (a request its deployment's
   queue then refuses, ``503 overloaded``, has used one request of the per-minute limits but
   no units, quota or budget: those count only settled usage);
4. leaves a ticket on ``request.state`` for the route class.

Inference routes pass their request's ``is_disconnected`` to the deployment they call: a
queued request whose client left is dropped before it reaches the model, and not billed.

When the route has answered 2xx and reported its usage, the route class writes the usage
record and only then lets the response's last byte go, so a client never holds a complete
response that is not in the ledger (a crash in between leaves a record whose response was not
delivered: a retry with the same idempotency key returns it without billing again). A
stream's headers and first chunks go out at once; its end waits. With accounts off nothing is
metered.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from modelmart.billing.ledger import StoredResponse, UsageEntry
from modelmart.billing.retention import MAX_RETAINED_BODY, RetainedInput
from modelmart.billing.service import Billing
from modelmart.errors import InvalidRequest, ModelMartError, NotReady
from modelmart.gateway.auth import requires_inference
from modelmart.gateway.energy import energy_headers
from modelmart.gateway.openai_errors import (
    Handler,
    in_openai_shape,
    openai_error_response,
)
from modelmart.gateway.responses import error_response
from modelmart.gateway.services import Services
from modelmart.gateway.usage import reported_usage
from modelmart.tenancy import Principal

MAX_STORED_RESPONSE = 4 * 1024 * 1024
"""Responses up to this size are kept for an idempotent replay."""

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 255
"""Characters in an ``Idempotency-Key`` (the ledger's column)."""
REPLAYED_HEADER = "Idempotent-Replayed"
_TICKET = "metering_ticket"

RenderError = Callable[[ModelMartError], Response]


@dataclass(frozen=True)
class _Ticket:
    """An admitted request, as its usage record will need it."""

    principal: Principal
    idempotency_key: str | None
    request_hash: str | None
    retained: bytes | None  # the request body, kept for a data-sharing organisation
    started: float


class _Replay(Exception):
    """The request was served before: answer with its stored response, run nothing."""

    def __init__(self, stored: StoredResponse) -> None:
        super().__init__("an idempotent replay")
        self.stored = stored


def request_fingerprint(key_id: int, method: str, target: str, body: bytes) -> str:
    """What an idempotency key is bound to: the API key, method, path (and query) and body,
    as sha256 hex. Each part is length-prefixed, so no two requests share their bytes."""
    digest = hashlib.sha256()
    for part in (str(key_id).encode(), method.encode(), target.encode("utf-8"), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


async def admit_inference(request: Request) -> Principal:
    """The caller of an inference route, admitted (see the module's docstring)."""
    principal = await requires_inference(request)
    services: Services = request.app.state.services
    if not services.settings.auth_enabled:
        return principal
    started = time.perf_counter()
    key = _idempotency_key(request)
    request_hash = None
    if key is not None:
        request_hash = request_fingerprint(
            principal.key_id, request.method, _target(request), await request.body()
        )
        stored = await asyncio.to_thread(
            services.billing.ledger.replay, principal.org_id, key, request_hash
        )
        if stored is not None:
            raise _Replay(stored)
    terms = await services.billing.admit(principal)
    # Starlette keeps the body it read, so the route (and its form parser) read it again.
    retained = await request.body() if terms.shares_data else None
    ticket = _Ticket(
        principal=principal,
        idempotency_key=key,
        request_hash=request_hash,
        retained=retained if retained is not None and len(retained) <= MAX_RETAINED_BODY else None,
        started=started,
    )
    setattr(request.state, _TICKET, ticket)
    return principal


Caller = Annotated[Principal, Depends(admit_inference)]
"""The caller of an inference route: declaring it makes the route bill (on a metered route)."""

METERED_PERMISSION = admit_inference
"""The permission dependency of the routes that bill."""


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is not None and not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY:
        raise InvalidRequest(
            f"the {IDEMPOTENCY_HEADER} header has {len(key)} characters; send 1 to "
            f"{MAX_IDEMPOTENCY_KEY}, one unique value per request (a UUID fits)",
            details={"header": IDEMPOTENCY_HEADER},
        )
    return key


def _target(request: Request) -> str:
    query = request.url.query
    return f"{request.url.path}?{query}" if query else request.url.path


class MeteredRoute(APIRoute):
    """A route that bills: its response ends once its usage record is durable."""

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()
        render = self.render_error

        async def handle(request: Request) -> Response:
            try:
                response = await handler(request)
            except _Replay as replay:
                return _replayed(replay.stored)
            except ModelMartError as error:
                return render(error)
            _name_energy(request, response)
            ticket = getattr(request.state, _TICKET, None)
            if not isinstance(ticket, _Ticket):  # accounts off: nothing to bill
                return response
            billing: Billing = request.app.state.services.billing
            return _MeteredResponse(response, _Meter(billing, ticket, render))

        return handle

    def render_error(self, error: ModelMartError) -> Response:
        return error_response(error)


class MeteredOpenAIRoute(MeteredRoute):
    """A route that bills and answers failures in OpenAI's error shape."""

    def get_route_handler(self) -> Handler:
        return in_openai_shape(super().get_route_handler())

    def render_error(self, error: ModelMartError) -> Response:
        return openai_error_response(error)


def _name_energy(request: Request, response: Response) -> None:
    """The energy a route reported, in headers too: what a body that is not JSON (audio,
    subtitles) has no ``usage`` for. A stream reports its usage at its end, in its body."""
    usage = reported_usage(request.scope)
    if usage is not None:
        response.headers.update(energy_headers(request, usage.energy_uj))


def _replayed(stored: StoredResponse) -> Response:
    return Response(
        stored.body,
        status_code=stored.status,
        media_type=stored.media_type or None,
        headers={REPLAYED_HEADER: "true"},
    )


class _MeteredResponse(Response):
    """``response``, sent through a :class:`_Meter`.

    It renders nothing itself (so :meth:`Response.__init__` is not called): its status and
    headers are the wrapped response's own.
    """

    def __init__(self, response: Response, meter: _Meter) -> None:
        self.status_code = response.status_code
        self.raw_headers = response.raw_headers
        self.background = None  # the wrapped response runs its own
        self._response = response
        self._meter = meter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._response(scope, receive, self._meter.sending(scope, send))


class _Meter:
    """Holds back a response's end until its usage record is durable."""

    def __init__(self, billing: Billing, ticket: _Ticket, render: RenderError) -> None:
        self._billing = billing
        self._ticket = ticket
        self._render = render
        self._start: Message | None = None
        self._status = 500
        self._content_type = ""
        self._body: list[bytes] | None = [] if ticket.idempotency_key else None

    def sending(self, scope: Scope, send: Send) -> Send:
        async def send_metered(message: Message) -> None:
            if message["type"] == "http.response.start":
                self._hold(message)
            elif message["type"] != "http.response.body":
                await send(message)
            elif message.get("more_body", False):  # a stream: headers go now, the end waits
                self._keep(message)
                await self._flush_start(send)
                await send(message)
            else:
                self._keep(message)
                await self._end(scope, send, message)

        return send_metered

    def _hold(self, start: Message) -> None:
        self._start = start
        self._status = start["status"]
        for name, value in start.get("headers", []):
            if name.lower() == b"content-type":
                self._content_type = value.decode("latin-1")

    def _keep(self, message: Message) -> None:
        if self._body is not None:
            self._body.append(message.get("body", b""))

    async def _flush_start(self, send: Send) -> None:
        if self._start is not None:
            start, self._start = self._start, None
            await send(start)

    async def _end(self, scope: Scope, send: Send, last: Message) -> None:
        try:
            await self._settle(scope)
        except ModelMartError as error:
            if self._start is None:  # the stream's headers are out: the client sees it cut
                raise
            self._start = None
            await self._render(error)(scope, _no_body, send)
            return
        await self._flush_start(send)
        await send(last)

    async def _settle(self, scope: Scope) -> None:
        usage = reported_usage(scope)
        if usage is None or not 200 <= self._status < 300:
            return  # failed requests are not billed
        ticket = self._ticket
        entry = UsageEntry(
            request_id=str(scope.get("state", {}).get("request_id", "")),
            org_id=ticket.principal.org_id,
            key_id=ticket.principal.key_id,
            model=usage.model,
            version=usage.version,
            units=dict(usage.units),
            latency_ms=(time.perf_counter() - ticket.started) * 1000,
            idempotency_key=ticket.idempotency_key,
            response=self._stored(),
            request_hash=ticket.request_hash,
            energy_uj=usage.energy_uj,
        )
        try:
            await self._billing.settle(ticket.principal, entry)
        except ModelMartError:
            raise
        except Exception as exc:  # the ledger is unreachable: do not serve unbilled
            raise NotReady(
                "the usage ledger could not record this request, so it was not completed; "
                "retry shortly"
            ) from exc
        if ticket.retained is not None:
            kept = RetainedInput(ticket.principal.org_id, usage.model, ticket.retained)
            self._billing.retention.keep(kept)

    def _stored(self) -> StoredResponse | None:
        if self._body is None:
            return None
        body = b"".join(self._body)
        if len(body) > MAX_STORED_RESPONSE:
            return None
        return StoredResponse(self._status, self._content_type, body)


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}
