"""Browser hardening headers on every response: a Content-Security-Policy per kind of page,
and the headers that stop MIME sniffing, framing and referrer leaks.

The API answers JSON that no browser should ever render as a page, so its policy allows
nothing. The console (``/console/``) is same-origin ES modules and one stylesheet: no inline
script, no inline style, no third-party origin; its playground plays synthesised speech from a
``data:`` URL. FastAPI's documentation pages load Swagger UI and ReDoc from their CDN with an
inline bootstrap script, so they get a policy of their own that names exactly those origins.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

CONSOLE_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "media-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

_DOCS_CDN = "https://cdn.jsdelivr.net"
DOCS_POLICY = "; ".join(
    (
        "default-src 'none'",
        f"script-src 'self' 'unsafe-inline' {_DOCS_CDN}",
        f"style-src 'self' 'unsafe-inline' {_DOCS_CDN} https://fonts.googleapis.com",
        "font-src https://fonts.gstatic.com",
        "img-src 'self' data: https://fastapi.tiangolo.com https://cdn.redoc.ly",
        "worker-src blob:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)

DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})

COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def policy_for(path: str) -> str:
    """The Content-Security-Policy for a response to ``path``."""
    if path == "/console" or path.startswith("/console/"):
        return CONSOLE_POLICY
    if path in DOCS_PATHS:
        return DOCS_POLICY
    return API_POLICY


class SecurityHeaders:
    """Adds the headers to every HTTP response start; a header the route set itself wins."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = policy_for(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", policy)
                for name, value in COMMON_HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
