"""Request body limits, enforced before a handler reads the body."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from modelmart.errors import PayloadTooLarge
from modelmart.gateway.responses import error_response


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

    def __init__(self, app: ASGIApp, request_limit: int, upload_limit: int) -> None:
        self.app = app
        self.request_limit = request_limit
        self.upload_limit = upload_limit

    def _limit_for(self, scope: Scope) -> tuple[int, str]:
        if scope["method"] == "POST" and scope["path"].endswith("/versions"):
            return self.upload_limit, "upload"
        return self.request_limit, "request body"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, what = self._limit_for(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await error_response(_too_large(limit, what))(scope, receive, send)
            return
        if declared is not None:
            # The HTTP server delivers no more than the declared length: nothing to count.
            await self.app(scope, receive, send)
            return
        await self.app(scope, *_guarded(limit, what, scope, receive, send))


def _guarded(
    limit: int, what: str, scope: Scope, receive: Receive, send: Send
) -> tuple[Receive, Send]:
    """Count a streamed body; past the limit the app sees a disconnect, and whatever it then
    answers is replaced by the 413 (frameworks turn errors raised while reading into 400s)."""
    received = 0
    exceeded = False
    answered = False

    async def counting_receive() -> Message:
        nonlocal received, exceeded
        if exceeded:
            return {"type": "http.disconnect"}
        message = await receive()
        received += len(message.get("body", b""))
        if received > limit:
            exceeded = True
            return {"type": "http.disconnect"}
        return message

    async def replacing_send(message: Message) -> None:
        nonlocal answered
        if not exceeded:
            await send(message)
        elif not answered:
            answered = True
            await error_response(_too_large(limit, what))(scope, receive, send)

    return counting_receive, replacing_send


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", []):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
