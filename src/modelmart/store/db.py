"""Engines, sessions and schema migrations for the metadata database (SQLite or PostgreSQL).

The server calls :func:`create_engine_for`, then :func:`migrate`, then hands
:func:`session_factory` to the services that own tables. Read-then-write transactions start
with :func:`lock_for_write` so that concurrent writers queue instead of racing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, sessionmaker

from modelmart.errors import InvalidRequest

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
_IMMEDIATE = "modelmart_sqlite_immediate"


def create_engine_for(url: str, *, sqlite_fsync: bool = True) -> Engine:
    """An engine for ``url`` (``sqlite:///path`` or ``postgresql+psycopg://...``).

    SQLite connections use WAL (readers never block the writer), enforce foreign keys and wait
    up to 30 s for a lock instead of failing at once; SQLAlchemy, not the sqlite3 module,
    emits BEGIN so that every statement of a transaction, SELECTs included, is inside it.
    Without ``sqlite_fsync`` (``synchronous=NORMAL``) a commit survives the process being
    killed, not the machine losing power, and costs no disk flush.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _configure_sqlite_connection)
        if not sqlite_fsync:
            event.listen(engine, "connect", _skip_fsync)
        event.listen(engine, "begin", _begin_sqlite_transaction)
        return engine
    if url.startswith("postgresql"):
        return create_engine(_with_psycopg_driver(url), pool_pre_ping=True)
    raise InvalidRequest(
        f"database URL {url!r} is not supported; expected sqlite:///path/to.db or "
        "postgresql+psycopg://user:pass@host/db"
    )


def _with_psycopg_driver(url: str) -> str:
    # A bare postgresql:// URL would pick psycopg2, which is not installed; psycopg 3 is.
    scheme, sep, rest = url.partition("://")
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg{sep}{rest}"
    return url


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    # isolation_level None stops sqlite3 from emitting its own (late, DML-only) BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _skip_fsync(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _begin_sqlite_transaction(connection: Connection) -> None:
    if connection.get_execution_options().get(_IMMEDIATE):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


def lock_for_write(session: Session) -> None:
    """Begin ``session``'s transaction so that it may read and then write without racing.

    Must be the session's first database call. On SQLite it takes the database write lock
    (``BEGIN IMMEDIATE``; other writers wait on the busy timeout); on PostgreSQL it is a plain
    BEGIN and callers lock the rows they read with ``SELECT ... FOR UPDATE``.
    """
    session.connection(execution_options={_IMMEDIATE: True})


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose loaded objects stay readable after commit (services return them)."""
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine | None = None) -> Config:
    """An Alembic config that needs no ``alembic.ini``: the script location is the package's
    migrations directory, and ``engine`` (when given) is the database to migrate."""
    config = Config()
    # ConfigParser would read a "%" in the install path as interpolation.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the database to the newest schema (``alembic upgrade head``); a no-op when it is
    already there. Safe to call at every server start."""
    command.upgrade(alembic_config(engine), "head")
