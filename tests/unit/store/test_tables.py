from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session, sessionmaker

from modelmart.errors import ModelMartError
from modelmart.store.tables import DeploymentRow, ModelRow, ModelVersionRow


def _version(model_id: int, version: int) -> ModelVersionRow:
    return ModelVersionRow(
        model_id=model_id,
        version=version,
        artifact_digest="0" * 64,
        artifact_size=1,
        format="onnx",
        runtime="onnx",
        signature={},
        parameters={},
        metrics={"accuracy": 0.9},
        lineage={},
    )


def _model(sessions: sessionmaker[Session]) -> int:
    with sessions.begin() as session:
        model = ModelRow(name="iris", task="classification")
        session.add(model)
        session.flush()
        return model.id


def test_versions_are_immutable(sessions: sessionmaker[Session]) -> None:
    model_id = _model(sessions)
    with sessions.begin() as session:
        session.add(_version(model_id, 1))
    with sessions() as session:
        row = session.scalars(select(ModelVersionRow)).one()
        row.metrics = {"accuracy": 1.0}
        with pytest.raises(ModelMartError, match="immutable; register a new version"):
            session.flush()
    with sessions() as session:
        assert session.scalars(select(ModelVersionRow)).one().metrics == {"accuracy": 0.9}


def test_version_numbers_are_unique_per_model(sessions: sessionmaker[Session]) -> None:
    model_id = _model(sessions)
    with sessions.begin() as session:
        session.add(_version(model_id, 1))
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(_version(model_id, 1))


def test_foreign_keys_are_enforced(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(_version(model_id=999, version=1))


def test_timestamps_come_back_as_utc(sessions: sessionmaker[Session]) -> None:
    paris = timezone(timedelta(hours=2))
    with sessions.begin() as session:
        session.add(
            ModelRow(name="m", task="custom", created_at=datetime(2024, 5, 1, 12, tzinfo=paris))
        )
    with sessions() as session:
        created = session.scalars(select(ModelRow.created_at)).one()
    assert created == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert created.tzinfo is UTC


def test_naive_timestamps_are_refused(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(StatementError, match="no time zone"), sessions.begin() as session:
        session.add(ModelRow(name="m", task="custom", created_at=datetime(2024, 5, 1)))


def test_deployment_needs_exactly_one_of_version_and_alias(
    sessions: sessionmaker[Session],
) -> None:
    row = DeploymentRow(
        name="d",
        model_name="m",
        version=1,
        alias="production",
        instances=1,
        max_batch_size=1,
        max_delay_ms=0.0,
        isolation="process",
    )
    with pytest.raises(IntegrityError), sessions.begin() as session:
        session.add(row)
