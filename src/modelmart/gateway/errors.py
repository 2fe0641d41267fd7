"""One place where every failure becomes ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.responses import Response

from modelmart.errors import (
    InvalidRequest,
    MethodNotAllowed,
    ModelMartError,
    NotFound,
    ValidationFailed,
)
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
        allowed = allowed_methods(request)
        error = MethodNotAllowed(
            f"{request.method} is not allowed on {request.url.path}; "
            f"it allows {', '.join(allowed)}",
            details={"allowed": allowed},
        )
        return error_response(error, headers={"Allow": ", ".join(allowed)})
    else:
        error = InvalidRequest(str(exc.detail))
    return error_response(error, headers=dict(exc.headers or {}))


def allowed_methods(request: Request) -> list[str]:
    """Every method the routes most specific to this path serve. Starlette's own ``Allow``
    names only the first route whose path matched, while one path is often served by several
    routes (GET and PATCH of one object are two handlers). An action path
    (``/v1/jobs/7:cancel``) also matches its object's routes, with the action inside a
    parameter (``job_id="7:cancel"``): the route that spells more of the path is the resource
    asked for."""
    path = request.scope["path"]
    methods_by_specificity: dict[int, set[str]] = {}
    for route in iter_route_contexts(request.app.routes):
        pattern = route.path_regex if route.path is not None else None
        match = pattern.match(path) if pattern is not None and route.methods else None
        if match is not None:
            literal = len(path) - sum(len(value) for value in match.groupdict().values())
            methods_by_specificity.setdefault(literal, set()).update(route.methods)
    if not methods_by_specificity:
        return []
    return sorted(methods_by_specificity[max(methods_by_specificity)])


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
