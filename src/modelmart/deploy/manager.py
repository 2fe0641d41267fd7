"""Deployments: which model version serves under which name, kept in step while serving.

The manager persists every deployment, resolves versions and aliases through the registry,
and asks the placement for endpoints. Loading runs in the background; a deployment is
``loading`` until every instance is up, then ``ready`` (or ``failed`` with the reason).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime

from modelmart.errors import (
    AlreadyExists,
    DeploymentNotFound,
    Forbidden,
    ModelMartError,
    ModelNotFound,
    NotReady,
    error_class_for,
)
from modelmart.registry.service import Registry
from modelmart.schemas.deployments import (
    DeploymentRequest,
    DeploymentState,
    DeploymentUpdate,
    DeploymentView,
    Isolation,
)
from modelmart.schemas.pii import PiiPolicy, stored_policy
from modelmart.serving.placement import EndpointSpec, Placement, ServedVersion
from modelmart.serving.router import Router
from modelmart.store.deployments import DeploymentRecord, DeploymentRepository
from modelmart.tenancy import OPERATOR_SLUG, DeploymentAccess, Principal, bare_name


@dataclass
class _Deployment:
    record: DeploymentRecord
    model_owner: str
    state: DeploymentState = "loading"
    error: dict[str, object] | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def access(self) -> DeploymentAccess:
        return DeploymentAccess(self.record.owner, self.record.model_name, self.model_owner)


@dataclass(frozen=True)
class ServingDefaults:
    timeout_s: float = 30.0
    start_timeout_s: float = 300.0


class DeploymentManager:
    """Deploy, update and undeploy while the server runs."""

    def __init__(
        self,
        registry: Registry,
        repository: DeploymentRepository,
        placement: Placement,
        router: Router,
        defaults: ServingDefaults,
    ) -> None:
        self._registry = registry
        self._repository = repository
        self._placement = placement
        self._router = router
        self._defaults = defaults
        self._deployments: dict[str, _Deployment] = {}

    async def restore(self) -> None:
        """Start every deployment saved before the last shutdown (in the background)."""
        for record in await asyncio.to_thread(self._repository.list):
            self._launch(record, await asyncio.to_thread(self._model_owner, record.model_name))

    async def deploy(
        self, principal: Principal, request: DeploymentRequest, *, wait: bool
    ) -> DeploymentView:
        """Serve a model ``principal`` may see, under a name in ``principal``'s namespace."""
        model = await asyncio.to_thread(self._registry.find_model, principal, request.model)
        name = principal.qualify(request.name or bare_name(model.name))
        if name in self._deployments:
            raise AlreadyExists(
                f"deployment {bare_name(name)!r} already exists; change it with PATCH "
                f"/v1/deployments/{bare_name(name)} or pick another name",
                details={"deployment": bare_name(name)},
            )
        target = await asyncio.to_thread(
            self._registry.resolve, model.name, request.version, request.alias
        )
        now = datetime.now(UTC)
        record = DeploymentRecord(
            name=name,
            model_name=model.name,
            # With neither a version nor an alias, pin the latest version as of now.
            version=None if request.alias else target.version,
            alias=request.alias,
            instances=request.instances,
            max_batch_size=request.max_batch_size,
            max_delay_ms=request.max_delay_ms,
            timeout_s=request.timeout_s,
            isolation=request.isolation.value,
            owner=principal.owner,
            pii_policy=request.pii_policy,
            created_at=now,
            updated_at=now,
        )
        await asyncio.to_thread(self._repository.save, record)
        deployment = self._launch(record, model.owner)
        if wait:
            await self._await_launch(deployment)
        return self._view(deployment)

    def pii_policy(self, name: str) -> PiiPolicy | None:
        """Deployment ``name``'s own PII policy (a stored name; None: not set, or none)."""
        deployment = self._deployments.get(name)
        return None if deployment is None else stored_policy(deployment.record.pii_policy)

    async def update(
        self, principal: Principal, ref: str, changes: DeploymentUpdate
    ) -> DeploymentView:
        """Scale, retune or retarget a deployment; returns once the change is serving."""
        return await self._apply(self._managed(principal, ref), changes)

    async def _apply(self, deployment: _Deployment, changes: DeploymentUpdate) -> DeploymentView:
        name = deployment.record.name
        fields = changes.model_dump(exclude_none=True)
        if "version" in fields or "alias" in fields:
            fields.setdefault("version", None)
            fields.setdefault("alias", None)
        if "isolation" in fields:
            fields["isolation"] = Isolation(fields["isolation"]).value
        record = dataclasses.replace(deployment.record, **fields, updated_at=datetime.now(UTC))
        spec = await self._spec_for(record)
        endpoint = self._router.serving(name)
        if endpoint is not None:
            await endpoint.apply(spec)
        elif deployment.state == "failed":  # nothing is serving: start afresh with the change
            await asyncio.to_thread(self._repository.save, record)
            relaunched = self._launch(record, deployment.model_owner)
            await self._await_launch(relaunched, undeploy_on_failure=False)
            return self._view(relaunched)
        else:
            raise NotReady(
                f"deployment {name!r} is still loading; retry the change once it is ready",
                details={"state": deployment.state},
            )
        deployment.record = record
        await asyncio.to_thread(self._repository.save, record)
        return self._view(deployment)

    async def alias_moved(self, model: str, alias: str) -> None:
        """Swap every deployment that follows ``model``'s ``alias`` to its new version."""
        for deployment in list(self._deployments.values()):
            record = deployment.record
            if record.model_name == model and record.alias == alias:
                try:
                    await self._apply(deployment, DeploymentUpdate(alias=alias))
                except ModelMartError as exc:
                    deployment.error = exc.to_dict()["error"]

    async def undeploy(self, principal: Principal, ref: str) -> None:
        """Stop routing new requests, let queued ones finish, then unload."""
        await self._stop(self._managed(principal, ref))

    async def _stop(self, deployment: _Deployment) -> None:
        name = deployment.record.name
        endpoint = self._router.remove(name)
        if deployment.task is not None and not deployment.task.done():
            deployment.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await deployment.task
        del self._deployments[name]
        await asyncio.to_thread(self._repository.delete, name)
        if endpoint is not None:
            await endpoint.close()

    def view(self, principal: Principal, ref: str) -> DeploymentView:
        return self._view(self._visible(principal, ref))

    def visible(self, principal: Principal) -> list[DeploymentView]:
        """The deployments ``principal`` may see, by name."""
        return [
            self._view(deployment)
            for _, deployment in sorted(self._deployments.items())
            if principal.can_use_deployment(deployment.access)
        ]

    def states(self) -> list[DeploymentState]:
        """Every deployment's state, for the server's readiness (names nothing)."""
        return [deployment.state for deployment in self._deployments.values()]

    async def close(self) -> None:
        for name in list(self._deployments):
            deployment = self._deployments.pop(name)
            if deployment.task is not None:
                deployment.task.cancel()
            endpoint = self._router.remove(name)
            if endpoint is not None:
                await endpoint.close()

    def _visible(self, principal: Principal, ref: str) -> _Deployment:
        """The deployment ``ref`` means to ``principal``; foreign ones answer as missing."""
        for name in principal.candidates(ref):
            deployment = self._deployments.get(name)
            if deployment is not None and principal.can_use_deployment(deployment.access):
                return deployment
        raise DeploymentNotFound(
            f"deployment {ref!r} does not exist; list yours with GET /v1/deployments",
            details={"deployment": ref},
        )

    def _managed(self, principal: Principal, ref: str) -> _Deployment:
        """:meth:`_visible`, for a change: only its maker (or the operator) may change it."""
        deployment = self._visible(principal, ref)
        if not principal.can_manage(deployment.record.owner):
            raise Forbidden(
                f"deployment {ref!r} belongs to another organisation; you may call it, "
                "not change it"
            )
        return deployment

    def _view(self, deployment: _Deployment) -> DeploymentView:
        record = deployment.record
        endpoint = self._router.serving(record.name)
        status = endpoint.status() if endpoint is not None else None
        return DeploymentView(
            name=record.name,
            model=record.model_name,
            version=record.version,
            alias=record.alias,
            served_version=status.version if status else None,
            instances=record.instances,
            ready_instances=status.ready_instances if status else 0,
            max_batch_size=record.max_batch_size,
            max_delay_ms=record.max_delay_ms,
            timeout_s=record.timeout_s or self._defaults.timeout_s,
            isolation=Isolation(record.isolation),
            pii_policy=record.pii_policy,
            state=deployment.state,
            error=deployment.error,
            queue_depth=status.queue_depth if status else 0,
        )

    def _model_owner(self, model_name: str) -> str:
        try:
            return self._registry.get_model(model_name).owner
        except ModelNotFound:  # its start fails with the reason; nobody but the operator sees it
            return OPERATOR_SLUG

    def _launch(self, record: DeploymentRecord, model_owner: str) -> _Deployment:
        deployment = _Deployment(record, model_owner)
        self._deployments[record.name] = deployment
        deployment.task = asyncio.create_task(self._start(deployment), name=f"load-{record.name}")
        return deployment

    async def _start(self, deployment: _Deployment) -> None:
        try:
            spec = await self._spec_for(deployment.record)
            endpoint = await self._placement.start(spec)
        except Exception as exc:  # any load failure must show as "failed", never stuck "loading"
            failure = exc if isinstance(exc, ModelMartError) else ModelMartError(repr(exc))
            deployment.state, deployment.error = "failed", failure.to_dict()["error"]
            return
        self._router.add(deployment.record.name, endpoint, deployment.access)
        deployment.state, deployment.error = "ready", None

    async def _await_launch(
        self, deployment: _Deployment, *, undeploy_on_failure: bool = True
    ) -> None:
        assert deployment.task is not None
        await asyncio.shield(deployment.task)
        if deployment.state == "failed":
            if undeploy_on_failure:
                await self._stop(deployment)
            raise _rebuild_error(deployment.error)

    async def _resolve(self, model: str, version: int | None, alias: str | None) -> ServedVersion:
        info = await asyncio.to_thread(self._registry.resolve, model, version, alias)
        load = await asyncio.to_thread(self._registry.load_request, info)
        return ServedVersion(
            model=info.model, version=info.version, runtime=info.runtime, load=load
        )

    async def _spec_for(self, record: DeploymentRecord) -> EndpointSpec:
        target = await self._resolve(record.model_name, record.version, record.alias)
        return EndpointSpec(
            name=record.name,
            target=target,
            instances=record.instances,
            max_batch_size=record.max_batch_size,
            max_delay_ms=record.max_delay_ms,
            timeout_s=record.timeout_s or self._defaults.timeout_s,
            isolation=Isolation(record.isolation),
            start_timeout_s=self._defaults.start_timeout_s,
        )


def _rebuild_error(error: dict[str, object] | None) -> ModelMartError:
    body = error or {"code": "internal_error", "message": "the deployment failed to load"}
    details = body.get("details")
    return error_class_for(str(body["code"]))(
        str(body["message"]), details=details if isinstance(details, dict) else None
    )
