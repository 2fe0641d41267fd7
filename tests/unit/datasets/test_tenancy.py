"""Datasets under the tenancy rule: an organisation's are stored as ``org:name`` and seen by
it alone, the platform's samples by everyone, and another organisation's dataset is reported
exactly as a missing one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from modelmart.datasets.service import DatasetService
from modelmart.errors import DatasetNotFound, InvalidRequest, ModelMartError
from modelmart.schemas.datasets import DatasetInfo, DatasetMetadata
from modelmart.store.artifacts import MemoryArtifactStore
from modelmart.store.db import create_engine_for, migrate, session_factory
from modelmart.tenancy import Principal
from tests.unit.datasets.files import TABLE, write
from tests.unit.registry.builders import SINGLE_USER, tenant

ALPHA, BETA = tenant("alpha"), tenant("beta")
OPERATOR = tenant("operator", operator=True)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[DatasetService]:
    engine = create_engine_for(f"sqlite:///{tmp_path / 'modelmart.db'}")
    migrate(engine)
    yield DatasetService(session_factory(engine), MemoryArtifactStore(), tmp_path / "c", 10**7)
    engine.dispose()


@pytest.fixture
def push(service: DatasetService, tmp_path: Path) -> Callable[..., DatasetInfo]:
    def push(principal: Principal, name: str, extra_rows: int = 0) -> DatasetInfo:
        rows = "".join(f"{100 + i},1,a\n" for i in range(extra_rows))
        table = write(tmp_path / f"{name.replace(':', '-')}-{extra_rows}.csv", TABLE + rows)
        return service.register(principal, name, table, "t.csv", DatasetMetadata())

    return push


def _refusal(call: Callable[[], object]) -> tuple[int, str, str, object]:
    with pytest.raises(ModelMartError) as caught:
        call()
    error = caught.value
    return error.status, error.code, error.message, error.details


def test_two_organisations_both_upload_iris(
    service: DatasetService, push: Callable[..., DatasetInfo]
) -> None:
    alpha, beta = push(ALPHA, "iris"), push(BETA, "iris", extra_rows=1)
    assert (alpha.name, alpha.owner, alpha.version) == ("alpha:iris", "alpha", 1)
    assert (beta.name, beta.owner, beta.version) == ("beta:iris", "beta", 1)
    assert service.find(ALPHA, "iris") == alpha
    assert service.find(BETA, "iris").summary.rows == 21
    assert push(ALPHA, "alpha:iris", extra_rows=2).version == 2  # its own name, qualified
    with pytest.raises(InvalidRequest, match="drop the"):
        push(ALPHA, "beta:iris")


def test_a_reference_means_the_callers_own_dataset_then_the_platforms_sample(
    service: DatasetService, push: Callable[..., DatasetInfo]
) -> None:
    sample = push(SINGLE_USER, "iris")
    assert (sample.name, sample.owner) == ("iris", "")
    assert service.find(BETA, "iris") == sample
    own = push(ALPHA, "iris", extra_rows=1)
    assert service.find(ALPHA, "iris") == own
    # The version is looked up in the dataset found, never in the next one of that name.
    refreshed_sample = push(SINGLE_USER, "iris", extra_rows=3)
    assert service.find(BETA, "iris", 2) == refreshed_sample
    with pytest.raises(DatasetNotFound, match="version 2 of dataset 'iris'"):
        service.find(ALPHA, "iris", 2)
    assert service.find(BETA, "iris", 1) == sample


def test_another_organisations_dataset_is_reported_exactly_as_a_missing_one(
    service: DatasetService, push: Callable[..., DatasetInfo]
) -> None:
    calls = {
        "bare": lambda: service.find(BETA, "secret"),
        "qualified": lambda: service.find(BETA, "alpha:secret"),
        "version": lambda: service.find(BETA, "alpha:secret", 1),
        "versions": lambda: service.versions(BETA, "alpha:secret"),
    }
    missing = {name: _refusal(call) for name, call in calls.items()}
    push(ALPHA, "secret")
    assert {name: _refusal(call) for name, call in calls.items()} == missing
    assert missing["bare"][:2] == (404, "dataset_not_found")


def test_listing_shows_the_callers_datasets_and_the_samples(
    service: DatasetService, push: Callable[..., DatasetInfo]
) -> None:
    push(SINGLE_USER, "iris")
    push(ALPHA, "iris", extra_rows=1)
    push(BETA, "wine", extra_rows=2)
    assert [d.name for d in service.visible(ALPHA)] == ["alpha:iris", "iris"]
    assert [d.name for d in service.visible(OPERATOR)] == ["alpha:iris", "beta:wine", "iris"]


def test_a_new_version_keeps_the_datasets_owner(
    service: DatasetService, push: Callable[..., DatasetInfo]
) -> None:
    push(SINGLE_USER, "iris")
    # The operator refreshes a sample: it stays the platform's, which every tenant sees.
    refreshed = push(OPERATOR, "iris", extra_rows=1)
    assert (refreshed.version, refreshed.owner) == (2, "")
    assert service.find(ALPHA, "iris") == refreshed
