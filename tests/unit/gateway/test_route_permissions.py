"""Every route declares who may call it: a route added without a permission fails here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts

from modelmart.config import Settings
from modelmart.gateway.app import create_app
from modelmart.gateway.auth import PERMISSIONS, public
from modelmart.gateway.metering import METERED_PERMISSION, MeteredRoute

# FastAPI's own documentation routes: public on purpose, and they name no tenant's objects.
DOCS = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
# Routes anyone may call, on purpose: probes (standard ones must not need a key) and the
# console's static files (the page calls the API with the user's own key).
PUBLIC = frozenset(
    {
        "/healthz",
        "/livez",
        "/readyz",
        "/v2/health/live",
        "/v2/health/ready",
        "/console",
        "/console/",
        "/console/{relative:path}",
    }
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    data = tmp_path_factory.mktemp("routes") / "data"
    return create_app(Settings(data_dir=Path(data), auth_enabled=True))


def _calls(dependant: Dependant) -> Iterator[Callable[..., object]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def _permissions(route: RouteContext) -> set[Callable[..., object]]:
    declared = PERMISSIONS | {METERED_PERMISSION}
    return {call for call in _calls(route.dependant) if call in declared}


def _api_routes(app: FastAPI) -> list[RouteContext]:
    """Every route as served: its path with the router's prefix, and the router's
    dependencies beside the route's own."""
    return [
        route
        for route in iter_route_contexts(app.routes)
        if isinstance(route.original_route, APIRoute)
    ]


def test_every_route_declares_who_may_call_it(app: FastAPI) -> None:
    undeclared = [
        f"{sorted(route.methods or ())} {route.path}"
        for route in _api_routes(app)
        if not _permissions(route)
    ]
    assert undeclared == [], "routes without a declared permission"
    others = {route.path for route in iter_route_contexts(app.routes)} - {
        route.path for route in _api_routes(app)
    }
    assert others <= DOCS, f"routes outside FastAPI's routing, undeclared: {others - DOCS}"


def test_only_probes_docs_and_console_files_are_public(app: FastAPI) -> None:
    public_routes = {route.path for route in _api_routes(app) if public in _permissions(route)}
    assert public_routes == PUBLIC


def test_each_route_declares_one_permission(app: FastAPI) -> None:
    many = [route.path for route in _api_routes(app) if len(_permissions(route)) > 1]
    assert many == []


def test_exactly_the_metered_routes_bill(app: FastAPI) -> None:
    """A route bills when it declares the metered permission, and then it must run on the
    route class that writes its usage record before the response ends (and the other way
    round)."""
    for route in _api_routes(app):
        declares = METERED_PERMISSION in _permissions(route)
        assert declares == isinstance(route.original_route, MeteredRoute), route.path


def test_every_inference_route_is_metered(app: FastAPI) -> None:
    metered = {
        route.path for route in _api_routes(app) if METERED_PERMISSION in _permissions(route)
    }
    for path in ("/v1/models/{name}:predict", "/v1/embeddings", "/v1/chat/completions"):
        assert path in metered
    assert {path for path in metered if path.startswith("/v1/tasks/")} == {
        route.path for route in _api_routes(app) if route.path.startswith("/v1/tasks/")
    }
