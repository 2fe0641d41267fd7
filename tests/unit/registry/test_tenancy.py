"""The registry under the tenancy rule: names scoped per organisation, references resolved in
the rule's order, and another organisation's model answered exactly as a missing one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from modelmart.errors import AlreadyExists, Forbidden, InvalidRequest, ModelMartError
from modelmart.registry.service import Registry
from modelmart.tenancy import CATALOGUE_OWNER
from modelmart.types import Task

from .builders import SINGLE_USER, skops_file, tenant

ALPHA, BETA, GAMMA = tenant("alpha"), tenant("beta"), tenant("gamma")
OPERATOR = tenant("operator", operator=True)


def _refusal(call: Callable[[], object]) -> tuple[int, str, str, object]:
    """Everything a client could read of the error ``call`` raises."""
    with pytest.raises(ModelMartError) as caught:
        call()
    error = caught.value
    return error.status, error.code, error.message, error.details


def test_two_organisations_both_create_iris(registry: Registry) -> None:
    alpha = registry.create_model(ALPHA, "iris", Task.CLASSIFICATION, owner="ignored")
    beta = registry.create_model(BETA, "iris", Task.REGRESSION)
    assert (alpha.name, alpha.owner) == ("alpha:iris", "alpha")
    assert (beta.name, beta.owner, beta.task) == ("beta:iris", "beta", Task.REGRESSION)
    assert registry.find_model(ALPHA, "iris") == alpha
    assert registry.find_model(BETA, "iris") == beta


def test_a_name_is_taken_only_within_the_callers_namespace(registry: Registry) -> None:
    registry.create_model(ALPHA, "iris", Task.CLASSIFICATION)
    with pytest.raises(AlreadyExists, match="'iris' already exists"):
        registry.create_model(ALPHA, "iris", Task.CLASSIFICATION)
    with pytest.raises(AlreadyExists):
        registry.create_model(ALPHA, "alpha:iris", Task.CLASSIFICATION)  # its own, qualified
    assert registry.create_model(BETA, "iris", Task.CLASSIFICATION).name == "beta:iris"
    # The operator names things in the platform's namespace, which no tenant shares.
    assert registry.create_model(OPERATOR, "iris", Task.CLASSIFICATION).name == "iris"


def test_an_organisation_cannot_create_in_another_namespace(registry: Registry) -> None:
    for ref in ("beta:iris", "nobody:iris"):  # whether the organisation exists or not
        with pytest.raises(InvalidRequest, match="drop the"):
            registry.create_model(ALPHA, ref, Task.CLASSIFICATION)
    with pytest.raises(InvalidRequest, match=r"letters, digits, '\.', '_' or '-'"):
        registry.create_model(ALPHA, "alpha:x:y", Task.CLASSIFICATION)
    assert registry.list_models() == []
    longest = registry.create_model(ALPHA, "a" * 128, Task.CLASSIFICATION)  # fits, prefixed
    assert longest.name == "alpha:" + "a" * 128


def test_with_accounts_off_the_requested_owner_is_recorded(registry: Registry) -> None:
    model = registry.create_model(SINGLE_USER, "iris", Task.CLASSIFICATION, owner="team-a")
    assert (model.name, model.owner) == ("iris", "team-a")


def test_references_resolve_own_then_platform_then_published(registry: Registry) -> None:
    catalogue = registry.create_model(SINGLE_USER, "iris", Task.CUSTOM, owner=CATALOGUE_OWNER)
    alpha_iris = registry.create_model(ALPHA, "iris", Task.CLASSIFICATION)
    beta_iris = registry.create_model(BETA, "iris", Task.CLASSIFICATION)
    beta_bert = registry.create_model(BETA, "bert", Task.EMBEDDING)
    published = tenant("gamma", published=frozenset({"beta:iris", "beta:bert"}))

    assert registry.find_model(ALPHA, "iris") == alpha_iris  # its own first
    assert registry.find_model(published, "iris") == catalogue  # then the platform's
    assert registry.find_model(published, "bert") == beta_bert  # then one published to it
    assert registry.find_model(published, "beta:iris") == beta_iris  # or named exactly
    assert registry.find_model(GAMMA, "iris") == catalogue


def test_another_organisations_model_is_reported_exactly_as_a_missing_one(
    registry: Registry,
) -> None:
    calls = {
        "qualified": lambda: registry.find_model(BETA, "alpha:secret"),
        "bare": lambda: registry.find_model(BETA, "secret"),
        "managed": lambda: registry.managed_model(BETA, "alpha:secret"),
    }
    missing = {name: _refusal(call) for name, call in calls.items()}
    registry.create_model(ALPHA, "secret", Task.CLASSIFICATION)
    foreign = {name: _refusal(call) for name, call in calls.items()}
    assert foreign == missing
    assert missing["bare"][:2] == (404, "model_not_found")
    assert "alpha" not in str(missing["bare"])
    assert registry.lookup_model(BETA, "alpha:secret") is None


def test_a_model_outside_the_keys_scope_is_not_found(registry: Registry) -> None:
    registry.create_model(ALPHA, "iris", Task.CLASSIFICATION)
    registry.create_model(ALPHA, "bert", Task.EMBEDDING)
    scoped = tenant("alpha", models=frozenset({"alpha:bert"}))
    assert registry.find_model(scoped, "bert").name == "alpha:bert"
    missing = _refusal(lambda: registry.find_model(scoped, "nothing"))
    assert _refusal(lambda: registry.find_model(scoped, "iris"))[:2] == missing[:2]
    assert [m.name for m in registry.visible_models(scoped)] == ["alpha:bert"]


def test_a_model_seen_but_not_owned_may_be_used_not_changed(registry: Registry) -> None:
    registry.create_model(SINGLE_USER, "langid", Task.CUSTOM, owner=CATALOGUE_OWNER)
    assert registry.find_model(ALPHA, "langid").name == "langid"
    with pytest.raises(Forbidden, match="you may use it, not change it"):
        registry.managed_model(ALPHA, "langid")
    assert registry.managed_model(OPERATOR, "langid").name == "langid"


def test_listing_shows_only_what_the_caller_may_see(registry: Registry) -> None:
    registry.create_model(SINGLE_USER, "langid", Task.CUSTOM, owner=CATALOGUE_OWNER)
    registry.create_model(OPERATOR, "internal", Task.CUSTOM)
    registry.create_model(ALPHA, "iris", Task.CLASSIFICATION)
    registry.create_model(BETA, "iris", Task.CLASSIFICATION)
    names = {p.org_slug: [m.name for m in registry.visible_models(p)] for p in (ALPHA, OPERATOR)}
    assert names == {
        "alpha": ["alpha:iris", "langid"],
        "operator": ["alpha:iris", "beta:iris", "internal", "langid"],
    }


def test_a_visible_models_missing_version_lists_its_versions(
    registry: Registry, tmp_path: Path
) -> None:
    model = registry.create_model(ALPHA, "iris", Task.CLASSIFICATION)
    registry.register_version(model.name, skops_file(tmp_path / "m"), "m.skops")
    error = _refusal(lambda: registry.get_version(registry.find_model(ALPHA, "iris").name, 7))
    assert error[:2] == (404, "version_not_found")
    assert error[3] == {"model": "alpha:iris", "versions": [1], "aliases": {}}


# What a training job writes into


def test_a_job_trains_into_its_own_model_or_a_new_one_never_anothers(registry: Registry) -> None:
    registry.create_model(ALPHA, "a-iris", Task.CLASSIFICATION)
    registry.create_model(SINGLE_USER, "langid", Task.CUSTOM, owner=CATALOGUE_OWNER)
    assert registry.training_target(ALPHA, "a-iris") == "alpha:a-iris"
    assert registry.training_target(BETA, "a-iris") == "beta:a-iris"  # a new model of its own
    with pytest.raises(Forbidden):
        registry.training_target(BETA, "langid")  # visible, not its own
    published = tenant("beta", published=frozenset({"alpha:a-iris"}))
    with pytest.raises(Forbidden):
        registry.training_target(published, "a-iris")
    assert registry.training_target(OPERATOR, "alpha:a-iris") == "alpha:a-iris"


def test_naming_another_organisations_model_for_a_job_answers_as_if_it_were_missing(
    registry: Registry,
) -> None:
    missing = _refusal(lambda: registry.training_target(BETA, "alpha:a-iris"))
    registry.create_model(ALPHA, "a-iris", Task.CLASSIFICATION)
    assert _refusal(lambda: registry.training_target(BETA, "alpha:a-iris")) == missing
    assert missing[0] == 400


def test_a_scoped_key_trains_only_into_models_in_its_scope(registry: Registry) -> None:
    registry.create_model(ALPHA, "iris", Task.CLASSIFICATION)
    scoped = tenant("alpha", models=frozenset({"alpha:bert"}))
    for ref in ("iris", "new"):
        with pytest.raises(Forbidden, match="only the models it was made for"):
            registry.training_target(scoped, ref)
    assert registry.training_target(scoped, "bert") == "alpha:bert"


def test_claiming_creates_for_the_owner_and_refuses_anothers_model(registry: Registry) -> None:
    claimed = registry.claim_model(
        "beta:iris", owner="beta", task=Task.CLASSIFICATION, description="trained"
    )
    assert (claimed.name, claimed.owner, claimed.description) == ("beta:iris", "beta", "trained")
    again = registry.claim_model("beta:iris", owner="beta", task=Task.CUSTOM, description="")
    assert again == claimed
    registry.create_model(ALPHA, "a-iris", Task.CLASSIFICATION)
    with pytest.raises(Forbidden, match="train again into another model name"):
        registry.claim_model("alpha:a-iris", owner="beta", task=Task.CUSTOM, description="")
    # The platform (the operator, or everyone with accounts off) may change any model.
    for owner in ("operator", ""):
        registry.claim_model("alpha:a-iris", owner=owner, task=Task.CUSTOM, description="")
    assert registry.get_model("alpha:a-iris").owner == "alpha"
