"""A gateway app with the health, accounts and billing routes on real accounts, billing and
registry services (SQLite), for route tests without models or a server.

Keys are plain tokens mapped to principals, so a test says exactly who calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from modelmart.accounts.audit import AuditLog
from modelmart.accounts.service import AccountService
from modelmart.billing.service import Billing
from modelmart.config import Settings
from modelmart.errors import Unauthenticated
from modelmart.gateway.errors import install_error_handlers
from modelmart.gateway.observability import Metrics
from modelmart.gateway.responses import FastJSONResponse
from modelmart.gateway.routes import accounts, billing, console, health
from modelmart.gateway.services import Services
from modelmart.registry.service import Registry
from modelmart.schemas.deployments import DeploymentState
from modelmart.schemas.roles import Role
from modelmart.tenancy import OPERATOR_SLUG, Principal
from modelmart.types import Task
from tests.unit.accounts.tenants import caller, make_org


class KeyedAccounts(AccountService):
    """The real accounts service, but a key is a token naming a principal the test made."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        super().__init__(sessions)
        self.principals: dict[str, Principal] = {}

    async def authenticate(self, raw: str) -> Principal:  # type: ignore[override]
        if raw not in self.principals:
            raise Unauthenticated("the API key is not known; create a new one")
        return self.principals[raw]


@dataclass
class FakeDeployments:
    """Only what readiness reads: each deployment's state, by (secret) name."""

    states_by_name: dict[str, DeploymentState] = field(default_factory=dict)

    def states(self) -> list[DeploymentState]:
        return list(self.states_by_name.values())


@dataclass(frozen=True)
class Platform:
    app: FastAPI
    accounts: KeyedAccounts
    billing: Billing
    registry: Registry
    audit: AuditLog
    deployments: FakeDeployments
    metrics: Metrics


KEYS = ("operator", "alpha", "alpha-viewer", "alpha-inference", "beta")
"""Each test key is the token sent as ``Authorization: Bearer <name>``."""


def build_platform(
    sessions: sessionmaker[Session], registry: Registry, data_dir: Path, *, auth: bool = True
) -> Platform:
    keyed = KeyedAccounts(sessions)
    orgs = {
        slug: make_org(keyed, slug, "pay-as-you-go") for slug in (OPERATOR_SLUG, "alpha", "beta")
    }
    keyed.principals = {
        "operator": caller(orgs[OPERATOR_SLUG]),
        "alpha": caller(orgs["alpha"], key_id=11),
        "alpha-viewer": caller(orgs["alpha"], Role.VIEWER, key_id=12),
        "alpha-inference": caller(orgs["alpha"], Role.INFERENCE, key_id=13),
        "beta": caller(orgs["beta"], key_id=21),
    }
    # alpha's own model, and the catalogue's, which every organisation may use.
    registry.create_model(keyed.principals["alpha"], "iris", Task.CLASSIFICATION)
    single_user = Principal.single_user()
    registry.create_model(single_user, "langid", Task.LANGUAGE_IDENTIFICATION, owner="modelmart")
    billing_service = Billing(sessions)
    billing_service.start()
    deployments = FakeDeployments({"alpha:secret-deployment": "ready"})
    metrics = Metrics(lambda: {})
    metrics.observe_batch("alpha:secret-deployment", 4, 0.01)
    audit = AuditLog(sessions)
    app = FastAPI(default_response_class=FastJSONResponse)
    install_error_handlers(app)
    for module in (health, accounts, billing, console):
        app.include_router(module.router)
    app.state.services = Services(
        settings=Settings(data_dir=data_dir, auth_enabled=auth),
        registry=registry,
        deployments=cast(Any, deployments),
        router=cast(Any, None),
        metrics=metrics,
        accounts=keyed,
        billing=billing_service,
        audit=audit,
        training=cast(Any, None),
        catalogue=cast(Any, None),
        pii=cast(Any, None),
    )
    return Platform(app, keyed, billing_service, registry, audit, deployments, metrics)


def client_for(app: FastAPI, key: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://modelmart", headers=headers)
