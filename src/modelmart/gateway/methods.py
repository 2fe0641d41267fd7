"""Which methods a path allows, for ``405``'s ``Allow`` header, and action paths routed as
their own resource.

Starlette dispatches to the first route whose path matches and answers ``405`` with that one
route's methods, while one path is often served by several routes (GET and PATCH of an object
are two handlers). And an action path (``/v1/jobs/7:cancel``) also matches its object's
routes, with the action inside a parameter (``job_id="7:cancel"``), so ``DELETE`` on it would
reach the object's ``DELETE`` handler. Here the routes that spell out the most of a path are
its resource: ``Allow`` names their methods, and :class:`ActionPaths` answers any other method
on an action path with ``405``.
"""

from __future__ import annotations

from fastapi.routing import RouteContext, iter_route_contexts
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from modelmart.errors import MethodNotAllowed
from modelmart.gateway.responses import error_response

ACTION_MARK = ":"
"""Actions are spelled ``{object}:{action}``; only such paths can match a less specific
route by swallowing the action into a parameter."""


class RouteMethods:
    """The app's routes by path pattern, read once: routes do not change after start-up."""

    def __init__(self, app: Starlette) -> None:
        self._routes = [
            route
            for route in iter_route_contexts(app.routes)
            if route.path is not None and route.methods
        ]
        # (pattern, methods) of the action routes, checked on every request to an action path.
        self._actions = [
            (route.path_regex, frozenset(route.methods))
            for route in self._routes
            if "}" + ACTION_MARK in route.path_format
        ]

    def serving(self, path: str) -> list[RouteContext]:
        """The routes that spell out the most of ``path`` (none: no route matches it)."""
        by_specificity: dict[int, list[RouteContext]] = {}
        for route in self._routes:
            match = route.path_regex.match(path)
            if match is not None:
                literal = len(path) - sum(len(value) for value in match.groupdict().values())
                by_specificity.setdefault(literal, []).append(route)
        return by_specificity[max(by_specificity)] if by_specificity else []

    def allowed(self, path: str) -> list[str]:
        """The methods of the routes serving ``path``."""
        return sorted({method for route in self.serving(path) for method in route.methods})

    def action_methods(self, path: str) -> frozenset[str]:
        """The methods of the action routes ``path`` names (none: it names no action). An
        action route spells more of a path than the object's route it also matches."""
        methods: frozenset[str] = frozenset()
        for pattern, served in self._actions:
            if pattern.match(path):
                methods |= served
        return methods


def route_methods(app: Starlette) -> RouteMethods:
    table = getattr(app.state, "route_methods", None)
    if not isinstance(table, RouteMethods):
        table = RouteMethods(app)
        app.state.route_methods = table
    return table


def method_not_allowed(method: str, path: str, allowed: list[str]) -> MethodNotAllowed:
    return MethodNotAllowed(
        f"{method} is not allowed on {path}; it allows {', '.join(allowed)}",
        details={"allowed": allowed},
    )


class ActionPaths:
    """Answers ``405`` for a method that an action path's own routes do not serve."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and ACTION_MARK in path:
            served = route_methods(scope["app"]).action_methods(path)
            if served and scope["method"] not in served:
                allowed = sorted(served)
                error = method_not_allowed(scope["method"], path, allowed)
                response = error_response(error, headers={"Allow": ", ".join(allowed)})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
