"""The Ray placement: every model instance is an actor placed on any node of a Ray cluster.

Everything but the instance is the local placement's: one
:class:`~modelmart.serving.local.LocalEndpoint` per deployment batches requests in this
server, scales, swaps versions and replaces broken instances; its instances are
:class:`~.instance.RayInstance` actors, so a batch is one remote call.

Ownership: instance actors are detached and named after the deployment, the version's
generation and a slot, so every server of the installation attaches to the same actors.
Undeploying, scaling down and swapping versions stop actors (every server applies the same
change); a server that shuts down only lets go of them (:meth:`RayPlacement.detach`), so the
others keep serving and its next start attaches again.

A request whose batch was on an actor that was lost (its node died) is run once more on
another instance: predictions have no side effects, and the ledger is written once per HTTP
response, so the retry is never billed twice. If that fails too, the client gets the
retryable 503 ``instance_lost`` with a ``Retry-After``.

Chat models are served by local instances on the server's machine: their streams and engine
state stay where the HTTP connection is (see docs/cluster.md).
"""

from __future__ import annotations

import dataclasses

from modelmart.arrays import Batch
from modelmart.errors import InstanceLost, NotReady
from modelmart.schemas.deployments import Isolation
from modelmart.serving.batcher import Admission, ClientGone
from modelmart.serving.instances import Instance
from modelmart.serving.local import (
    DEFAULT_BACKOFF,
    Backoff,
    LocalEndpoint,
    with_thread_count,
)
from modelmart.serving.placement import (
    BatchObserver,
    Endpoint,
    EndpointSpec,
    EndpointStatus,
    Placement,
    Prediction,
    ServedVersion,
)
from modelmart.serving.ray.cluster import RayCluster
from modelmart.serving.ray.instance import GenerativeModel, Hold, RayInstance
from modelmart.serving.ray.naming import SlotNumbers


def with_threads(spec: EndpointSpec, cpus: float) -> EndpointSpec:
    """``spec`` whose instances run as many threads as the CPUs they reserve (unless the
    version sets ``threads``): the local placement would divide this server's cores instead,
    which says nothing about the node an instance lands on."""
    return dataclasses.replace(spec, target=with_thread_count(spec.target, max(1, int(cpus))))


class _ClusterInstances:
    """The instance factory of one endpoint; knows its instances, for the readiness."""

    def __init__(self, deployment: str, cluster: RayCluster, hold: Hold) -> None:
        self._deployment = deployment
        self._cluster = cluster
        self._hold = hold
        self._slots = SlotNumbers()
        self.made: list[RayInstance] = []

    def __call__(self, target: ServedVersion, isolation: Isolation) -> Instance:
        instance = RayInstance(self._deployment, target, self._cluster, self._slots, self._hold)
        self.made = [i for i in self.made if not i.stopped] + [instance]
        return instance

    def up(self) -> int:
        """Instances whose actor is loaded and answering (none restarting or lost)."""
        return sum(1 for instance in self.made if instance.up)


class RayEndpoint(Endpoint):
    """A local endpoint with cluster instances: retries a batch lost with its node once, and
    counts instances whose actor is being restarted as starting, not ready."""

    def __init__(self, inner: LocalEndpoint, instances: _ClusterInstances, cpus: float) -> None:
        self._inner = inner
        self._instances = instances
        self._cpus = cpus
        self.spec = inner.spec
        self.signature = inner.signature

    async def predict(self, inputs: Batch, gone: ClientGone | None = None) -> Prediction:
        try:
            return await self._inner.predict(inputs, gone)
        except InstanceLost as lost:
            try:  # once: another instance (or this one, started again) takes it
                return await self._inner.predict(inputs, gone)
            except NotReady:
                raise lost from None  # nothing else is up: the retryable answer, Retry-After

    def admit(self) -> None:
        self._inner.admit()

    async def apply(self, spec: EndpointSpec) -> None:
        await self._inner.apply(with_threads(spec, self._cpus))
        self.spec, self.signature = self._inner.spec, self._inner.signature

    def status(self) -> EndpointStatus:
        status = self._inner.status()
        down = status.ready_instances - min(self._instances.up(), status.ready_instances)
        return dataclasses.replace(
            status,
            ready_instances=status.ready_instances - down,
            starting_instances=status.starting_instances + down,
        )

    async def close(self) -> None:
        await self._inner.close()


class RayPlacement(Placement):
    """Starts endpoints whose instances are actors on ``cluster``; chat models go to
    ``local`` (the server's machine)."""

    def __init__(
        self,
        cluster: RayCluster,
        local: Placement,
        observer: BatchObserver | None = None,
        admission: Admission | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
    ) -> None:
        self.cluster = cluster
        self._hold = Hold()
        self._local = local
        self._observer = observer
        self._admission = admission
        self._backoff = backoff

    async def start(self, spec: EndpointSpec) -> Endpoint:
        cpus = self.cluster.resources.cpus
        instances = _ClusterInstances(spec.name, self.cluster, self._hold)
        inner = LocalEndpoint(
            with_threads(spec, cpus),
            self._observer,
            instances,
            self._backoff,
            admission=self._admission,
        )
        try:
            await inner.start()
        except GenerativeModel:
            return await self._local.start(spec)
        return RayEndpoint(inner, instances, cpus)

    def detach(self) -> None:
        """The server is shutting down: leave the instance actors up for the other servers."""
        self._hold.detached = True
