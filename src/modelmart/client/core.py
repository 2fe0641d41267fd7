"""What :class:`~modelmart.client.Client` and :class:`~modelmart.client.AsyncClient` share:
building requests, reading answers and turning error bodies back into ModelMart errors.

Every API operation is written once, as a *flow*: a generator that yields a :class:`Call`,
receives the :class:`httpx.Response` and returns the parsed result. A flow may yield several
calls (``push_version`` creates a missing model first). The two clients differ only in how
they send a call, so each drives flows with :func:`drive` or :func:`drive_async`::

    def get_model(name: str) -> Flow[ModelInfo]:
        response = yield Call("GET", f"/v1/registry/models/{segment(name)}")
        return parse(response, ModelInfo)
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Generator, Mapping
from contextlib import closing
from dataclasses import dataclass
from typing import Any, TypeVar, cast
from urllib.parse import quote

import httpx
import orjson
from pydantic import BaseModel, ValidationError

from modelmart.errors import (
    ModelMartError,
    NotReady,
    ServerUnreachable,
    ValidationFailed,
    error_class_for,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

Flow = Generator["Call", httpx.Response, T]
"""An API operation: yields the calls it needs, receives each response, returns its result."""

_JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


@dataclass(frozen=True)
class Call:
    """One HTTP request, relative to the client's base URL.

    ``json`` is encoded with orjson, so NumPy arrays may be sent as they are. ``files`` and
    ``data`` make a multipart body. ``waits_on_server`` lifts the read timeout for calls
    that return only once the server has finished slow work (loading model instances).
    """

    method: str
    path: str
    params: Mapping[str, str] | None = None
    json: Any = None
    files: Mapping[str, Any] | None = None
    data: Mapping[str, str] | None = None
    waits_on_server: bool = False

    def build(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        """The request for ``http``: its base URL, headers and timeout applied."""
        timeout = http.timeout
        if self.waits_on_server:
            timeout = httpx.Timeout(
                connect=timeout.connect, read=None, write=timeout.write, pool=timeout.pool
            )
        content, headers = None, None
        if self.json is not None:
            content = orjson.dumps(self.json, option=_JSON_OPTIONS)
            headers = {"Content-Type": "application/json"}
        return http.build_request(
            self.method,
            self.path,
            params=self.params,
            content=content,
            headers=headers,
            files=self.files,
            data=self.data,
            timeout=timeout,
        )


def segment(value: str | int) -> str:
    """``value`` escaped as one URL path segment, so a name never changes the route."""
    return quote(str(value), safe="")


def drive(flow: Flow[T], send: Callable[[Call], httpx.Response]) -> T:
    """Run ``flow`` to completion, sending each call it yields with ``send``."""
    with closing(flow):  # a failed send still runs the flow's cleanup (temporary files)
        try:
            call = next(flow)
            while True:
                call = flow.send(send(call))
        except StopIteration as done:
            return cast(T, done.value)


async def drive_async(flow: Flow[T], send: Callable[[Call], Awaitable[httpx.Response]]) -> T:
    """Like :func:`drive`, awaiting each send."""
    with closing(flow):
        try:
            call = next(flow)
            while True:
                call = flow.send(await send(call))
        except StopIteration as done:
            return cast(T, done.value)


def raise_for_error(response: httpx.Response) -> None:
    """Raise the ModelMart error an unsuccessful response describes.

    An ``{"error": {"code", "message", "details"}}`` body raises the class with that code
    (``ModelNotFound`` for ``model_not_found``); any other body raises
    :class:`ModelMartError` quoting the status and the text.
    """
    if response.is_success:
        return
    error = _error_body(response)
    if error is None:
        text = response.text.strip()[:1000] or "(empty body)"
        raise ModelMartError(
            f"{response.request.method} {response.request.url} failed with HTTP "
            f"{response.status_code} {response.reason_phrase}: {text}",
            details={"status": response.status_code, "body": text},
        )
    code, message, details = error
    cls = error_class_for(code)
    if cls is ModelMartError and code != ModelMartError.code:
        # A code this SDK does not know yet: keep it so callers can still tell errors apart.
        details = {**details, "code": code, "status": response.status_code}
    raise cls(message, details=details)


def _error_body(response: httpx.Response) -> tuple[str, str, dict[str, Any]] | None:
    try:
        error = orjson.loads(response.content)["error"]
        code, message, details = error["code"], error["message"], error.get("details") or {}
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return None
    if not (isinstance(code, str) and isinstance(message, str) and isinstance(details, dict)):
        return None
    return code, message, details


def load_json(response: httpx.Response) -> Any:
    """The JSON body of a successful response; errors raised as by :func:`raise_for_error`."""
    raise_for_error(response)
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise unexpected_answer(response, "is not JSON") from exc


def parse(response: httpx.Response, model: type[M]) -> M:
    """The body of a successful response as ``model``."""
    return as_model(response, model, load_json(response))


def parse_list(response: httpx.Response, key: str, model: type[M]) -> list[M]:
    """The list under ``key`` (``{"models": [...]}``) of a successful response."""
    body = load_json(response)
    items = body.get(key) if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise unexpected_answer(response, f"has no {key!r} list")
    return [as_model(response, model, item) for item in items]


def expect_no_content(response: httpx.Response) -> None:
    """Check a response that carries no body (``204 No Content``)."""
    raise_for_error(response)


def as_model(response: httpx.Response, model: type[M], data: Any) -> M:
    """``data``, read from ``response``, as ``model``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise unexpected_answer(response, f"does not describe a {model.__name__}: {exc}") from exc


def unexpected_answer(response: httpx.Response, problem: str) -> ModelMartError:
    """The error for a successful answer that is not what the API promises."""
    return ModelMartError(
        f"the answer to {response.request.method} {response.request.url} {problem}; "
        "check that the URL points at a ModelMart server of the same version as this SDK",
        details={"status": response.status_code},
    )


def validated(model: type[M], what: str, /, **fields: Any) -> M:
    """``model(**fields)``, raising :class:`ValidationFailed` before anything is sent."""
    try:
        return model(**fields)
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc'])) or what}: {e['msg']}" for e in exc.errors()]
        raise ValidationFailed(
            f"the {what} is not valid: " + "; ".join(problems), details={"problems": problems}
        ) from exc


DEFAULT_URL = "http://127.0.0.1:8000"


def auth_headers(api_key: str | None, headers: dict[str, str]) -> dict[str, str]:
    """``headers`` plus the API key (given, else ``$MODELMART_API_KEY``) as a bearer token."""
    key = api_key or os.environ.get("MODELMART_API_KEY")
    return {**headers, "Authorization": f"Bearer {key}"} if key else headers


def resolve_base_url(base_url: str | None) -> str:
    """The given URL, else ``$MODELMART_URL``, else the local default."""
    return base_url or os.environ.get("MODELMART_URL") or DEFAULT_URL


def unreachable(exc: httpx.TransportError, request: httpx.Request) -> ModelMartError:
    """The error for a request that got no HTTP answer at all."""
    server = f"{request.url.scheme}://{request.url.netloc.decode()}"
    if isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout):
        return NotReady(
            f"ModelMart at {server} did not answer {request.method} {request.url.path} in "
            "time; pass a larger timeout (Client(timeout=...)) or check the server's load",
            details={"url": str(request.url), "reason": repr(exc)},
        )
    return ServerUnreachable(
        f"cannot reach ModelMart at {server} ({exc or type(exc).__name__}); start the server "
        "with `modelmart serve` or check the URL (--url or MODELMART_URL)",
        details={"url": str(request.url), "reason": repr(exc)},
    )
