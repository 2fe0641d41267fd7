"""Training on a Ray cluster: a head and one worker node on loopback, started by this module.

The job asks for a custom resource only the worker node has, so it must run there; the dataset
reaches it through Ray's object store and its artifact comes back as an archive, to be
registered here like a job trained locally.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from modelmart.config import Settings
from modelmart.errors import ModelNotFound
from modelmart.gateway.training_services import TrainingServices, start_training_services
from modelmart.jobs.ray_executor import RayJobExecutor
from modelmart.registry.inspection import IsolatedInspector
from modelmart.registry.service import Registry
from modelmart.schemas.datasets import DatasetMetadata
from modelmart.schemas.jobs import JobInfo, JobState, SubmitJob, TrainingSpec
from modelmart.store.artifacts import LocalArtifactStore
from modelmart.store.db import create_engine_for, migrate, session_factory
from modelmart.tenancy import Principal
from tests.cluster.conftest import LOOPBACK, OBJECT_STORE_BYTES, RayTestCluster
from tests.integration.jobs.data import blobs_csv

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.cluster

USER = Principal.single_user()


@pytest.fixture(scope="module")
def worker_node(ray_cluster: RayTestCluster) -> Iterator[str]:
    """A worker node of the shared test cluster that alone has the ``trainer`` resource;
    its id. Removed after this module's tests."""
    node = ray_cluster.cluster.add_node(
        node_ip_address=LOOPBACK,
        num_cpus=1,
        resources={"trainer": 1},
        object_store_memory=OBJECT_STORE_BYTES,
        include_dashboard=False,
    )
    ray_cluster.cluster.wait_for_nodes()
    try:
        yield str(node.node_id)
    finally:
        ray_cluster.cluster.remove_node(node)


@dataclass
class Trainer:
    services: TrainingServices
    executor: RayJobExecutor
    registry: Registry


@pytest.fixture
def trainer(worker_node: str, tmp_path: Path) -> Iterator[Trainer]:
    settings = Settings(data_dir=tmp_path / "data", json_logs=False)
    settings.data_dir.mkdir()
    engine = create_engine_for(settings.resolved_database_url)
    migrate(engine)
    sessions: sessionmaker[Session] = session_factory(engine)
    registry = Registry(
        sessions,
        LocalArtifactStore(settings.artifacts_dir),
        settings.cache_dir,
        settings.max_unpacked_bytes,
        IsolatedInspector(settings.instance_start_timeout_s),
    )
    executor = RayJobExecutor(resources={"trainer": 1}, cancel_grace_s=20)
    services = start_training_services(settings, sessions, registry, executor)
    try:
        yield Trainer(services, executor, registry)
    finally:
        services.jobs.close()
        engine.dispose()


def wait_for(check: object, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def submit(trainer: Trainer, path: Path, model: str, spec: dict[str, object]) -> JobInfo:
    datasets = trainer.services.datasets
    datasets.register(USER, "blobs", path, path.name, DatasetMetadata(description="blobs"))
    request = SubmitJob(dataset="blobs", model=model, spec=TrainingSpec.model_validate(spec))
    return trainer.services.jobs.submit(USER, request)


def test_a_job_trains_on_the_worker_node_and_its_artifact_is_registered(
    trainer: Trainer, worker_node: str, tmp_path: Path
) -> None:
    job = submit(trainer, blobs_csv(tmp_path / "blobs.csv"), "blobs-on-ray",
                 {"task": "classification", "family": "logistic"})  # fmt: skip
    jobs = trainer.services.jobs
    seen_node: list[str | None] = []

    def finished() -> bool:
        seen_node.append(trainer.executor.node_of(job.id))
        return jobs.get(job.id).state.finished

    wait_for(finished)
    done = jobs.get(job.id)
    assert done.state is JobState.SUCCEEDED, done.failure_reason
    assert worker_node in seen_node  # it ran on the worker, the only node with "trainer"
    assert jobs.events(job.id), "no progress reached the server"
    version = trainer.registry.get_version("blobs-on-ray", done.model_version or 0)
    assert version.lineage["job_id"] == job.id
    assert version.metrics["accuracy"] > 0.9
    assert "epoch" in jobs.logs(USER, job.id)  # the node's log lines came back


def test_a_running_job_is_cancelled_and_registers_nothing(trainer: Trainer, tmp_path: Path) -> None:
    path = blobs_csv(tmp_path / "many-blobs.csv", rows=3000)
    job = submit(trainer, path, "cancelled-on-ray",
                 {"task": "classification", "family": "mlp", "max_epochs": 2000,
                  "early_stopping_patience": 2000})  # fmt: skip
    jobs = trainer.services.jobs
    wait_for(lambda: bool(jobs.events(job.id)))  # running: progress arrived
    assert jobs.get(job.id).state is JobState.RUNNING
    started = time.monotonic()
    jobs.cancel(USER, job.id)
    wait_for(lambda: jobs.get(job.id).state.finished, timeout_s=60)
    assert jobs.get(job.id).state is JobState.CANCELLED
    assert time.monotonic() - started < 15  # the loop saw the flag; no kill was needed
    with pytest.raises(ModelNotFound):
        trainer.registry.get_model("cancelled-on-ray")


def test_a_job_cancelled_while_waiting_for_resources_never_starts(
    trainer: Trainer, tmp_path: Path
) -> None:
    path = blobs_csv(tmp_path / "blobs.csv")
    spec = {"task": "classification", "family": "logistic", "resources": {"num_cpus": 64}}
    job = submit(trainer, path, "never-placed", spec)
    time.sleep(1)
    assert jobs_state(trainer, job) is JobState.QUEUED  # no node has 64 CPUs
    trainer.services.jobs.cancel(USER, job.id)
    wait_for(lambda: jobs_state(trainer, job).finished, timeout_s=60)
    assert jobs_state(trainer, job) is JobState.CANCELLED


def jobs_state(trainer: Trainer, job: JobInfo) -> JobState:
    return trainer.services.jobs.get(job.id).state
