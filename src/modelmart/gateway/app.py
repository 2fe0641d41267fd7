"""The ASGI application: ``create_app(settings)`` wires every stage together."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from modelmart import __version__
from modelmart.accounts.audit import AuditLog
from modelmart.accounts.service import AccountService
from modelmart.billing.service import Billing
from modelmart.catalog.install import install_catalogue
from modelmart.config import Settings
from modelmart.deploy.manager import DeploymentManager, ServingDefaults
from modelmart.gateway.access import AccessControl
from modelmart.gateway.bootstrap import bootstrap_operator
from modelmart.gateway.errors import install_error_handlers
from modelmart.gateway.heap import settle_heap
from modelmart.gateway.limits import BodySizeLimit
from modelmart.gateway.observability import Metrics, RequestObserver
from modelmart.gateway.responses import FastJSONResponse
from modelmart.gateway.routes import (
    accounts,
    audio,
    audio_tasks,
    catalog,
    chat,
    console,
    datasets,
    deployments,
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
from modelmart.gateway.services import Services
from modelmart.gateway.training_services import start_training_services
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
        app.state.training = await asyncio.to_thread(
            start_training_services, settings, sessions, registry_service
        )
        accounts = AccountService(sessions)
        ledger_engine = create_engine_for(
            settings.resolved_database_url, sqlite_fsync=settings.ledger_fsync
        )
        billing = Billing(
            sessions,
            settings.redis_url,
            session_factory(ledger_engine),
            ledger_inline=ledger_engine.dialect.name == "sqlite" and not settings.ledger_fsync,
        )
        await asyncio.to_thread(billing.start)
        await asyncio.to_thread(bootstrap_operator, accounts, settings)
        router.guard = manager.check_access
        app.state.services = Services(
            settings,
            registry_service,
            manager,
            router,
            metrics,
            accounts,
            billing,
            AuditLog(sessions),
        )
        await manager.restore()
        settle_heap()
        try:
            yield
        finally:
            await asyncio.to_thread(app.state.training.jobs.close)
            await manager.close()
            await billing.close()
            ledger_engine.dispose()
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
    modules = (health, registry, deployments, inference, openai, chat, tasks, vision, catalog, v2)
    other_modules = (audio, audio_tasks, datasets, jobs, accounts, billing_routes, console)
    for module in (*modules, *other_modules):
        app.include_router(module.router)
    app.add_middleware(
        BodySizeLimit,
        request_limit=settings.max_request_bytes,
        upload_limit=settings.max_upload_bytes,
    )
    app.add_middleware(AccessControl)
    app.add_middleware(RequestObserver, metrics=metrics)
    return app
