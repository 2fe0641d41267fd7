"""One place where every failure becomes ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from modelmart.errors import (
    InvalidRequest,
    ModelMartError,
    NotFound,
    ValidationFailed,
)
from modelmart.gateway.methods import method_not_allowed, route_methods
from modelmart.gateway.responses import error_response

logger = logging.getLogger("modelmart.gateway")


def _location(loc: tuple[object, ...]) -> str:
    return ".".join(str(part) for part in loc if part != "body") or "body"


async def _modelmart_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ModelMartError)
    return error_response(exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [f"{_location(tuple(e['loc']))}: {e['msg']}" for e in exc.errors()]
    error = ValidationFailed(
        "the request does not match the API: "
        + "; ".join(problems)
        + ". See /docs for the expected shape",
        details={"problems": problems},
    )
    return error_response(error)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error: ModelMartError = NotFound(
            f"no route {request.method} {request.url.path}; see /docs for the API"
        )
    elif exc.status_code == 405:
        allowed = route_methods(request.app).allowed(request.scope["path"])
        error = method_not_allowed(request.method, request.url.path, allowed)
        return error_response(error, headers={"Allow": ", ".join(allowed)})
    else:
        error = InvalidRequest(str(exc.detail))
    return error_response(error, headers=dict(exc.headers or {}))


def log_unexpected(request: Request, exc: Exception) -> ModelMartError:
    """Log a bug with its request id; the error to answer with (500, no internals)."""
    request_id = getattr(request.state, "request_id", None)
    logger.exception(
        "unhandled error on %s %s",
        request.method,
        request.url.path,
        extra={"fields": {"request_id": request_id}},
    )
    return ModelMartError(
        f"the server failed on this request ({type(exc).__name__}); it has been logged, "
        f"please report it with the request id {request_id}",
        details={"request_id": request_id},
    )


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    return error_response(log_unexpected(request, exc))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ModelMartError, _modelmart_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
