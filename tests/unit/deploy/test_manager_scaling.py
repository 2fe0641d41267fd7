"""Autoscaled deployments through the manager, and two managers sharing one database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from modelmart.deploy.autoscaler import AutoscalerSettings
from modelmart.deploy.manager import DeploymentManager, ServingDefaults
from modelmart.errors import AlreadyExists, DeploymentNotFound, InvalidRequest
from modelmart.registry.service import Registry
from modelmart.schemas.deployments import DeploymentRequest, DeploymentUpdate, Isolation
from modelmart.serving.local import LocalPlacement
from modelmart.serving.router import Router
from modelmart.store.deployments import DeploymentRepository
from modelmart.tenancy import Principal
from tests.unit.registry.builders import skops_file
from tests.unit.serving.fakes import fake_instance, rows

USER = Principal.single_user()
FAST = AutoscalerSettings(interval_s=0.02, downscale_delay_s=0.2, idle_before_zero_s=0.3)


def manager_for(
    registry: Registry,
    sessions: sessionmaker[Session],
    autoscaling: AutoscalerSettings = FAST,
    sync_interval_s: float | None = None,
) -> DeploymentManager:
    return DeploymentManager(
        registry,
        DeploymentRepository(sessions),
        LocalPlacement(instance_factory=fake_instance),
        Router(),
        ServingDefaults(timeout_s=5.0),
        autoscaling,
        sync_interval_s,
    )


@pytest.fixture
def model(registry: Registry, tmp_path: Path) -> str:
    registry.create_model(USER, "m", "classification")
    for index, delay in ((1, 0.05), (2, 0.0)):
        upload = skops_file(tmp_path / f"m{index}.skops")
        upload.write_bytes(upload.read_bytes() + bytes([index]))
        registry.register_version("m", upload, upload.name, parameters={"delay_s": delay})
    return "m"


def request(**fields: object) -> DeploymentRequest:
    return DeploymentRequest.model_validate({"model": "m", "isolation": Isolation.THREAD, **fields})


async def eventually(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "the condition never held"
        await asyncio.sleep(0.01)


async def test_an_autoscaled_deployment_grows_under_load_and_shrinks_after(
    registry: Registry, sessions: sessionmaker[Session], model: str
) -> None:
    manager = manager_for(registry, sessions)
    view = await manager.deploy(
        USER,
        request(version=1, max_batch_size=1, min_instances=1, max_instances=3,
                target_ongoing_requests=1),
        wait=True,
    )  # fmt: skip
    assert (view.min_instances, view.max_instances, view.desired_instances) == (1, 3, 1)
    endpoint = manager._router.endpoint(USER, "m")

    async def load() -> None:
        for _ in range(20):
            await asyncio.gather(*(endpoint.predict(rows(1.0)) for _ in range(6)))

    busy = asyncio.create_task(load())
    await eventually(lambda: manager.view(USER, "m").ready_instances == 3)
    assert manager.view(USER, "m").desired_instances == 3
    await busy
    await eventually(lambda: manager.view(USER, "m").ready_instances == 1)
    await manager.close()


async def test_scaled_to_zero_the_next_request_waits_for_a_cold_start(
    registry: Registry, sessions: sessionmaker[Session], model: str
) -> None:
    manager = manager_for(registry, sessions)
    await manager.deploy(USER, request(version=2, min_instances=0, max_instances=2), wait=True)
    await eventually(lambda: manager.view(USER, "m").ready_instances == 0)
    view = manager.view(USER, "m")
    assert (view.desired_instances, view.state) == (0, "ready")

    endpoint = manager._router.endpoint(USER, "m")
    prediction = await endpoint.predict(rows(3.0))  # queued until an instance is up
    assert prediction.outputs["y"].tolist() == [[6.0, 6.0]]
    assert manager.view(USER, "m").ready_instances == 1
    await manager.close()


async def test_bounds_are_completed_saved_and_checked(
    registry: Registry, sessions: sessionmaker[Session], model: str
) -> None:
    manager = manager_for(registry, sessions)
    view = await manager.deploy(USER, request(instances=3, min_instances=0), wait=True)
    assert (view.min_instances, view.max_instances, view.instances) == (0, 3, 3)
    saved = DeploymentRepository(sessions).get("m")
    assert saved is not None
    assert (saved.min_instances, saved.max_instances) == (0, 3)
    with pytest.raises(InvalidRequest, match="must not exceed"):
        await manager.update(USER, "m", DeploymentUpdate(min_instances=4))
    # Equal bounds pin the count: the autoscaler holds it there.
    pinned = await manager.update(USER, "m", DeploymentUpdate(min_instances=2, max_instances=2))
    assert (pinned.desired_instances, pinned.ready_instances) == (2, 2)
    await manager.close()


async def test_a_second_manager_on_the_same_database_follows_deploys_updates_and_undeploys(
    registry: Registry, sessions: sessionmaker[Session], model: str
) -> None:
    first, second = manager_for(registry, sessions), manager_for(registry, sessions)
    await second.restore()  # nothing saved yet
    await first.deploy(USER, request(version=1), wait=True)
    with pytest.raises(AlreadyExists):  # the name is taken in the database, not just here
        await second.deploy(USER, request(version=2), wait=True)

    await second.sync()
    await eventually(lambda: second.view(USER, "m").state == "ready")
    assert second.view(USER, "m").served_version == 1

    await second.update(USER, "m", DeploymentUpdate(version=2, instances=2))
    await first.sync()
    view = first.view(USER, "m")
    assert (view.served_version, view.ready_instances) == (2, 2)

    await first.undeploy(USER, "m")
    await second.sync()
    with pytest.raises(DeploymentNotFound):
        second.view(USER, "m")
    assert second._router.serving("m") is None
    await first.close()
    await second.close()


async def test_the_sync_loop_follows_an_alias_moved_through_another_server(
    registry: Registry, sessions: sessionmaker[Session], model: str
) -> None:
    registry.set_alias("m", "live", 1)
    first = manager_for(registry, sessions)
    second = manager_for(registry, sessions, sync_interval_s=0.02)
    await first.deploy(USER, request(alias="live"), wait=True)
    await second.restore()
    await eventually(lambda: second.visible(USER) != [] and second.view(USER, "m").state == "ready")
    registry.set_alias("m", "live", 2)
    await first.alias_moved("m", "live")
    await eventually(lambda: second.view(USER, "m").served_version == 2)
    await first.close()
    await second.close()


async def test_changes_through_two_managers_both_survive_before_any_sync(
    registry: Registry, sessions: sessionmaker[Session], model: str
) -> None:
    first, second = manager_for(registry, sessions), manager_for(registry, sessions)
    await first.deploy(USER, request(version=2), wait=True)
    await second.sync()
    await eventually(lambda: second.view(USER, "m").state == "ready")

    await first.update(USER, "m", DeploymentUpdate(max_batch_size=8))
    await second.update(USER, "m", DeploymentUpdate(instances=2))  # before it synced
    saved = DeploymentRepository(sessions).get("m")
    assert saved is not None
    assert (saved.max_batch_size, saved.instances) == (8, 2)

    await first.sync()  # a sync applies what it read and writes nothing back
    assert first.view(USER, "m").ready_instances == 2
    assert DeploymentRepository(sessions).get("m") == saved

    await first.undeploy(USER, "m")
    with pytest.raises(DeploymentNotFound, match="another server"):
        await second.update(USER, "m", DeploymentUpdate(instances=1))
    await first.close()
    await second.close()
