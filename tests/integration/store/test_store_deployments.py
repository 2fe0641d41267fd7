"""Deployment records survive a restart (a new engine on the same database)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from modelmart.store.db import create_engine_for, migrate, session_factory
from modelmart.store.deployments import DeploymentRecord, DeploymentRepository


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine_for(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


def test_saved_deployments_are_restored_by_a_new_process(engine: Engine, database_url: str) -> None:
    repository = DeploymentRepository(session_factory(engine))
    first = repository.save(
        DeploymentRecord(
            name="iris-prod",
            model_name="iris",
            alias="production",
            instances=2,
            max_batch_size=32,
            max_delay_ms=5.0,
            timeout_s=2.5,
            isolation="thread",
        )
    )
    updated = repository.save(dataclasses.replace(first, instances=3, created_at=None))
    assert updated.created_at == first.created_at
    assert updated.updated_at is not None
    assert first.updated_at is not None
    assert updated.updated_at >= first.updated_at

    restarted = create_engine_for(database_url)
    try:
        restored = DeploymentRepository(session_factory(restarted)).list()
    finally:
        restarted.dispose()
    assert restored == [updated]
    assert restored[0].created_at is not None
    assert restored[0].created_at.tzinfo is not None
