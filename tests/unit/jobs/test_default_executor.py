"""Which executor runs training: worker processes here, or Ray tasks with the Ray placement."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelmart.config import Settings
from modelmart.gateway.training_services import default_executor
from modelmart.jobs import ray_executor
from modelmart.jobs.processes import ProcessExecutor


class _FakeRayExecutor:
    def __init__(self, address: str | None) -> None:
        self.address = address


def test_the_local_placement_trains_in_worker_processes(tmp_path: Path) -> None:
    executor = default_executor(Settings(data_dir=tmp_path))
    assert isinstance(executor, ProcessExecutor)
    executor.close()


def test_the_ray_placement_trains_on_the_cluster_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ray_executor, "RayJobExecutor", _FakeRayExecutor)
    settings = Settings(data_dir=tmp_path, placement="ray", ray_address="10.0.0.5:6379")
    executor = default_executor(settings)
    assert isinstance(executor, _FakeRayExecutor)
    assert executor.address == "10.0.0.5:6379"
