"""The OpenAPI document as the contract: every error a route can answer, in the shape it
answers it, derived from what each route declares rather than written route by route.

FastAPI documents a route's success and, for routes with parameters, its own validation error
shape (which this API never sends). :func:`describe_errors` replaces that with what the
gateway's layers do to every route:

- its permission (:mod:`~modelmart.gateway.auth`): 401 without a usable key, 403 when the key's
  role may not do this;
- metered routes (:mod:`~modelmart.gateway.metering`): 402 quota or budget spent, 429 rate
  limited, 503 not ready or overloaded, 422 for a reused idempotency key, 400 for a malformed
  one, and the model's own failures (500, 502, 504);
- a path or query parameter or a body, which may name an object: 404 (a foreign object looks
  exactly like a missing one);
- a request body: 400 unreadable, 413 too large, 415 a content type it does not take, 422 it
  does not match the schema; any parameter: 422;
- ``POST`` routes that create (``201``): 409 when the name is taken.

Errors are ModelMart's ``{"error": {"code", "message", "details"}}``; the OpenAI-compatible
routes answer OpenAI's ``{"error": {"message", "type", "param", "code"}}``, and a malformed
request there is a 400, as OpenAI's SDKs expect. ``405`` is the same on every path (with the
``Allow`` header naming the methods it serves) and is left out of each operation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from modelmart.gateway.auth import PERMISSIONS, public, requires_key
from modelmart.gateway.metering import METERED_PERMISSION, MeteredOpenAIRoute
from modelmart.gateway.openai_errors import OpenAIRoute
from modelmart.registry.names import ALIAS_NAME
from modelmart.registry.versions import LATEST
from modelmart.tenancy import NAME

ERROR = "Error"
OPENAI_ERROR = "OpenAIError"

ERROR_SCHEMAS: dict[str, dict[str, Any]] = {
    ERROR: {
        "title": "Error",
        "description": "Every failure outside the OpenAI-compatible routes.",
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "details"],
                "properties": {
                    "code": {"type": "string", "description": "stable, machine-readable"},
                    "message": {"type": "string", "description": "what to do about it"},
                    "details": {"type": "object"},
                },
            }
        },
    },
    OPENAI_ERROR: {
        "title": "OpenAIError",
        "description": "Failures of the OpenAI-compatible routes, in OpenAI's shape.",
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message", "type", "param", "code"],
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "param": {"type": ["string", "null"]},
                    "code": {"type": ["string", "null"]},
                },
            }
        },
    },
}

DESCRIPTIONS = {
    400: "The request could not be read",
    401: "No usable API key",
    402: "The organisation's quota or budget is spent",
    403: "The key's role may not do this",
    404: "No such object (or it belongs to another organisation)",
    409: "The name is taken",
    413: "The body is larger than the server's limit",
    415: "The body's content type is not one this route takes",
    422: "The request does not match the API",
    429: "Rate limited; retry after the Retry-After header's seconds",
    500: "The model or the server failed",
    502: "The model's worker crashed",
    503: "Not ready, or overloaded; retry after the Retry-After header's seconds",
    504: "The model took longer than the server's limit",
}

_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before retrying",
        "schema": {"type": "integer"},
    }
}

AUTHENTICATED = frozenset({401, 403})
METERED = frozenset({400, 401, 402, 403, 404, 422, 429, 500, 502, 503, 504})
WITH_BODY = frozenset({400, 413, 415, 422})

PERIOD_PATTERN = r"^[1-9][0-9]{3}-(0[1-9]|1[0-2])$"
"""A billing period as :meth:`modelmart.billing.invoices.Period.parse` reads it: a month."""

_MOMENT = {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "number"}]}

PARAMETER_RULES: dict[tuple[str, str], dict[str, Any]] = {
    ("/v1/registry/models/{name}/aliases/{alias}", "alias"): {
        "pattern": ALIAS_NAME.pattern,
        "not": {"const": LATEST},
    },
    ("/v1/datasets/{name}/versions", "name"): {"pattern": NAME.pattern},
    ("/v1/orgs/{slug}/invoices/{period}", "period"): {"pattern": PERIOD_PATTERN},
    ("/v1/orgs/{slug}/invoices/{period}:finalize", "period"): {"pattern": PERIOD_PATTERN},
    ("/v1/revenue", "period"): {"pattern": r"^([1-9][0-9]{3}-(0[1-9]|1[0-2]))?$"},  # '': now
    # Pydantic reads a number as seconds since the epoch, as well as RFC 3339 text.
    ("/v1/audit", "since"): _MOMENT,
    ("/v1/usage", "start"): _MOMENT,
    ("/v1/usage", "end"): _MOMENT,
}
"""Rules the handlers enforce on a parameter (with a 400 or 422 naming them) that its
declared type does not say, taken from the code that enforces them where it has one."""

MEDIA_TYPES: dict[str, tuple[str, ...]] = {
    "/metrics": ("text/plain",),
    "/v1/metrics": ("text/plain",),
    "/v1/retained/{model}": ("application/x-ndjson",),
    "/v1/orgs/{slug}/invoices/{period}": ("application/json", "text/csv", "text/html"),
}
"""Routes whose success is not (only) JSON: Prometheus text, JSON lines, rendered invoices."""

SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "Authorization: Bearer <key>"},
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}


def install_openapi(app: FastAPI) -> None:
    """Serve :func:`describe_errors`'s document at ``/openapi.json``."""
    described: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        document = FastAPI.openapi(app)
        if not described or described[0] is not document:
            describe_errors(document, app)
            described[:] = [document]
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def describe_errors(document: dict[str, Any], app: FastAPI) -> None:
    """Document, in place, every error each of ``app``'s routes can answer."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas.update(ERROR_SCHEMAS)
    components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
    paths: dict[str, dict[str, Any]] = document.get("paths", {})
    for route in _documented_routes(app):
        path = route.path_format or ""
        for method in sorted(route.methods or ()):
            operation = paths.get(path, {}).get(method.lower())
            if operation is not None:
                _describe_parameters(path, operation)
                _describe_media_types(path, operation)
                _describe_operation(operation, route)


def _describe_parameters(path: str, operation: dict[str, Any]) -> None:
    """A query, header or path value is text and never JSON ``null`` (FastAPI documents an
    optional one as "a value or null"; absent is what means none); and the rules the handler
    enforces beyond the type."""
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        choices = schema.get("anyOf")
        if choices is not None:
            kept = [choice for choice in choices if choice.get("type") != "null"]
            if len(kept) == 1:
                schema.pop("anyOf")
                schema.update(kept[0])
            else:
                schema["anyOf"] = kept
        rule = PARAMETER_RULES.get((path, parameter["name"]), {})
        if "anyOf" in rule:  # the rule's choices replace the declared type
            for key in ("type", "format", "anyOf"):
                schema.pop(key, None)
        schema.update(rule)


def _describe_media_types(path: str, operation: dict[str, Any]) -> None:
    media_types = MEDIA_TYPES.get(path)
    success = operation.get("responses", {}).get("200")
    if media_types is None or success is None:
        return
    json_schema = success.get("content", {}).get("application/json", {}).get("schema", {})
    success["content"] = {
        media_type: {"schema": json_schema if media_type == "application/json" else {}}
        for media_type in media_types
    }


def _documented_routes(app: FastAPI) -> Iterator[RouteContext]:
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute) and route.include_in_schema:
            yield route


def is_openai_shaped(route: RouteContext) -> bool:
    """Whether ``route`` answers its failures in OpenAI's shape."""
    return isinstance(route.original_route, (OpenAIRoute, MeteredOpenAIRoute))


