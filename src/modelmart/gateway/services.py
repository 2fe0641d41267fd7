"""The composition root: :func:`build_services` builds every service and engine from the
settings and owns their shutdown; routes reach them through ``request.app.state.services``."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy import Engine

from modelmart.accounts.audit import AuditLog
from modelmart.accounts.service import AccountService
from modelmart.billing.service import Billing
from modelmart.catalog.cards import Catalogue
from modelmart.catalog.install import install_catalogue
from modelmart.config import Settings
from modelmart.deploy.autoscaler import AutoscalerSettings
from modelmart.deploy.manager import DeploymentManager, ServingDefaults
from modelmart.energy.meters import EnergySetup, energy_setup
from modelmart.gateway.bootstrap import bootstrap_operator
from modelmart.gateway.observability import Metrics
from modelmart.gateway.pii import PiiService
from modelmart.gateway.training_services import TrainingServices, start_training_services
from modelmart.privacy.redaction import default_detector
from modelmart.registry.inspection import IsolatedInspector
from modelmart.registry.service import Registry
from modelmart.serving.batcher import Admission
from modelmart.serving.local import LocalPlacement, new_instance
from modelmart.serving.placement import Placement
from modelmart.serving.router import Router
from modelmart.store.artifacts import LocalArtifactStore
from modelmart.store.db import create_engine_for, migrate, session_factory
from modelmart.store.deployments import DeploymentRepository


@dataclass(frozen=True)
class Services:
    settings: Settings
    registry: Registry
    deployments: DeploymentManager
    router: Router
    metrics: Metrics
    accounts: AccountService
    billing: Billing
    audit: AuditLog
    training: TrainingServices
    catalogue: Catalogue
    pii: PiiService
    energy: EnergySetup = field(default_factory=EnergySetup)


@asynccontextmanager
async def build_services(
    settings: Settings, placement: Placement | None = None
) -> AsyncIterator[Services]:
    """Every service of a server for ``settings``, started; all stopped when the block exits.

    ``placement`` defaults to instances on this machine.
    """
    async with AsyncExitStack() as stack:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = _engine(stack, create_engine_for(settings.resolved_database_url))
        migrate(engine)
        sessions = session_factory(engine)
        registry = Registry(
            sessions,
            LocalArtifactStore(settings.artifacts_dir),
            settings.cache_dir,
            settings.max_unpacked_bytes,
            IsolatedInspector(settings.instance_start_timeout_s),
            max_unpack_ratio=settings.max_unpack_ratio,
        )
        router = Router()
        metrics = Metrics(router.endpoints)
        energy = energy_setup(
            enabled=settings.energy_accounting,
            watts_per_core=settings.cpu_watts_per_core,
            grid_g_per_kwh=settings.grid_intensity_g_per_kwh,
            powercap=settings.powercap_dir,
        )
        manager = DeploymentManager(
            registry,
            DeploymentRepository(sessions),
            placement := placement or _default_placement(settings, metrics, energy),
            router,
            ServingDefaults(settings.inference_timeout_s, settings.instance_start_timeout_s),
            AutoscalerSettings(
                settings.autoscale_interval_s,
                settings.autoscale_downscale_delay_s,
                settings.scale_to_zero_after_s,
            ),
            sync_interval_s=settings.deployment_sync_interval_s,
        )
        stack.push_async_callback(manager.close)
        stack.callback(placement.detach)  # runs first: shared instances outlive this server
        # Registers what is missing of the catalogue (manifests only, no weights loaded).
        catalogue = await asyncio.to_thread(install_catalogue, registry)
        training = await asyncio.to_thread(start_training_services, settings, sessions, registry)
        stack.push_async_callback(asyncio.to_thread, training.jobs.close)
        accounts = AccountService(sessions)
        ledger_engine = _engine(
            stack,
            create_engine_for(settings.resolved_database_url, sqlite_fsync=settings.ledger_fsync),
        )
        billing = Billing(
            sessions,
            settings.redis_url,
            session_factory(ledger_engine),
            ledger_inline=ledger_engine.dialect.name == "sqlite" and not settings.ledger_fsync,
        )
        await asyncio.to_thread(billing.start)
        stack.push_async_callback(billing.close)
        await asyncio.to_thread(bootstrap_operator, accounts, settings)
        yield Services(
            settings=settings,
            registry=registry,
            deployments=manager,
            router=router,
            metrics=metrics,
            accounts=accounts,
            billing=billing,
            audit=AuditLog(sessions),
            training=training,
            catalogue=catalogue,
            energy=energy,
            pii=PiiService(default_detector, manager.pii_policy),
        )


def _default_placement(settings: Settings, metrics: Metrics, energy: EnergySetup) -> Placement:
    """Instances on this machine, or on the Ray cluster when ``settings.placement`` says so
    (chat models then stay on this machine)."""
    admission = Admission(settings.max_queued_requests, settings.max_queue_wait_s)
    local = LocalPlacement(
        observer=metrics.observe_batch,
        admission=admission,
        generation_observer=metrics,
        instance_factory=functools.partial(new_instance, energy=energy),
    )
    if settings.placement == "local":
        return local
    from modelmart.serving.ray import ray_placement  # imports Ray: only when asked for

    return ray_placement(settings, local, metrics.observe_batch, admission, energy)


def _engine(stack: AsyncExitStack, engine: Engine) -> Engine:
    stack.callback(engine.dispose)
    return engine


async def get_services(request: Request) -> Services:
    # async on purpose: FastAPI runs plain-def dependencies in a thread pool, a thread hop
    # per request on the hot path for what is one attribute read.
    services: Services = request.app.state.services
    return services
