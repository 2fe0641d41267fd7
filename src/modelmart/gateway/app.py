"""The ASGI application: ``create_app(settings)`` mounts the routes on the services that
:func:`~modelmart.gateway.services.build_services` builds at start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.responses import Response
from starlette.types import Scope

from modelmart import __version__
from modelmart.config import Settings
from modelmart.errors import ModelMartError
from modelmart.gateway.audit import AuditTrail
from modelmart.gateway.errors import install_error_handlers
from modelmart.gateway.heap import settle_heap
from modelmart.gateway.limits import BodySizeLimit, RenderError
from modelmart.gateway.methods import ActionPaths, route_methods
from modelmart.gateway.observability import RequestObserver
from modelmart.gateway.openai_errors import openai_error_response
from modelmart.gateway.openapi import install_openapi, is_openai_shaped
from modelmart.gateway.responses import FastJSONResponse, error_response
from modelmart.gateway.routes import (
    accounts,
    audio,
    audio_tasks,
    catalog,
    chat,
    completions,
    console,
    datasets,
    deployments,
    energy,
    explain,
    health,
    inference,
    jobs,
    openai,
    registry,
    tasks,
    v2,
    vision,
)
from modelmart.gateway.routes import billing as billing_routes
from modelmart.gateway.security_headers import SecurityHeaders
from modelmart.gateway.services import build_services
from modelmart.serving.affinity import pin_process
from modelmart.serving.placement import Placement

ROUTE_MODULES = (
    health,
    energy,
    registry,
    deployments,
    inference,
    explain,
    openai,
    chat,
    completions,
    tasks,
    vision,
    catalog,
    v2,
    audio,
    audio_tasks,
    datasets,
    jobs,
    accounts,
    billing_routes,
    console,
)


def create_app(settings: Settings, placement: Placement | None = None) -> FastAPI:
    """The server for ``settings``. ``placement`` defaults to instances on this machine."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pin_process(settings.server_cpu_ids)  # before any worker starts: they inherit it
        async with build_services(settings, placement) as services:
            app.state.services = services
            await services.deployments.restore()
            settle_heap()
            yield

    app = FastAPI(
        title="ModelMart",
        version=__version__,
        summary="Register, serve and call models over HTTP.",
        lifespan=lifespan,
        default_response_class=FastJSONResponse,
    )
    install_error_handlers(app)
    for module in ROUTE_MODULES:
        app.include_router(module.router)
    install_openapi(app)
    app.add_middleware(ActionPaths)
    app.add_middleware(
        BodySizeLimit,
        request_limit=settings.max_request_bytes,
        upload_limit=settings.max_upload_bytes,
        render=error_renderer(app),
    )
    app.add_middleware(AuditTrail)
    app.add_middleware(RequestObserver)
    app.add_middleware(SecurityHeaders)
    return app


def error_renderer(app: FastAPI) -> RenderError:
    """Errors answered before routing (a body over the limit) in the shape of the route the
    request was for: OpenAI's on the OpenAI-compatible routes, ModelMart's elsewhere."""

    def render(scope: Scope, error: ModelMartError) -> Response:
        routes = route_methods(app).serving(scope["path"])
        if any(is_openai_shaped(route) for route in routes):
            return openai_error_response(error)
        return error_response(error)

    return render
