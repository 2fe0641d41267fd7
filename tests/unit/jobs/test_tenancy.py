"""Jobs under the tenancy rule: an organisation trains on datasets it may see into models it
manages or new ones of its own, never into another organisation's model, and sees only its
own jobs; another organisation's job is reported exactly as a missing one."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from modelmart.errors import Forbidden, ModelMartError
from modelmart.schemas.datasets import DatasetMetadata
from modelmart.schemas.jobs import JobInfo, JobState, SubmitJob, TrainingSpec
from modelmart.store.tables import JobRow, utc_now
from modelmart.tenancy import CATALOGUE_OWNER, Principal
from modelmart.types import Task
from tests.unit.datasets.files import TABLE, write
from tests.unit.jobs.conftest import World
from tests.unit.registry.builders import SINGLE_USER, tenant

ALPHA, BETA = tenant("alpha"), tenant("beta")
OPERATOR = tenant("operator", operator=True)


def _submit(world: World, principal: Principal, model: str | None, dataset: str = "toy") -> JobInfo:
    request = SubmitJob(dataset=dataset, model=model, spec=TrainingSpec(task="classification"))
    return world.jobs.get(world.jobs.submit(principal, request).id)


def _refusal(call: Callable[[], object]) -> tuple[int, str, str, object]:
    with pytest.raises(ModelMartError) as caught:
        call()
    error = caught.value
    return error.status, error.code, error.message, error.details


def test_naming_another_organisations_model_trains_a_new_model_of_ones_own(
    world: World,
) -> None:
    alpha_job = _submit(world, ALPHA, "a-iris")
    assert (alpha_job.model, alpha_job.model_version, alpha_job.owner) == (
        "alpha:a-iris",
        1,
        "alpha",
    )
    beta_job = _submit(world, BETA, "a-iris")
    assert beta_job.state is JobState.SUCCEEDED
    assert (beta_job.model, beta_job.model_version) == ("beta:a-iris", 1)
    assert [v.version for v in world.registry.list_versions("alpha:a-iris")] == [1]
    assert world.registry.get_model("beta:a-iris").owner == "beta"
    # Its default name is made from the dataset's own name, in its own namespace too.
    assert _submit(world, BETA, None).model == "beta:toy-logistic"


def test_a_model_one_may_use_but_not_change_is_refused_before_anything_is_queued(
    world: World,
) -> None:
    world.registry.create_model(SINGLE_USER, "langid", Task.CUSTOM, owner=CATALOGUE_OWNER)
    world.registry.create_model(ALPHA, "shared", Task.CLASSIFICATION)
    published = tenant("beta", published=frozenset({"alpha:shared"}))
    for principal, model in ((BETA, "langid"), (published, "shared"), (published, "alpha:shared")):
        with pytest.raises(Forbidden, match="not change it"):
            _submit(world, principal, model)
    assert world.executor.tickets == []


def test_a_model_created_by_someone_else_while_the_job_ran_is_not_written(
    world: World,
) -> None:
    world.executor.hold = True
    job = _submit(world, BETA, "fresh")
    world.registry.claim_model("beta:fresh", owner="intruder", task=Task.CUSTOM, description="")
    world.executor.run_all()
    failed = world.jobs.get(job.id)
    assert failed.state is JobState.FAILED
    assert failed.failure_reason is not None
    assert failed.failure_reason.startswith("the trained model could not be registered: model")
    assert "train again into another model name" in failed.failure_reason
    assert world.registry.list_versions("beta:fresh") == []


def test_datasets_resolve_by_the_tenancy_rule(world: World, tmp_path: Path) -> None:
    missing = _refusal(lambda: _submit(world, BETA, "m", dataset="alpha:private"))
    table = write(tmp_path / "private.csv", TABLE + "77,1,b\n")
    world.datasets.register(ALPHA, "private", table, "t.csv", DatasetMetadata())
    assert _refusal(lambda: _submit(world, BETA, "m", dataset="alpha:private")) == missing
    assert missing[:2] == (404, "dataset_not_found")
    assert _submit(world, ALPHA, "m", dataset="private").dataset == "alpha:private"
    assert _submit(world, BETA, "m").dataset == "toy"  # the platform's sample


def test_another_organisations_job_is_reported_exactly_as_a_missing_one(world: World) -> None:
    job_id = "a" * 32
    calls = (world.jobs.find, world.jobs.cancel, world.jobs.logs)
    missing = [_refusal(partial(call, BETA, job_id)) for call in calls]
    world.records.create(
        JobRow(id=job_id, state=JobState.QUEUED.value, spec={}, dataset_name="toy",
               dataset_version=1, model_name="alpha:m", created_at=utc_now(), owner="alpha")
    )  # fmt: skip
    assert [_refusal(partial(call, BETA, job_id)) for call in calls] == missing
    assert missing[0][:2] == (404, "job_not_found")
    assert world.jobs.get(job_id).state is JobState.QUEUED  # beta's cancel did nothing
    assert world.jobs.find(ALPHA, job_id).id == job_id


def test_each_organisation_lists_its_own_jobs(world: World) -> None:
    alpha, beta = _submit(world, ALPHA, "m"), _submit(world, BETA, "m")
    assert [job.id for job in world.jobs.visible(ALPHA)] == [alpha.id]
    assert [job.id for job in world.jobs.visible(BETA)] == [beta.id]
    assert [job.id for job in world.jobs.visible(OPERATOR)] == [beta.id, alpha.id]
