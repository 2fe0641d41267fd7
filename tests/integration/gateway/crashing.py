"""A real scikit-learn model wrapped so that one input kills its worker process.

Module-level, so the worker process can import the factory by reference.
"""

from __future__ import annotations

import os

from modelmart.arrays import Batch
from modelmart.runtimes.base import Runtime, create_runtime
from modelmart.runtimes.sklearn import SklearnRuntime
from modelmart.schemas.deployments import Isolation
from modelmart.serving.instances import Instance, ProcessInstance
from modelmart.serving.placement import ServedVersion
from modelmart.types import RuntimeName

KILL_VALUE = -999.0


class CrashingSklearnRuntime(SklearnRuntime):
    def predict(self, batch: Batch) -> Batch:
        if (batch["input"] == KILL_VALUE).any():
            os._exit(9)  # what a segfaulting native library looks like from outside
        return super().predict(batch)


def crashing_runtime(name: RuntimeName) -> Runtime:
    return CrashingSklearnRuntime() if name is RuntimeName.SKLEARN else create_runtime(name)


def crashing_instances(target: ServedVersion, isolation: Isolation) -> Instance:
    return ProcessInstance(target.runtime, target.load, crashing_runtime)
