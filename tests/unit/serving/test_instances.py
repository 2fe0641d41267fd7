"""A worker process that cannot come back after a crash leaves its instance broken for good."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelmart.errors import NotReady, WorkerCrashed
from modelmart.serving.instances import ProcessInstance
from modelmart.types import Signature

from .fakes import CRASH, make_runtime, rows, served


async def test_a_restart_whose_load_fails_breaks_the_instance(tmp_path: Path) -> None:
    marker = tmp_path / "refuse"
    target = served(refuse_load_when=str(marker))  # type: ignore[arg-type]
    instance = ProcessInstance(target.runtime, target.load, make_runtime)
    await instance.start(30)
    try:
        assert not instance.broken
        marker.touch()  # the model's file went bad: the restart after the crash cannot load
        with pytest.raises(WorkerCrashed):
            await instance.predict(rows(CRASH), 10)
        assert instance.broken
        with pytest.raises(NotReady):
            await instance.predict(rows(1), 10)
    finally:
        await instance.stop()


class UnstartableAfterCrash(ProcessInstance):
    """Starts its first process; every later one fails as if the machine had no room left."""

    starts = 0

    def _start_blocking(self, timeout_s: float) -> Signature:
        self.starts += 1
        if self.starts > 1:
            raise OSError(12, "Cannot allocate memory")
        return super()._start_blocking(timeout_s)


async def test_a_restart_whose_process_cannot_start_breaks_the_instance() -> None:
    target = served()
    instance = UnstartableAfterCrash(target.runtime, target.load, make_runtime)
    await instance.start(30)
    try:
        with pytest.raises(WorkerCrashed):  # the batch's own error, not the restart's
            await instance.predict(rows(CRASH), 10)
        assert instance.broken
        assert instance.starts == 2
    finally:
        await instance.stop()


async def test_a_restart_that_loads_leaves_the_instance_serving() -> None:
    target = served()
    instance = ProcessInstance(target.runtime, target.load, make_runtime)
    await instance.start(30)
    try:
        with pytest.raises(WorkerCrashed):
            await instance.predict(rows(CRASH), 10)
        assert not instance.broken
        assert (await instance.predict(rows(1), 10))["y"].tolist() == [[2.0, 2.0]]
    finally:
        await instance.stop()
