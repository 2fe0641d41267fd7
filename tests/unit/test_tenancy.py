"""The tenancy rule: which stored names a reference means, and what a caller may see."""

from __future__ import annotations

import pytest

from modelmart.errors import Forbidden, InvalidRequest
from modelmart.schemas.roles import Operation, Role
from modelmart.tenancy import (
    CATALOGUE_OWNER,
    OPERATOR_SLUG,
    DeploymentAccess,
    Principal,
    check_name,
)


def tenant(slug: str, **fields: object) -> Principal:
    values: dict[str, object] = {
        "org_id": 7,
        "org_slug": slug,
        "key_id": 1,
        "role": Role.DEVELOPER,
        "is_operator": False,
        "models": None,
        "published": frozenset(),
        **fields,
    }
    return Principal(**values)  # type: ignore[arg-type]


OPERATOR = tenant(OPERATOR_SLUG, is_operator=True, role=Role.OWNER)


def test_a_tenant_names_what_it_makes_in_its_own_namespace() -> None:
    beta = tenant("beta")
    assert beta.qualify("iris") == "beta:iris"
    assert beta.qualify("beta:iris") == "beta:iris"
    with pytest.raises(InvalidRequest, match="drop the 'alpha:' prefix"):
        beta.qualify("alpha:iris")


def test_the_platform_names_bare_and_cannot_be_squatted() -> None:
    assert OPERATOR.qualify("minilm-int8") == "minilm-int8"
    assert Principal.single_user().qualify("iris") == "iris"
    # A tenant's names always carry its prefix, so none equals a platform name.
    assert tenant("beta").qualify("minilm-int8") != "minilm-int8"
    with pytest.raises(InvalidRequest):
        Principal.single_user().qualify("beta:iris")


def test_a_bare_reference_means_own_then_platform_then_published() -> None:
    beta = tenant("beta", published=frozenset({"alpha:iris", "alpha:other"}))
    assert beta.candidates("iris") == ["beta:iris", "iris", "alpha:iris"]
    assert beta.candidates("alpha:iris") == ["alpha:iris"]
    assert beta.find("iris", ["iris", "alpha:iris"]) == "iris"
    assert beta.find("iris", ["alpha:iris", "beta:iris"]) == "beta:iris"
    assert beta.find("nothing", ["alpha:iris"]) is None


def test_models_are_seen_when_own_catalogue_or_published_and_in_the_key_scope() -> None:
    beta = tenant("beta", published=frozenset({"alpha:shared"}))
    assert beta.can_see_model("beta:iris", "beta")
    assert beta.can_see_model("minilm-int8", CATALOGUE_OWNER)
    assert beta.can_see_model("alpha:shared", "alpha")
    assert not beta.can_see_model("alpha:iris", "alpha")
    assert not beta.can_see_model("private", OPERATOR_SLUG)
    scoped = tenant("beta", models=frozenset({"beta:iris"}))
    assert scoped.can_see_model("beta:iris", "beta")
    assert not scoped.can_see_model("minilm-int8", CATALOGUE_OWNER)
    assert OPERATOR.can_see_model("alpha:iris", "alpha")


def test_deployments_are_shared_only_by_the_platform_and_by_a_model_owner() -> None:
    beta = tenant("beta", published=frozenset({"alpha:iris"}))
    platform = DeploymentAccess(OPERATOR_SLUG, "vader-sentiment", CATALOGUE_OWNER)
    publishers = DeploymentAccess("alpha", "alpha:iris", "alpha")
    alphas_private = DeploymentAccess("alpha", "vader-sentiment", CATALOGUE_OWNER)
    assert beta.can_use_deployment(platform)
    assert beta.can_use_deployment(publishers)
    assert not beta.can_use_deployment(alphas_private)
    assert not tenant("gamma").can_use_deployment(publishers)  # not published to gamma
    scoped = tenant("beta", models=frozenset({"alpha:iris"}), published=beta.published)
    assert not scoped.can_use_deployment(platform)


def test_roles_bound_operations() -> None:
    viewer = tenant("beta", role=Role.VIEWER)
    viewer.require(Operation.READ)
    with pytest.raises(Forbidden, match="viewer role"):
        viewer.require(Operation.DEPLOY)
    Principal.single_user().require(Operation.ADMIN)


def test_a_name_with_a_trailing_newline_is_refused() -> None:
    # Python's `$` also matches before a final newline; the whole name must match.
    with pytest.raises(InvalidRequest):
        check_name("model", "iris\n")
