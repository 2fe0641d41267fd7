"""Request body limits, enforced before a handler reads the body."""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelmart.errors import ModelMartError, PayloadTooLarge
from modelmart.gateway.responses import error_response

RenderError = Callable[[Scope, ModelMartError], Response]
"""How an error answers a request: the OpenAI-compatible routes have a shape of their own."""


def in_modelmart_shape(scope: Scope, error: ModelMartError) -> Response:
    return error_response(error)


def _too_large(limit: int, what: str) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the {what} is larger than the limit of {limit} bytes; send less, or raise "
        "MODELMART_MAX_REQUEST_BYTES / MODELMART_MAX_UPLOAD_BYTES on the server",
        details={"limit_bytes": limit},
    )


class BodySizeLimit:
    """Artifact uploads get ``upload_limit`` bytes, every other request ``request_limit``.
    A declared Content-Length over the limit is refused at once; a streamed body is counted
    as it arrives."""

    def __init__(
        self,
        app: ASGIApp,
        request_limit: int,
        upload_limit: int,
        render: RenderError = in_modelmart_shape,
    ) -> None:
        self.app = app
        self.request_limit = request_limit
        self.upload_limit = upload_limit
        self.render = render

    def _limit_for(self, scope: Scope) -> tuple[int, str]:
        if scope["method"] == "POST" and scope["path"].endswith("/versions"):
            return self.upload_limit, "upload"
        return self.request_limit, "request body"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, what = self._limit_for(scope)

        def refusal() -> Response:
            return self.render(scope, _too_large(limit, what))

        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await refusal()(scope, receive, send)
            return
        if declared is not None:
            # The HTTP server delivers no more than the declared length: nothing to count.
            await self.app(scope, receive, send)
            return
        await _StreamedBody(limit, refusal).serve(self.app, scope, receive, send)


class _StreamedBody:
    """A body without a declared length (``Transfer-Encoding: chunked``), counted as it
    arrives. Past the limit the app sees a disconnect; whatever it then does — answer, or
    fail on the disconnect (Starlette raises ``ClientDisconnect`` from ``request.body()``,
    which would otherwise end as a 500) — the client gets the 413."""

    def __init__(self, limit: int, refusal: Callable[[], Response]) -> None:
        self.limit = limit
        self.refusal = refusal
        self.received = 0
        self.exceeded = False
        self.started = False  # the app began its own answer before the limit was crossed
        self.answered = False

    async def serve(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        async def counting_receive() -> Message:
            if self.exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.exceeded = True
                return {"type": "http.disconnect"}
            return message

        async def replacing_send(message: Message) -> None:
            if not self.exceeded or self.started:
                self.started = self.started or message["type"] == "http.response.start"
                await send(message)
            elif not self.answered:
                await self._refuse(scope, receive, send)

        try:
            await app(scope, counting_receive, replacing_send)
        except Exception:
            if not self.exceeded or self.started:
                raise
        if self.exceeded and not self.started and not self.answered:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.answered = True
        await self.refusal()(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
