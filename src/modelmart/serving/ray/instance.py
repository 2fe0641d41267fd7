"""A model instance that is a Ray actor somewhere on the cluster.

It plugs into the local placement's endpoint as any :class:`~modelmart.serving.instances.Instance`
does: the endpoint's batcher hands it one batch at a time, so each batch is one remote call.
Like a worker process, it restarts itself when its actor dies (its node went away, or it was
killed): a watch task notices that within :data:`WATCH_INTERVAL_S` even while no request comes,
the batch in flight fails with :class:`~modelmart.errors.InstanceLost` (a retryable 503), and
the actor is started again on a node that is still up. If that fails until the start timeout,
the instance is ``broken`` and the endpoint replaces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import ray

from modelmart.arrays import Batch
from modelmart.errors import InferenceTimeout, InstanceLost, InvalidRequest
from modelmart.serving.instances import Instance, Measured, raise_error_payload
from modelmart.serving.placement import ServedVersion
from modelmart.serving.ray.cluster import Actor, RayCluster
from modelmart.serving.ray.naming import SlotNumbers, actor_name, generation
from modelmart.types import Signature

WATCH_INTERVAL_S = 1.0
RETRY_START_S = 0.25
"""Pause between attempts to start a lost actor again: its name is free once the cluster has
marked the old one dead."""

logger = logging.getLogger("modelmart.serving")


@dataclass
class Hold:
    """How one server holds its instance actors: ``detached`` once it shuts down, when its
    instances let go of their actors instead of killing them."""

    detached: bool = False


class GenerativeModel(InvalidRequest):
    """Chat models stream token by token and keep their sequences' state in one engine: they
    are served on the server's own machine (the placement falls back to local instances)."""


