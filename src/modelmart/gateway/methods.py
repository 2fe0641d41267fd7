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

import re
from collections.abc import Iterator
from dataclasses import dataclass

from fastapi.routing import RouteContext, iter_route_contexts
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from modelmart.errors import MethodNotAllowed
from modelmart.gateway.responses import error_response

ACTION_MARK = ":"
"""Actions are spelled ``{object}:{action}``; only such paths can match a less specific
route by swallowing the action into a parameter."""


@dataclass(frozen=True)
class _Route:
    context: RouteContext
    pattern: re.Pattern[str]
    methods: frozenset[str]
    is_action: bool  # its template spells an action after a parameter: ``{id}:cancel``


def _routes(app: Starlette) -> Iterator[_Route]:
    for route in iter_route_contexts(app.routes):
        template, methods = route.path_format, route.methods
        if isinstance(template, str) and methods:
            action = "}" + ACTION_MARK in template
            yield _Route(route, route.path_regex, frozenset(methods), action)


class RouteMethods:
    """The app's routes by path pattern, read once: routes do not change after start-up."""

    def __init__(self, app: Starlette) -> None:
        self._routes = list(_routes(app))
        self._actions = [route for route in self._routes if route.is_action]

    def serving(self, path: str) -> list[RouteContext]:
        """The routes that spell out the most of ``path`` (none: no route matches it)."""
        return [route.context for route in self._most_specific(path)]

    def allowed(self, path: str) -> list[str]:
        """The methods of the routes that spell out the most of ``path``."""
        return sorted({method for route in self._most_specific(path) for method in route.methods})

    def _most_specific(self, path: str) -> list[_Route]:
        by_specificity: dict[int, list[_Route]] = {}
        for route in self._routes:
            match = route.pattern.match(path)
            if match is not None:
                literal = len(path) - sum(len(value) for value in match.groupdict().values())
                by_specificity.setdefault(literal, []).append(route)
        return by_specificity[max(by_specificity)] if by_specificity else []

    def action_methods(self, path: str) -> frozenset[str]:
        """The methods of the action routes ``path`` names (none: it names no action). An
        action route spells more of a path than the object's route it also matches."""
        methods: frozenset[str] = frozenset()
        for route in self._actions:
            if route.pattern.match(path):
                methods |= route.methods
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
