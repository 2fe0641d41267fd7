"""Deployments: which model version serves under which name, kept in step while serving.

The manager persists every deployment, resolves versions and aliases through the registry,
and asks the placement for endpoints. Loading runs in the background; a deployment is
``loading`` until every instance is up, then ``ready`` (or ``failed`` with the reason).

Deployments with ``min_instances``/``max_instances`` are scaled by an
:class:`~modelmart.deploy.autoscaler.Autoscaler` this manager drives. Every change of one
deployment's endpoint (an update, an alias move, a scaling step, a change seen in the database)
holds that deployment's lock, so none of them applies a stale spec over another.

Several servers may share one database: each reconciles with the deployments table every
``sync_interval_s`` (:meth:`DeploymentManager.sync`), so a deployment made, changed or removed
through one server is served, changed or stopped by the others within that interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from modelmart.deploy.autoscaler import (
    Autoscaler,
    AutoscalerSettings,
    Scaled,
    ScalingPolicy,
)
from modelmart.errors import (
    AlreadyExists,
    DeploymentNotFound,
    Forbidden,
    InvalidRequest,
    ModelMartError,
    ModelNotFound,
    NotReady,
    error_class_for,
)
from modelmart.registry.service import Registry
from modelmart.schemas.deployments import (
    DEFAULT_TARGET_ONGOING,
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
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    @property
    def access(self) -> DeploymentAccess:
        return DeploymentAccess(self.record.owner, self.record.model_name, self.model_owner)


logger = logging.getLogger("modelmart.deployments")


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
        autoscaling: AutoscalerSettings | None = None,
        sync_interval_s: float | None = None,
    ) -> None:
        self._registry = registry
        self._repository = repository
        self._placement = placement
        self._router = router
        self._defaults = defaults
        self._deployments: dict[str, _Deployment] = {}
        self._autoscaler = Autoscaler(self, autoscaling or AutoscalerSettings())
        self._sync_interval_s = sync_interval_s
        self._syncer: asyncio.Task[None] | None = None
        # Held while deployments are added or removed, here or by a sync, so that a sync
        # never mistakes a deployment this server is making or removing for another's.
        self._membership = asyncio.Lock()

    async def restore(self) -> None:
        """Start every deployment saved before the last shutdown (in the background), then
        keep in step with the table if other servers share it."""
        async with self._membership:
            for record in await asyncio.to_thread(self._repository.list):
                owner = await asyncio.to_thread(self._model_owner, record.model_name)
                self._launch(record, owner)
        if self._sync_interval_s is not None and self._syncer is None:
            self._syncer = asyncio.create_task(self._sync_forever(), name="deployment-sync")

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
        low, high = scaling_bounds(request.min_instances, request.max_instances, request.instances)
        record = DeploymentRecord(
            name=name,
            model_name=model.name,
            # With neither a version nor an alias, pin the latest version as of now.
            version=None if request.alias else target.version,
            alias=request.alias,
            instances=_starting_count(request.instances, low, high),
            max_batch_size=request.max_batch_size,
            max_delay_ms=request.max_delay_ms,
            timeout_s=request.timeout_s,
            isolation=request.isolation.value,
            owner=principal.owner,
            pii_policy=request.pii_policy,
            created_at=now,
            updated_at=now,
            min_instances=low,
            max_instances=high,
            target_ongoing_requests=request.target_ongoing_requests or DEFAULT_TARGET_ONGOING,
            max_queued_requests=request.max_queued_requests,
            cpus=tuple(request.cpus or ()),
        )
        async with self._membership:
            # Insert-only: another server sharing the database may have made it meanwhile.
            await asyncio.to_thread(self._repository.create, record)
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
        async with deployment.lock:
            # The changes go onto the saved record, not this server's copy: another server may
            # have changed other fields since this one last synced, and they must not be lost.
            saved = await asyncio.to_thread(self._repository.get, deployment.record.name)
            if saved is None:
                raise _removed_elsewhere(deployment.record.name)
            record = _changed(saved, changes)
            relaunched = await self._move_to(
                deployment, record, keep_scale="instances" not in changes.model_fields_set
            )
        if relaunched is not None:
            await self._await_launch(relaunched, undeploy_on_failure=False)
            return self._view(relaunched)
        return self._view(deployment)

    async def _move_to(
        self,
        deployment: _Deployment,
        record: DeploymentRecord,
        *,
        keep_scale: bool,
        save: bool = True,
    ) -> _Deployment | None:
        """Serve ``record`` (holding ``deployment``'s lock) and, with ``save``, save it; a
        failed deployment starts afresh instead, returned to be awaited outside the lock.
        A sync passes ``save=False``: writing back what it read could overwrite a newer change
        another server saved meanwhile."""
        name = deployment.record.name
        endpoint = self._router.serving(name)
        if endpoint is not None:
            current = endpoint.spec.instances if keep_scale else None
            await endpoint.apply(await self._spec_for(record, current))
        elif deployment.state == "failed":  # nothing is serving: start afresh with the change
            if save:
                await asyncio.to_thread(self._repository.save, record)
            async with self._membership:
                return self._launch(record, deployment.model_owner)
        else:
            raise NotReady(
                f"deployment {name!r} is still loading; retry the change once it is ready",
                details={"state": deployment.state},
            )
        deployment.record = record
        if save:
            await asyncio.to_thread(self._repository.save, record)
        return None

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

    async def _stop(self, deployment: _Deployment, *, forget: bool = True) -> None:
        """Stop serving ``deployment``; ``forget`` deletes its saved record too (False when
        another server already removed it)."""
        name = deployment.record.name
        async with self._membership:
            endpoint = self._router.remove(name)
            if deployment.task is not None and not deployment.task.done():
                deployment.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await deployment.task
            if self._deployments.get(name) is deployment:
                del self._deployments[name]
            if forget:
                await asyncio.to_thread(self._repository.delete, name)
        if endpoint is not None:
            await endpoint.close()

    # Autoscaling (the autoscaler's ScalingTarget)

    def autoscaled(self) -> list[Scaled]:
        """The serving deployments with autoscaling bounds."""
        scaled = []
        for name, deployment in self._deployments.items():
            policy = _policy_of(deployment.record)
            endpoint = self._router.serving(name)
            if policy is not None and endpoint is not None:
                scaled.append(Scaled(name, endpoint, policy))
        return scaled

    async def scale(self, name: str, instances: int) -> None:
        """Run ``instances`` instances of deployment ``name`` (within its bounds)."""
        deployment = self._deployments.get(name)
        if deployment is None:
            return
        async with deployment.lock:
            policy = _policy_of(deployment.record)
            endpoint = self._router.serving(name)
            if policy is None or endpoint is None or self._deployments.get(name) is not deployment:
                return  # autoscaling was turned off or it was undeployed meanwhile
            count = policy.clamp(instances)
            if count != endpoint.spec.instances:
                await endpoint.apply(dataclasses.replace(endpoint.spec, instances=count))

    # Several servers on one database

    async def sync(self) -> None:
        """Catch up with the deployments table: serve what another server deployed, apply
        what it changed, stop what it removed, and follow aliases it moved."""
        async with self._membership:
            saved = {r.name: r for r in await asyncio.to_thread(self._repository.list)}
            for name, record in saved.items():
                if name not in self._deployments:
                    logger.info("serving %s, deployed by another server", name)
                    owner = await asyncio.to_thread(self._model_owner, record.model_name)
                    self._launch(record, owner)
            removed = [d for name, d in self._deployments.items() if name not in saved]
        for deployment in removed:
            logger.info("stopping %s, undeployed by another server", deployment.record.name)
            await self._stop(deployment, forget=False)
        for name, record in saved.items():
            known = self._deployments.get(name)
            if known is not None:
                await self._catch_up(known, record)

    async def _catch_up(self, deployment: _Deployment, saved: DeploymentRecord) -> None:
        if deployment.state == "loading" or deployment.lock.locked():
            return  # busy here; the next sync looks again
        relaunched = None
        try:
            async with deployment.lock:
                if not deployment.record.same_spec(saved):
                    relaunched = await self._move_to(deployment, saved, keep_scale=True, save=False)
                elif saved.alias is not None and await self._alias_moved_away(deployment):
                    await self._move_to(deployment, saved, keep_scale=True, save=False)
        except ModelMartError as exc:
            deployment.error = exc.to_dict()["error"]
        if relaunched is not None:
            with contextlib.suppress(ModelMartError):
                await self._await_launch(relaunched, undeploy_on_failure=False)

    async def _alias_moved_away(self, deployment: _Deployment) -> bool:
        record, endpoint = deployment.record, self._router.serving(deployment.record.name)
        if endpoint is None or record.alias is None:
            return False
        target = await asyncio.to_thread(
            self._registry.resolve, record.model_name, None, record.alias
        )
        return target.version != endpoint.spec.target.version

    async def _sync_forever(self) -> None:
        assert self._sync_interval_s is not None
        while True:
            await asyncio.sleep(self._sync_interval_s)
            try:
                await self.sync()
            except Exception:  # a database hiccup must not end syncing for good
                logger.warning("syncing deployments with the database failed", exc_info=True)

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
        if self._syncer is not None:
            self._syncer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._syncer
            self._syncer = None
        await self._autoscaler.close()
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
            min_instances=record.min_instances,
            max_instances=record.max_instances,
            target_ongoing_requests=record.target_ongoing_requests,
            desired_instances=endpoint.spec.instances if endpoint is not None else 0,
            max_queued_requests=status.queue_limit if status else 0,
            cpus=list(record.cpus),
        )

    def _model_owner(self, model_name: str) -> str:
        try:
            return self._registry.get_model(model_name).owner
        except ModelNotFound:  # its start fails with the reason; nobody but the operator sees it
            return OPERATOR_SLUG

    def _launch(self, record: DeploymentRecord, model_owner: str) -> _Deployment:
        deployment = _Deployment(record, model_owner)
        self._deployments[record.name] = deployment
        self._autoscaler.start()
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
        endpoint.on_cold_demand(self._autoscaler.wake)
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

    async def _spec_for(self, record: DeploymentRecord, current: int | None = None) -> EndpointSpec:
        """The endpoint spec of ``record``; an autoscaled deployment keeps its ``current``
        count (within its new bounds) unless the change set ``instances``."""
        target = await self._resolve(record.model_name, record.version, record.alias)
        instances = record.instances
        policy = _policy_of(record)
        if policy is not None and current is not None:
            instances = policy.clamp(current)
        return EndpointSpec(
            name=record.name,
            target=target,
            instances=instances,
            max_batch_size=record.max_batch_size,
            max_delay_ms=record.max_delay_ms,
            timeout_s=record.timeout_s or self._defaults.timeout_s,
            isolation=Isolation(record.isolation),
            start_timeout_s=self._defaults.start_timeout_s,
            max_queued=record.max_queued_requests,
            cpus=record.cpus,
        )


def scaling_bounds(
    low: int | None, high: int | None, instances: int
) -> tuple[int | None, int | None]:
    """Both autoscaling bounds, or neither: a missing floor is 1 (0 only when asked: scale to
    zero), a missing cap the larger of ``instances`` and the floor."""
    if low is None and high is None:
        return None, None
    low = 1 if low is None else low
    high = max(instances, low, 1) if high is None else high
    if low > high:
        raise InvalidRequest(
            f"min_instances ({low}) must not exceed max_instances ({high})",
            details={"param": "min_instances"},
        )
    return low, high


def _starting_count(instances: int, low: int | None, high: int | None) -> int:
    """The count a deployment starts with: ``instances`` within its bounds, at least one."""
    if high is None:
        return instances
    return max(1, min(high, max(instances, low or 0)))


def _changed(record: DeploymentRecord, changes: DeploymentUpdate) -> DeploymentRecord:
    """``record`` with ``changes``: setting ``version`` drops the alias and the other way
    round; setting one autoscaling bound completes the other."""
    fields: dict[str, Any] = changes.model_dump(exclude_none=True)
    if "max_queued_requests" in changes.model_fields_set:  # null: the server's limit again
        fields["max_queued_requests"] = changes.max_queued_requests
    if "cpus" in fields:
        fields["cpus"] = tuple(fields["cpus"])
    if "version" in fields or "alias" in fields:
        fields.setdefault("version", None)
        fields.setdefault("alias", None)
    if "isolation" in fields:
        fields["isolation"] = Isolation(fields["isolation"]).value
    if "min_instances" in fields or "max_instances" in fields:
        low, high = scaling_bounds(
            fields.get("min_instances", record.min_instances),
            fields.get("max_instances", record.max_instances),
            fields.get("instances", record.instances),
        )
        fields["min_instances"], fields["max_instances"] = low, high
    if "instances" in fields:
        low = fields.get("min_instances", record.min_instances)
        high = fields.get("max_instances", record.max_instances)
        fields["instances"] = _starting_count(fields["instances"], low, high)
    return dataclasses.replace(record, **fields, updated_at=datetime.now(UTC))


def _policy_of(record: DeploymentRecord) -> ScalingPolicy | None:
    if record.min_instances is None or record.max_instances is None:
        return None
    return ScalingPolicy(record.min_instances, record.max_instances, record.target_ongoing_requests)


def _removed_elsewhere(name: str) -> DeploymentNotFound:
    return DeploymentNotFound(
        f"deployment {bare_name(name)!r} was just undeployed through another server; list "
        "what is deployed with GET /v1/deployments",
        details={"deployment": bare_name(name)},
    )


def _rebuild_error(error: dict[str, object] | None) -> ModelMartError:
    body = error or {"code": "internal_error", "message": "the deployment failed to load"}
    details = body.get("details")
    return error_class_for(str(body["code"]))(
        str(body["message"]), details=details if isinstance(details, dict) else None
    )
