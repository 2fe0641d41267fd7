"""A job service over a real database (SQLite, or both SQLite and PostgreSQL), with an
inline executor and a fake inspector; the platform's dataset ``toy`` is registered."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelmart.datasets.service import DatasetService
from modelmart.jobs.records import JobRecords
from modelmart.jobs.service import JobService
from modelmart.registry.service import Registry
from modelmart.schemas.datasets import DatasetMetadata
from modelmart.store.artifacts import MemoryArtifactStore
from modelmart.store.db import create_engine_for, migrate, session_factory
from tests.unit.conftest import FakeInspector
from tests.unit.datasets.files import TABLE, write
from tests.unit.jobs.fakes import FakeExecutor
from tests.unit.registry.builders import SINGLE_USER


@dataclass
class World:
    datasets: DatasetService
    jobs: JobService
    registry: Registry
    executor: FakeExecutor
    records: JobRecords
    inspector: FakeInspector
    jobs_dir: Path


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from _world(f"sqlite:///{tmp_path / 'modelmart.db'}", tmp_path)


@pytest.fixture
def any_world(database_url: str, tmp_path: Path) -> Iterator[World]:
    """A world on SQLite, then on PostgreSQL: for the tests of what the store does."""
    yield from _world(database_url, tmp_path)


def _world(database_url: str, tmp_path: Path) -> Iterator[World]:
    engine = create_engine_for(database_url)
    migrate(engine)
    sessions = session_factory(engine)
    datasets = DatasetService(sessions, MemoryArtifactStore(), tmp_path / "cache", 10**7)
    datasets.register(
        SINGLE_USER, "toy", write(tmp_path / "t.csv", TABLE), "t.csv", DatasetMetadata()
    )
    inspector = FakeInspector()
    registry = Registry(sessions, MemoryArtifactStore(), tmp_path / "mcache", 10**7, inspector)
    executor, records = FakeExecutor(), JobRecords(sessions)
    jobs = JobService(records, datasets, registry, executor, tmp_path / "jobs")
    yield World(datasets, jobs, registry, executor, records, inspector, tmp_path / "jobs")
    engine.dispose()
