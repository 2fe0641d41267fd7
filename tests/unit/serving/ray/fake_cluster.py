"""An in-memory stand-in for the Ray cluster: named actors that load the fake runtime in this
process, die on demand (as when their node goes) and keep their name until killed, as Ray's
actors do until the cluster has marked them dead."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import ray.exceptions

from modelmart.arrays import Batch
from modelmart.energy.meters import EnergyMethod, Meter
from modelmart.runtimes.base import LoadRequest
from modelmart.serving.ray.actor import Outcome
from modelmart.serving.ray.cluster import ActorResources, RayCluster
from modelmart.serving.worker import run_batch
from modelmart.types import RuntimeName
from tests.unit.serving.fakes import SIGNATURE, ScalingRuntime

BATCH_UJ = 700
"""What every batch a fake actor runs reports using."""


class BatchMeter(Meter):
    method = EnergyMethod.CPU_TIME

    def start(self) -> object:
        return None

    def stop(self, started: object) -> int:
        return BATCH_UJ


class FakeActor:
    def __init__(self, name: str, request: LoadRequest) -> None:
        self.name = name
        self.alive = True
        self.runtime = ScalingRuntime()
        self.runtime.load(request)
        self.batches = 0


class FakeCluster(RayCluster):
    def __init__(self, *, generative: bool = False) -> None:
        super().__init__("test", ActorResources(cpus=1))
        self.actors: dict[str, FakeActor] = {}
        self.started: list[str] = []
        self.generative = generative
        self.restarts_fail = False
        self.stored: list[Path] = []
        self._lock = threading.Lock()

    def find(self, name: str) -> FakeActor | None:
        return self.actors.get(name)

    def get_or_create(
        self, name: str, runtime: RuntimeName, request: LoadRequest, artifact: Any
    ) -> FakeActor:
        with self._lock:
            actor = self.actors.get(name)
            if actor is None:
                actor = self.actors[name] = FakeActor(name, request)
                self.started.append(name)
            return actor

    def describe(self, actor: FakeActor, timeout_s: float) -> Outcome:
        if not actor.alive or (self.restarts_fail and self.started.count(actor.name) > 1):
            raise ray.exceptions.ActorDiedError()
        return "ready", (SIGNATURE, self.generative)

    def predict(self, actor: FakeActor, batch: Batch, timeout_s: float) -> Outcome:
        if not actor.alive:
            raise ray.exceptions.ActorDiedError()
        actor.batches += 1
        return run_batch(actor.runtime, batch, BatchMeter())

    async def ping(self, actor: FakeActor) -> None:
        if not actor.alive:
            raise ray.exceptions.ActorDiedError()

    def kill(self, actor: FakeActor, *, unload: bool) -> None:
        actor.alive = False
        with self._lock:
            if self.actors.get(actor.name) is actor:
                del self.actors[actor.name]

    def store_path(self, path: Path) -> Any:
        self.stored.append(path)
        return path

    def release_path(self, path: Path) -> None:
        self.stored.remove(path)

    def lose(self, name: str) -> None:
        """The actor's node died: calls on it fail, its name stays taken until it is killed."""
        self.actors[name].alive = False