class RayInstance(Instance):
    """One instance actor, found or started by name; see the module's description."""

    def __init__(
        self,
        deployment: str,
        target: ServedVersion,
        cluster: RayCluster,
        slots: SlotNumbers,
        hold: Hold,
    ) -> None:
        super().__init__(target.runtime, target.load)
        self._cluster = cluster
        self._hold = hold
        self._slots = slots
        self._generation = generation(target)
        self._slot = slots.claim(self._generation)
        self.name = actor_name(deployment, target, self._slot)
        self._actor: Actor | None = None
        self._artifact: Any = None
        self._start_timeout_s = 300.0
        self._watch: asyncio.Task[None] | None = None
        self._started = False
        self.restarting = False
        self.stopped = False

    @property
    def up(self) -> bool:
        """Loaded and serving: started, not restarting, not broken and not stopped."""
        return self._started and not (self.restarting or self.broken or self.stopped)

    async def start(self, timeout_s: float) -> Signature:
        signature = await super().start(timeout_s)
        self._started = True
        self._watch = asyncio.create_task(self._watch_actor(), name=f"watch-{self.name}")
        return signature

    async def stop(self) -> None:
        self.stopped = True
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
        await super().stop()

    def _start_blocking(self, timeout_s: float) -> Signature:
        self._start_timeout_s = timeout_s
        # Attaching to a running actor needs no copy of the artifact in the object store.
        actor = self._cluster.find(self.name) or self._get_or_create()
        self._actor = actor
        try:
            kind, payload = self._cluster.describe(actor, timeout_s)
        except ray.exceptions.GetTimeoutError:
            raise InferenceTimeout(
                f"the model took longer than {timeout_s:g} s loading on the cluster (or no "
                "node had the CPU and memory its instances reserve free); raise the "
                "deployment's start_timeout_s or add nodes",
                details={"timeout_s": timeout_s},
            ) from None
        except ray.exceptions.RayError as exc:  # its node died, or it ran out of memory
            raise self._lost(f"died while loading ({type(exc).__name__})") from None
        if kind == "error":
            raise_error_payload(payload)
        signature: Signature
        signature, generative = payload
        if generative:
            raise GenerativeModel(
                "chat models are served on the server's own machine, not on the cluster"
            )
        return signature

    def _predicts_here(self) -> bool:
        return True  # every batch is one remote call to the actor, from this instance's thread

    def _predict_blocking(self, batch: Batch, timeout_s: float) -> Measured:
        actor = self._actor
        if actor is None or self.broken:
            raise self._lost("is out of service")
        try:
            kind, payload = self._cluster.predict(actor, batch, timeout_s)
        except ray.exceptions.GetTimeoutError:
            self._recover_next(actor)  # as a worker process is killed when it goes silent
            raise InferenceTimeout(
                f"the model took longer than {timeout_s:g} s running the batch; its instance "
                "was restarted. Raise the deployment's timeout_s or send smaller batches",
                details={"timeout_s": timeout_s},
            ) from None
        except ray.exceptions.RayError:
            self._recover_next(actor)
            raise self._lost("was lost while running the batch") from None
        if kind != "ok":
            raise_error_payload(payload)
        outputs, energy_uj = payload
        return Measured(outputs, energy_uj)

    def _send(self, kind: str, rid: str, payload: Any) -> None:
        raise GenerativeModel("a cluster instance serves no generations")

    def _stop_blocking(self) -> None:
        """Kill the actor, unless the server is shutting down: then it leaves it to the
        other servers (and to the next start of this one, which attaches to it again)."""
        if self._actor is not None and not self._hold.detached:
            self._cluster.kill(self._actor, unload=True)
        self._actor = None
        if self._artifact is not None:
            self._cluster.release_path(self.request.path)
            self._artifact = None
        self._slots.release(self._generation, self._slot)

    async def _watch_actor(self) -> None:
        """Notice a lost actor while no batch is running, so readiness says so at once."""
        loop = asyncio.get_running_loop()
        while True:
            actor = self._actor
            if actor is None or self.broken:
                return
            try:
                await self._cluster.ping(actor)
            except ray.exceptions.RayError:
                await loop.run_in_executor(self._executor, self._recover, actor)
            await asyncio.sleep(WATCH_INTERVAL_S)

    def _recover_next(self, lost: Actor) -> None:
        """Restart the actor before the next batch, without holding this one's callers: they
        get their answer (an error) now and are retried elsewhere."""
        self.restarting = True
        with contextlib.suppress(RuntimeError):  # stopped meanwhile: nothing to restart
            self._executor.submit(self._recover, lost)

    def _recover(self, lost: Actor) -> None:
        """Start the actor again (anywhere) in place of ``lost``; ``broken`` if it cannot be
        within the start timeout. Runs in the instance's one thread, so batches wait for it."""
        if lost is not self._actor or self.broken:
            self.restarting = False
            return  # already restarted by the batch or the watch that saw it first
        self.restarting = True
        logger.warning("instance %s was lost; starting it again", self.name)
        deadline = time.monotonic() + self._start_timeout_s
        try:
            while time.monotonic() < deadline:
                self._cluster.kill(lost, unload=False)  # frees its name for the new one
                if self._restarted(deadline):
                    return
                time.sleep(RETRY_START_S)
            self.broken = True
            logger.error("instance %s could not be started again", self.name)
        finally:
            self.restarting = False

    def _get_or_create(self) -> Actor:
        if self._artifact is None:
            self._artifact = self._cluster.store_path(self.request.path)
        return self._cluster.get_or_create(
            self.name, self.runtime_name, self.request, self._artifact
        )

    def _restarted(self, deadline: float) -> bool:
        actor = self._get_or_create()
        try:
            kind, _ = self._cluster.describe(actor, max(0.1, deadline - time.monotonic()))
        except ray.exceptions.RayError:
            return False  # still the dead actor's name, or its node went too
        if kind != "ready":
            self._cluster.kill(actor, unload=False)
            return False
        self._actor = actor
        return True

    def _lost(self, what: str) -> InstanceLost:
        return InstanceLost(
            f"the model instance {self.name} {what} (its cluster node may have gone); it is "
            "being started again on another node. Retry the request",
            retry_after_s=1,
        )
