"""The dataset and job services, built by the composition root
(:func:`~modelmart.gateway.services.build_services`) and reached as ``services.training``."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from modelmart.config import Settings
from modelmart.datasets.samples import install_samples, on_demand_samples
from modelmart.datasets.service import DatasetService
from modelmart.jobs.executor import JobExecutor
from modelmart.jobs.processes import ProcessExecutor
from modelmart.jobs.records import JobRecords
from modelmart.jobs.service import JobOwnership, JobService
from modelmart.registry.service import Registry
from modelmart.store.artifacts import LocalArtifactStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingServices:
    datasets: DatasetService
    jobs: JobService


def default_executor(settings: Settings) -> JobExecutor:
    """Worker processes on this machine, or Ray tasks on the cluster with the Ray placement."""
    if settings.placement == "ray":
        from modelmart.jobs.ray_executor import RayJobExecutor  # the cluster extra

        return RayJobExecutor(settings.ray_address or None)
    return ProcessExecutor(settings.training_workers)


def start_training_services(
    settings: Settings,
    sessions: sessionmaker[Session],
    registry: Registry,
    executor: JobExecutor | None = None,
) -> TrainingServices:
    """Fail jobs of servers gone silent and start the job heartbeat (JobService.start),
    register missing samples, start the workers. Blocking: call it in a thread."""
    datasets = DatasetService(
        sessions,
        LocalArtifactStore(settings.data_dir / "datasets"),
        settings.cache_dir / "datasets",
        settings.max_unpacked_bytes,
        on_demand_samples(),
        max_columns=settings.max_dataset_columns,
        max_unpack_ratio=settings.max_unpack_ratio,
    )
    jobs = JobService(
        JobRecords(sessions),
        datasets,
        registry,
        executor or default_executor(settings),
        settings.data_dir / "jobs",
        JobOwnership(
            heartbeat_interval_s=settings.job_heartbeat_interval_s,
            owner_timeout_s=settings.job_owner_timeout_s,
        ),
    )
    jobs.start()
    started = time.perf_counter()
    installed = install_samples(datasets)
    if installed:
        log.info("sample datasets took %.2f s", time.perf_counter() - started)
    return TrainingServices(datasets, jobs)
