import pytest
from sqlalchemy.orm import Session, sessionmaker

from modelmart.errors import InvalidPiiPolicy, InvalidRequest
from modelmart.store.deployments import DeploymentRecord, DeploymentRepository


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"version": 1, "alias": "production"}, "exactly one"),
        ({}, "exactly one"),
        ({"version": 1, "isolation": "fork"}, "isolation"),
        ({"version": 1, "instances": 0}, "instances >= 1"),
        ({"version": 1, "name": ""}, "1 to 200"),
        ({"version": 1, "cpus": (0,), "isolation": "thread"}, "only worker processes"),
        ({"version": 1, "cpus": (1, 1)}, "distinct CPU ids"),
        ({"version": 1, "max_queued_requests": 0}, "max_queued_requests >= 1"),
    ],
)
def test_records_are_validated_at_construction(fields: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        DeploymentRecord(**{"name": "d", "model_name": "m", **fields})  # type: ignore[arg-type]


def test_save_get_list_delete(sessions: sessionmaker[Session]) -> None:
    repository = DeploymentRepository(sessions)
    saved = repository.save(DeploymentRecord(name="b", model_name="iris", alias="production"))
    repository.save(DeploymentRecord(name="a", model_name="iris", version=2, timeout_s=1.5))
    assert saved.created_at is not None
    assert repository.get("b") == saved
    assert [record.name for record in repository.list()] == ["a", "b"]
    assert repository.delete("a") is True
    assert repository.delete("a") is False
    assert repository.get("a") is None


def test_a_deployments_pii_policy_is_checked_and_kept(sessions: sessionmaker[Session]) -> None:
    repository = DeploymentRepository(sessions)
    repository.save(
        DeploymentRecord(name="chat", model_name="smol", version=1, pii_policy="detect")
    )
    stored = repository.get("chat")
    assert stored is not None
    assert stored.pii_policy == "detect"
    with pytest.raises(InvalidPiiPolicy):
        DeploymentRecord(name="chat", model_name="smol", version=1, pii_policy="redact")


def test_a_deployments_queue_limit_and_cpus_are_kept(sessions: sessionmaker[Session]) -> None:
    repository = DeploymentRepository(sessions)
    record = DeploymentRecord(
        name="fast", model_name="iris", version=1, max_queued_requests=8, cpus=(0, 2, 3)
    )
    repository.save(record)
    repository.save(DeploymentRecord(name="any", model_name="iris", version=1))
    fast, anywhere = repository.get("fast"), repository.get("any")
    assert fast is not None
    assert anywhere is not None
    assert (fast.max_queued_requests, fast.cpus) == (8, (0, 2, 3))
    assert (anywhere.max_queued_requests, anywhere.cpus) == (None, ())
    assert fast.same_spec(record)
