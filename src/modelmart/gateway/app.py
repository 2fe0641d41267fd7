"""The ASGI application: ``create_app(settings)`` wires every stage together."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from modelmart import __version__
from modelmart.catalog.install import install_catalogue
from modelmart.config import Settings
from modelmart.deploy.manager import DeploymentManager, ServingDefaults
from modelmart.gateway.errors import install_error_handlers
from modelmart.gateway.heap import settle_heap
from modelmart.gateway.limits import BodySizeLimit
from modelmart.gateway.observability import Metrics, RequestObserver
from modelmart.gateway.responses import FastJSONResponse
from modelmart.gateway.routes import (
    catalog,
    deployments,
    health,
    inference,
    openai,
    registry,
    tasks,
    v2,
)
from modelmart.gateway.services import Services
from modelmart.registry.inspection import IsolatedInspector
from modelmart.registry.service import Registry
from modelmart.serving.local import LocalPlacement
from modelmart.serving.placement import Placement
from modelmart.serving.router import Router
from modelmart.store.artifacts import LocalArtifactStore
from modelmart.store.db import create_engine_for, migrate, session_factory
from modelmart.store.deployments import DeploymentRepository


def create_app(settings: Settings, placement: Placement | None = None) -> FastAPI:
    """The server for ``settings``. ``placement`` defaults to instances on this machine."""
    router = Router()
    metrics = Metrics(router.endpoints)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_engine_for(settings.resolved_database_url)
        migrate(engine)
        sessions = session_factory(engine)
        registry_service = Registry(
            sessions,
            LocalArtifactStore(settings.artifacts_dir),
            settings.cache_dir,
            settings.max_unpacked_bytes,
            IsolatedInspector(settings.instance_start_timeout_s),
        )
        manager = DeploymentManager(
            registry_service,
            DeploymentRepository(sessions),
            placement or LocalPlacement(observer=metrics.observe_batch),
            router,
            ServingDefaults(settings.inference_timeout_s, settings.instance_start_timeout_s),
        )
        # Registers what is missing of the catalogue (manifests only, no weights loaded).
        app.state.catalogue = await asyncio.to_thread(install_catalogue, registry_service)
        app.state.services = Services(settings, registry_service, manager, router, metrics)
        await manager.restore()
        settle_heap()
        try:
            yield
        finally:
            await manager.close()
            engine.dispose()

    app = FastAPI(
        title="ModelMart",
        version=__version__,
        summary="Register, serve and call models over HTTP.",
        lifespan=lifespan,
        default_response_class=FastJSONResponse,
    )
    install_error_handlers(app)
    # openai's routes answer failures in OpenAI's error shape (their route class); the rest in
    # ModelMart's, through install_error_handlers.
    for module in (health, registry, deployments, inference, openai, tasks, catalog, v2):
        app.include_router(module.router)
    app.add_middleware(
        BodySizeLimit,
        request_limit=settings.max_request_bytes,
        upload_limit=settings.max_upload_bytes,
    )
    app.add_middleware(RequestObserver, metrics=metrics)
    return app
