"""Fake runtimes for serving tests. Module-level so worker processes can import them."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from modelmart.arrays import Batch
from modelmart.runtimes.base import LoadRequest, Runtime
from modelmart.schemas.deployments import Isolation
from modelmart.serving.instances import Instance, ProcessInstance, ThreadInstance
from modelmart.serving.placement import ServedVersion
from modelmart.types import ArtifactFormat, Datatype, RuntimeName, Signature, TensorSpec

SIGNATURE = Signature(
    inputs=(TensorSpec(name="x", datatype=Datatype.FP32, shape=(-1, 2)),),
    outputs=(TensorSpec(name="y", datatype=Datatype.FP32, shape=(-1, 2)),),
)
CRASH, HANG, RAISE, SHORT = -1.0, -2.0, -3.0, -4.0


class ScalingRuntime(Runtime):
    """Multiplies by the ``factor`` parameter; special first values misbehave on purpose."""

    name = RuntimeName.ONNX
    batch_sizes: list[int]

    def load(self, request: LoadRequest) -> None:
        if request.parameters.get("fail_load"):
            raise ValueError("this fake refuses to load")
        refuse_when = request.parameters.get("refuse_load_when")
        if refuse_when is not None and Path(refuse_when).exists():
            raise ValueError("this fake refuses to load once its marker file exists")
        self.factor = float(request.parameters.get("factor", 2.0))
        self.delay_s = float(request.parameters.get("delay_s", 0.0))
        self.batch_sizes = []

    @property
    def signature(self) -> Signature:
        return SIGNATURE

    def predict(self, batch: Batch) -> Batch:
        x = batch["x"]
        self.batch_sizes.append(len(x))
        first = float(x[0, 0])
        if first == CRASH:
            os._exit(3)
        if first == HANG:
            time.sleep(60)
        if first == RAISE:
            raise ZeroDivisionError("the fake model divided by zero")
        if first == SHORT:
            return {"y": x[:-1] * self.factor}
        time.sleep(self.delay_s)
        return {"y": x * self.factor}


def make_runtime(name: RuntimeName) -> Runtime:
    return ScalingRuntime()


def served(version: int = 1, **parameters: float) -> ServedVersion:
    load = LoadRequest(Path("/nonexistent"), ArtifactFormat.ONNX, parameters=parameters)
    return ServedVersion(model="fake", version=version, runtime=RuntimeName.ONNX, load=load)


def fake_instance(target: ServedVersion, isolation: Isolation) -> Instance:
    kind = ProcessInstance if isolation is Isolation.PROCESS else ThreadInstance
    return kind(target.runtime, target.load, make_runtime)


def rows(*values: float) -> Batch:
    return {"x": np.array([[v, v] for v in values], dtype=np.float32)}
