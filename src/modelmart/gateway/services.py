"""What the routes need, built once at start-up and reached through ``request.app.state``."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from modelmart.accounts.audit import AuditLog
from modelmart.accounts.service import AccountService
from modelmart.billing.service import Billing
from modelmart.config import Settings
from modelmart.deploy.manager import DeploymentManager
from modelmart.gateway.observability import Metrics
from modelmart.registry.service import Registry
from modelmart.serving.router import Router


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


async def get_services(request: Request) -> Services:
    # async on purpose: FastAPI runs plain-def dependencies in a thread pool, a thread hop
    # per request on the hot path for what is one attribute read.
    services: Services = request.app.state.services
    return services
