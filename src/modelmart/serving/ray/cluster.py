"""The server's connection to Ray and the few actor operations the placement uses.

Instance actors are **named and detached** in the installation's namespace: they belong to
the cluster, not to the server that started them, so a second server attaches to them by name
and a server that shuts down leaves them serving the others (see :mod:`.placement` for who
stops them).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray

from modelmart.config import Settings
from modelmart.energy.meters import EnergySetup
from modelmart.runtimes.base import LoadRequest
from modelmart.serving.ray.actor import ModelActor, Outcome
from modelmart.serving.ray.artifacts import SharedArtifacts
from modelmart.types import RuntimeName

UNLOAD_TIMEOUT_S = 10.0

Actor = Any
"""A handle on an instance actor (Ray's handles are typed only at run time)."""

logger = logging.getLogger("modelmart.serving")


@dataclass(frozen=True)
class ActorResources:
    """What each instance reserves on its node."""

    cpus: float = 1.0
    memory_mb: int = 0


def connect(settings: Settings) -> None:
    """Join the cluster at ``settings.ray_address``, or start a single-machine Ray when it is
    empty; a process already connected (a test's driver, a second server in one process)
    keeps its connection."""
    if ray.is_initialized():
        return
    if settings.ray_address:
        ray.init(
            address=settings.ray_address,
            namespace=settings.ray_namespace,
            log_to_driver=False,
            configure_logging=False,
        )
        return
    ray.init(  # a single-machine Ray of this server's own, stopped with it
        namespace=settings.ray_namespace,
        object_store_memory=settings.ray_object_store_mb * 1024 * 1024 or None,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )


class RayCluster:
    """Creates, finds and kills this installation's instance actors."""

    def __init__(
        self, namespace: str, resources: ActorResources, energy: EnergySetup | None = None
    ) -> None:
        self.namespace = namespace
        self.resources = resources
        self.energy = energy or EnergySetup()  # how the actors measure each batch's energy
        self.artifacts: SharedArtifacts[ray.ObjectRef[bytes]] = SharedArtifacts(ray.put)
        self._actor_class = ray.remote(ModelActor)

    def find(self, name: str) -> Actor | None:
        with contextlib.suppress(ValueError):
            return ray.get_actor(name, namespace=self.namespace)
        return None

    def get_or_create(
        self, name: str, runtime: RuntimeName, request: LoadRequest, artifact: Any
    ) -> Actor:
        """The actor called ``name``, started with ``artifact`` (an object store reference)
        if no server started it yet. Instances spread over the nodes, so one node lost takes
        as few of a deployment's instances as possible."""
        options = self._actor_class.options(
            name=name,
            namespace=self.namespace,
            lifetime="detached",
            get_if_exists=True,
            max_restarts=0,  # a lost actor is restarted by its servers, who hold its artifact
            num_cpus=self.resources.cpus,
            memory=self.resources.memory_mb * 1024 * 1024 or None,
            scheduling_strategy="SPREAD",
        )
        return options.remote(runtime, request, artifact, self.energy)

    def describe(self, actor: Actor, timeout_s: float) -> Outcome:
        outcome: Outcome = ray.get(actor.describe.remote(), timeout=timeout_s)
        return outcome

    def predict(self, actor: Actor, batch: Any, timeout_s: float) -> Outcome:
        outcome: Outcome = ray.get(actor.predict.remote(batch), timeout=timeout_s)
        return outcome

    async def ping(self, actor: Actor) -> None:
        await actor.ping.remote()

    def kill(self, actor: Actor, *, unload: bool) -> None:
        """Stop ``actor``; ``unload`` first lets it free its model and unpacked copy."""
        if unload:
            with contextlib.suppress(ray.exceptions.RayError):
                ray.get(actor.unload.remote(), timeout=UNLOAD_TIMEOUT_S)
        with contextlib.suppress(ray.exceptions.RayError, ValueError):
            ray.kill(actor, no_restart=True)

    def store_path(self, path: Path) -> Any:
        return self.artifacts.take(path)

    def release_path(self, path: Path) -> None:
        self.artifacts.give_back(path)
