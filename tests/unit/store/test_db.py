import threading
import time
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from modelmart.errors import InvalidRequest
from modelmart.store.db import (
    alembic_config,
    create_engine_for,
    lock_for_write,
    migrate,
    session_factory,
)


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'm.db'}")
    with engine.connect() as connection:
        assert connection.scalar(text("PRAGMA journal_mode")) == "wal"
        assert connection.scalar(text("PRAGMA foreign_keys")) == 1
        assert connection.scalar(text("PRAGMA busy_timeout")) >= 1000
    engine.dispose()


def test_postgresql_urls_use_psycopg_3() -> None:
    engine = create_engine_for("postgresql://user:pw@db.invalid/modelmart")
    assert engine.dialect.driver == "psycopg"


def test_other_databases_are_refused() -> None:
    with pytest.raises(InvalidRequest, match=r"sqlite:///.*postgresql\+psycopg"):
        create_engine_for("mysql://root@localhost/db")


def test_migrate_needs_no_ini_file_and_is_repeatable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no alembic.ini here
    engine = create_engine_for(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    migrate(engine)
    with engine.connect() as connection:
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert connection.scalar(text("SELECT version_num FROM alembic_version")) == head
    engine.dispose()


def test_lock_for_write_makes_writers_queue(tmp_path: Path) -> None:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'm.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE counter (n INTEGER)"))
        connection.execute(text("INSERT INTO counter VALUES (0)"))
    sessions = session_factory(engine)

    def increment() -> None:
        # Read, pause, write: without the lock the increments would overwrite each other.
        with sessions.begin() as session:
            lock_for_write(session)
            n = session.scalar(text("SELECT n FROM counter"))
            time.sleep(0.01)
            session.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})

    threads = [threading.Thread(target=increment) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with sessions() as session:
        assert session.scalar(text("SELECT n FROM counter")) == 8
    engine.dispose()
