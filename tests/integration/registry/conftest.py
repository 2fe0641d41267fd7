from collections.abc import Iterator
from pathlib import Path

import pytest
import skops.io as sio
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sqlalchemy import Engine

from modelmart.registry.service import Registry
from modelmart.store.artifacts import LocalArtifactStore
from modelmart.store.db import create_engine_for, migrate, session_factory


@pytest.fixture(scope="session")
def iris_skops(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real LogisticRegression fitted on iris, saved with skops."""
    features, labels = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(features, labels)
    path = tmp_path_factory.mktemp("models") / "iris.skops"
    sio.dump(model, path)
    return path


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine_for(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def registry(engine: Engine, data_dir: Path) -> Registry:
    """The real thing: local artifacts, the real inspector (it loads every upload)."""
    artifacts = LocalArtifactStore(data_dir / "artifacts")
    return Registry(session_factory(engine), artifacts, data_dir / "cache", 64 * 1024 * 1024)