def _describe_operation(operation: dict[str, Any], route: RouteContext) -> None:
    openai_shaped = is_openai_shaped(route)
    permission = _permission(route)
    statuses = set(error_statuses(operation, permission, created=_creates(operation)))
    if openai_shaped and 422 in statuses:
        # A request FastAPI cannot validate is a 400 there, as OpenAI's SDKs expect.
        statuses.add(400)
    if permission is not public:
        operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
    schema = OPENAI_ERROR if openai_shaped else ERROR
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status in sorted(statuses):
        responses[str(status)] = _error_response(status, schema)


def error_statuses(
    operation: dict[str, Any], permission: Callable[..., object] | None, *, created: bool
) -> Iterator[int]:
    """The error statuses of an operation with ``permission`` (see the module's docstring)."""
    if permission is METERED_PERMISSION:
        yield from METERED
    elif permission is requires_key:
        yield 401
    elif permission is not public:
        yield from AUTHENTICATED
    parameters = operation.get("parameters", [])
    takes_body = "requestBody" in operation
    if permission is not public and (parameters or takes_body):
        yield 404  # a path, query or body names an object the caller cannot see
    if parameters:
        yield 422
    if takes_body:
        yield from WITH_BODY
    if created:
        yield 409


def _creates(operation: dict[str, Any]) -> bool:
    return "201" in operation.get("responses", {})


def _error_response(status: int, schema: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }
    if status in (429, 503):
        response["headers"] = _RETRY_AFTER
    return response


def _permission(route: RouteContext) -> Callable[..., object] | None:
    declared = PERMISSIONS | {METERED_PERMISSION}
    for call in _calls(route.dependant):
        if call in declared:
            return call
    return None


def _calls(dependant: Dependant) -> Iterator[Callable[..., object]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)
