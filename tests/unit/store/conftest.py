from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from modelmart.store.db import create_engine_for, migrate, session_factory


@pytest.fixture
def sessions(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """Sessions on a migrated SQLite database in the test's temporary folder."""
    engine = create_engine_for(f"sqlite:///{tmp_path / 'modelmart.db'}")
    migrate(engine)
    yield session_factory(engine)
    engine.dispose()
