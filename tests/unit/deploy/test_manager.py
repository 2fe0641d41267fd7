import asyncio
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from modelmart.deploy.manager import DeploymentManager, ServingDefaults
from modelmart.errors import AlreadyExists, DeploymentNotFound, ModelMartError
from modelmart.registry.service import Registry
from modelmart.schemas.deployments import DeploymentRequest, DeploymentUpdate, Isolation
from modelmart.serving.local import LocalPlacement
from modelmart.serving.router import Router
from modelmart.store.deployments import DeploymentRepository
from modelmart.tenancy import Principal
from tests.unit.registry.builders import skops_file
from tests.unit.serving.fakes import fake_instance, rows

USER = Principal.single_user()


def manager_for(registry: Registry, sessions: sessionmaker[Session]) -> DeploymentManager:
    return DeploymentManager(
        registry,
        DeploymentRepository(sessions),
        LocalPlacement(instance_factory=fake_instance),
        Router(),
        ServingDefaults(timeout_s=5.0),
    )


@pytest.fixture
def versions(registry: Registry, tmp_path: Path) -> list[str]:
    registry.create_model(USER, "m", "classification")
    digests = []
    for index in (1, 2, 3):
        upload = skops_file(tmp_path / f"m{index}.skops")
        upload.write_bytes(upload.read_bytes() + bytes([index]))  # distinct blobs
        # Version 1 registers fine but its runtime refuses to load, as a broken model would.
        parameters = {"fail_load": 1} if index == 1 else {}
        info = registry.register_version("m", upload, upload.name, parameters=parameters)
        digests.append(info.artifact_digest)
    return digests


def request(**fields: object) -> DeploymentRequest:
    return DeploymentRequest.model_validate({"model": "m", "isolation": Isolation.THREAD, **fields})


async def test_deploy_pins_the_latest_version_and_serves(
    registry: Registry, sessions: sessionmaker[Session], versions: list[str]
) -> None:
    manager = manager_for(registry, sessions)
    view = await manager.deploy(USER, request(), wait=True)
    assert (view.version, view.alias, view.state, view.served_version) == (3, None, "ready", 3)
    with pytest.raises(AlreadyExists):
        await manager.deploy(USER, request(), wait=True)
    await manager.close()


async def test_restore_brings_back_saved_deployments(
    registry: Registry, sessions: sessionmaker[Session], versions: list[str]
) -> None:
    first = manager_for(registry, sessions)
    await first.deploy(USER, request(version=2, instances=2), wait=True)
    await first.close()

    second = manager_for(registry, sessions)
    await second.restore()
    for _ in range(200):
        if second.view(USER, "m").state != "loading":
            break
        await asyncio.sleep(0.01)
    view = second.view(USER, "m")
    assert (view.state, view.served_version, view.ready_instances) == ("ready", 2, 2)
    await second.close()


async def test_a_failed_deployment_is_reported_then_fixed_by_retargeting(
    registry: Registry, sessions: sessionmaker[Session], versions: list[str]
) -> None:
    manager = manager_for(registry, sessions)
    with pytest.raises(ModelMartError, match="refuses to load"):
        await manager.deploy(USER, request(version=1), wait=True)
    with pytest.raises(DeploymentNotFound):  # a waited-for failure leaves nothing behind
        manager.view(USER, "m")

    await manager.deploy(USER, request(version=1), wait=False)
    for _ in range(200):
        if manager.view(USER, "m").state != "loading":
            break
        await asyncio.sleep(0.01)
    failed = manager.view(USER, "m")
    assert failed.state == "failed"
    assert failed.error is not None
    assert "refuses to load" in str(failed.error["message"])

    fixed = await manager.update(USER, "m", DeploymentUpdate(version=2))
    assert (fixed.state, fixed.served_version) == ("ready", 2)
    await manager.close()


async def test_alias_moves_swap_following_deployments(
    registry: Registry, sessions: sessionmaker[Session], versions: list[str]
) -> None:
    registry.set_alias("m", "production", 2)
    manager = manager_for(registry, sessions)
    await manager.deploy(USER, request(alias="production"), wait=True)
    registry.set_alias("m", "production", 3)
    await manager.alias_moved("m", "production")
    assert manager.view(USER, "m").served_version == 3
    endpoint = manager._router.endpoint(USER, "m")
    assert (await endpoint.predict(rows(1))).version == 3
    await manager.undeploy(USER, "m")
    assert manager.visible(USER) == []
    await manager.close()
