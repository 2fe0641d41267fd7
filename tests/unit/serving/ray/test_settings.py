"""The cluster settings read from the environment, as a server on a cluster node gets them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from modelmart.config import Settings


def test_placement_and_cluster_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELMART_PLACEMENT", "ray")
    monkeypatch.setenv("MODELMART_RAY_ADDRESS", "head.internal:6379")
    monkeypatch.setenv("MODELMART_RAY_INSTANCE_CPUS", "2")
    settings = Settings()
    assert (settings.placement, settings.ray_address) == ("ray", "head.internal:6379")
    assert (settings.ray_namespace, settings.ray_instance_cpus) == ("modelmart", 2.0)


def test_an_unknown_placement_is_refused() -> None:
    with pytest.raises(ValidationError, match="placement"):
        Settings(placement="kubernetes")  # type: ignore[arg-type]


def test_the_default_places_instances_on_this_machine() -> None:
    assert Settings().placement == "local"
