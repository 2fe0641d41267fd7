"""Alembic environment: migrates the engine :func:`modelmart.store.db.migrate` passes in, or,
from the ``alembic`` command line, the database that ``MODELMART_*`` settings name."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from modelmart.config import Settings
from modelmart.store.db import create_engine_for
from modelmart.store.tables import Base


def _engine() -> Engine:
    engine = context.config.attributes.get("engine")
    if isinstance(engine, Engine):
        return engine
    # Only the developer CLI reaches this (alembic -c src/modelmart/store/alembic.ini ...).
    return create_engine_for(Settings().resolved_database_url)


def _run_offline() -> None:
    context.configure(
        url=Settings().resolved_database_url,
        target_metadata=Base.metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    engine = _engine()
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            # SQLite cannot ALTER most things in place; batch mode copies the table instead.
            render_as_batch=engine.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
