"""The model instance as it runs on a cluster node: one Ray actor per instance.

The actor unpacks the artifact it was given into its own temporary directory, loads the
runtime and then predicts one batch per call. Every outcome travels as a ``(kind, payload)``
pair, errors as their JSON body, so the server re-raises the model's own error class (as the
worker processes of the local placement do) and a Ray error always means the actor itself
failed.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path
from typing import Any

import ray

from modelmart.arrays import Batch
from modelmart.energy.meters import EnergySetup
from modelmart.runtimes.base import LoadRequest, Runtime, create_runtime
from modelmart.runtimes.generation import TextGenerator
from modelmart.serving.affinity import pin_process
from modelmart.serving.ray.artifacts import unpack_artifact
from modelmart.serving.streaming import error_payload
from modelmart.serving.worker import run_batch
from modelmart.types import RuntimeName

Outcome = tuple[str, Any]


class ModelActor:
    """Loads in the constructor and keeps the outcome: an actor that failed to load stays up
    to report why (``describe``) to whichever server asks first, then is killed by it."""

    def __init__(
        self,
        runtime_name: RuntimeName,
        request: LoadRequest,
        packed: bytes,
        energy: EnergySetup | None = None,
    ) -> None:
        # The actor is a process of its own: its CPU time is its batches' (as a worker's).
        self._meter = (energy or EnergySetup()).meter()
        self._directory = Path(tempfile.mkdtemp(prefix="modelmart-instance-"))
        self._runtime: Runtime | None = None
        try:
            path = unpack_artifact(packed, self._directory)
            pin_process(request.cpus)  # the CPUs of the node it runs on
            runtime = create_runtime(runtime_name)
            runtime.load(dataclasses.replace(request, path=path))
        except Exception as exc:  # reported by describe(), never a dead actor without a reason
            self._loaded: Outcome = ("error", error_payload(exc))
            return
        self._runtime = runtime
        self._loaded = ("ready", (runtime.signature, isinstance(runtime, TextGenerator)))

    def describe(self) -> Outcome:
        """``("ready", (signature, generative))`` or ``("error", error body)``."""
        return self._loaded

    def predict(self, batch: Batch) -> Outcome:
        if self._runtime is None:
            return self._loaded
        return run_batch(self._runtime, batch, self._meter)

    def ping(self) -> None:
        """Answers while the actor lives; the server watches it with this."""

    def node_id(self) -> str:
        """The cluster node this instance runs on (for logs and tests)."""
        return str(ray.get_runtime_context().get_node_id())

    def unload(self) -> None:
        """Free the model and its unpacked copy before the actor is killed."""
        if self._runtime is not None:
            self._runtime.unload()
            self._runtime = None
        shutil.rmtree(self._directory, ignore_errors=True)
