from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from modelmart.registry.service import Registry
from modelmart.runtimes.base import LoadRequest
from modelmart.store.artifacts import MemoryArtifactStore
from modelmart.store.db import create_engine_for, migrate, session_factory
from modelmart.types import RuntimeName, Signature
from tests.unit.registry.builders import SIGNATURE


class FakeInspector:
    """Stands in for loading a model: records what it was asked, returns a fixed signature
    (the declared one when given) or raises ``error``."""

    def __init__(self) -> None:
        self.calls: list[tuple[RuntimeName, LoadRequest]] = []
        self.seen_files: list[list[str]] = []
        self.error: Exception | None = None

    def __call__(self, runtime: RuntimeName, request: LoadRequest) -> Signature:
        self.calls.append((runtime, request))
        if request.path.is_dir():
            self.seen_files.append(sorted(p.name for p in request.path.iterdir()))
        if self.error is not None:
            raise self.error
        return request.signature or SIGNATURE


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'modelmart.db'}")
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture
def inspector() -> FakeInspector:
    return FakeInspector()


@pytest.fixture
def artifacts() -> MemoryArtifactStore:
    return MemoryArtifactStore()


@pytest.fixture
def registry(
    sessions: sessionmaker[Session],
    artifacts: MemoryArtifactStore,
    inspector: FakeInspector,
    tmp_path: Path,
) -> Registry:
    return Registry(sessions, artifacts, tmp_path / "cache", 10 * 1024 * 1024, inspector)
