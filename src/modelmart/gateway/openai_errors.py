"""OpenAI's error shape for the OpenAI-compatible routes, so OpenAI SDKs raise their usual
exceptions: ``{"error": {"message", "type", "param", "code"}}``.

The errors themselves are ModelMart's (:mod:`modelmart.errors`): only their rendering
differs. ``details["param"]``, when an error sets it, names the request field at fault. The
rest of the API keeps ModelMart's ``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from modelmart.errors import (
    DeploymentNotFound,
    InvalidRequest,
    ModelMartError,
    PayloadTooLarge,
)
from modelmart.gateway.errors import log_unexpected
from modelmart.gateway.responses import FastJSONResponse

logger = logging.getLogger("modelmart.gateway")

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

_TYPES_BY_STATUS = {
    401: "authentication_error",
    403: "permission_error",
    429: "rate_limit_error",
}


def _error_type(status: int) -> str:
    if status >= 500:
        return "server_error"
    return _TYPES_BY_STATUS.get(status, "invalid_request_error")


def openai_error_body(error: ModelMartError) -> dict[str, Any]:
    """``error`` as OpenAI writes it; a missing deployment is OpenAI's ``model_not_found``."""
    param = error.details.get("param")
    return {
        "error": {
            "message": error.message,
            "type": _error_type(error.status),
            "param": param if isinstance(param, str) else None,
            "code": "model_not_found" if isinstance(error, DeploymentNotFound) else error.code,
        }
    }


def openai_error_response(error: ModelMartError) -> FastJSONResponse:
    return FastJSONResponse(
        openai_error_body(error), status_code=error.status, headers=error.headers()
    )


def _invalid_body(exc: RequestValidationError) -> InvalidRequest:
    """OpenAI answers a malformed body with 400 and names the first field at fault."""
    problems: list[str] = []
    params: list[str] = []
    for problem in exc.errors():
        location = [str(part) for part in problem["loc"] if part != "body"]
        fields = [part for part in problem["loc"] if isinstance(part, str) and part != "body"]
        params.extend(fields[:1])
        problems.append(f"{'.'.join(location) or 'body'}: {problem['msg']}")
    return InvalidRequest(
        "the request does not match the API: " + "; ".join(problems),
        details={"param": params[0] if params else None, "problems": problems},
    )


class OpenAIRoute(APIRoute):
    """A route whose failures answer in OpenAI's error shape (``APIRouter(route_class=...)``),
    so the shape applies to exactly the routes that use it."""

    def get_route_handler(self) -> Handler:
        return in_openai_shape(super().get_route_handler())


def in_openai_shape(handler: Handler) -> Handler:
    """``handler``, its failures (its dependencies' included) answered in OpenAI's shape."""

    async def handle(request: Request) -> Response:
        try:
            return await handler(request)
        except RequestValidationError as exc:
            return openai_error_response(_invalid_body(exc))
        except ModelMartError as exc:
            return openai_error_response(exc)
        except HTTPException as exc:  # Starlette's own, such as a body it could not parse
            return openai_error_response(_http_error(exc))
        except Exception as exc:  # any bug must still answer in the shape clients parse
            return _unexpected(request, exc)

    return handle


def _http_error(exc: HTTPException) -> ModelMartError:
    if exc.status_code == PayloadTooLarge.status:
        return PayloadTooLarge(str(exc.detail))
    return InvalidRequest(f"{exc.detail}; send the body the route documents at /docs")


def _unexpected(request: Request, exc: Exception) -> Response:
    return openai_error_response(log_unexpected(request, exc))
