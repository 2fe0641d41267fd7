"""Training jobs from submission to a registered model version.

``submit`` checks the dataset and completes the spec before anything is queued, so a bad
request is refused at once. A caller trains on a dataset it may see, into a model it manages
or a new one in its own namespace (:mod:`modelmart.tenancy`). The executor then reports back
here (this class is its :class:`~modelmart.jobs.executor.JobListener`): progress is recorded
as events; a success is registered with the registry *before* the job is marked succeeded,
and a failure or a cancel registers nothing. On start-up :meth:`recover` marks jobs a dead
server left open as failed: the embedded executor runs jobs inside the server, so no one
else can still be running them (one server per database).
"""

from __future__ import annotations

import logging
import shutil
import uuid
from contextlib import suppress
from pathlib import Path
from typing import Any

from modelmart.datasets.service import DatasetService
from modelmart.errors import ModelMartError, ReportNotFound
from modelmart.jobs.executor import JobExecutor, JobTicket
from modelmart.jobs.records import JobRecords, job_not_found
from modelmart.registry.service import Registry
from modelmart.schemas.jobs import JobEvent, JobInfo, JobState, SubmitJob
from modelmart.store.tables import JobRow, utc_now
from modelmart.tenancy import Principal, bare_name
from modelmart.training.api import validate_spec
from modelmart.training.runs import ProgressEvent, TrainingOutcome

log = logging.getLogger(__name__)

RESTARTED = "the server restarted while the job was queued or running; submit it again"
MAX_LOG_BYTES = 1024 * 1024


class JobService:
    """Jobs in the metadata database; their logs and work folders under ``jobs_dir``."""

    def __init__(
        self,
        records: JobRecords,
        datasets: DatasetService,
        registry: Registry,
        executor: JobExecutor,
        jobs_dir: Path,
    ) -> None:
        self._records = records
        self._datasets = datasets
        self._registry = registry
        self._executor = executor
        self._jobs_dir = jobs_dir

    # The API

    def submit(self, principal: Principal, request: SubmitJob) -> JobInfo:
        """Queue a job for ``principal``; DatasetNotFound, ValidationFailed or Forbidden (a
        model it may use but not change) before anything is recorded."""
        dataset = self._datasets.find(principal, request.dataset, request.dataset_version)
        columns = [column.name for column in dataset.summary.columns]
        spec = validate_spec(request.spec, dataset.kind, columns)
        ref = request.model or f"{bare_name(dataset.name)}-{spec.family}"
        model = self._registry.training_target(principal, ref)
        stored = self._datasets.stored(dataset)
        job_id = uuid.uuid4().hex
        folder = self._jobs_dir / job_id
        (folder / "work").mkdir(parents=True)
        info = self._records.create(
            JobRow(
                id=job_id,
                state=JobState.QUEUED.value,
                spec=spec.model_dump(mode="json"),
                dataset_name=dataset.name,
                dataset_version=dataset.version,
                model_name=model,
                created_at=utc_now(),
                owner=principal.owner,
            )
        )
        self._note(job_id, f"queued: {dataset.name} v{dataset.version} -> model {model}")
        ticket = JobTicket(job_id, spec, stored, folder / "work", self.log_file(job_id))
        self._executor.submit(ticket, self)
        return info

    def find(self, principal: Principal, job_id: str) -> JobInfo:
        """The job ``job_id`` if ``principal`` may see it; one it may not answers exactly as
        one that does not exist."""
        info = self._records.get(job_id)
        if not principal.can_see_private(info.owner):
            raise job_not_found(job_id)
        return info

    def get(self, job_id: str) -> JobInfo:
        """The job ``job_id``, whoever's it is (for the server's own use)."""
        return self._records.get(job_id)

    def visible(self, principal: Principal) -> list[JobInfo]:
        """The newest jobs ``principal`` may see, newest first."""
        # Filtered in the query too, so that other tenants' jobs do not crowd out the caller's.
        jobs = self._records.recent(None if principal.is_operator else principal.owner)
        return [job for job in jobs if principal.can_see_private(job.owner)]

    def events(self, job_id: str, after: int = 0) -> list[JobEvent]:
        return self._records.events(job_id, after)

    def cancel(self, principal: Principal, job_id: str) -> JobInfo:
        """Ask the job to stop. A finished job is returned unchanged; the state turns
        ``cancelled`` once the worker has stopped."""
        info = self.find(principal, job_id)
        if info.state.finished:
            return info
        if not self._executor.cancel(job_id):
            # Open in the database but unknown to the executor: nothing runs it any more.
            self.cancelled(job_id)
        return self._records.get(job_id)

    def log_file(self, job_id: str) -> Path:
        return self._jobs_dir / job_id / "job.log"

    def logs(self, principal: Principal, job_id: str) -> str:
        """The job's log (its last megabyte)."""
        self.find(principal, job_id)
        path = self.log_file(job_id)
        if not path.is_file():
            return ""
        with path.open("rb") as stream:
            size = path.stat().st_size
            stream.seek(max(0, size - MAX_LOG_BYTES))
            return stream.read().decode("utf-8", errors="replace")

    def report(self, model: str, ref: int | str) -> tuple[int, dict[str, Any]]:
        """(version number, evaluation report) of a version that a job trained; ``model`` is
        a stored name (the route resolved the caller's reference)."""
        version = self._registry.get_version(model, ref).version
        report = self._records.report_of(model, version)
        if report is None:
            raise ReportNotFound(
                f"version {version} of model {model!r} has no evaluation report: only "
                "versions trained by a ModelMart job have one",
                details={"model": model, "version": version},
            )
        return version, report

    def recover(self) -> int:
        """Fail the jobs a previous server process left queued or running."""
        count = self._records.fail_open_jobs(RESTARTED)
        if count:
            log.warning("marked %d job(s) left open by a previous server as failed", count)
        return count

    def close(self) -> None:
        self._executor.close()

    # The executor's reports (JobListener)

    def started(self, job_id: str) -> None:
        self._records.mark_running(job_id)
        self._note(job_id, "running")

    def progress(self, job_id: str, event: ProgressEvent) -> None:
        self._records.add_event(job_id, event)

    def succeeded(self, job_id: str, outcome: TrainingOutcome) -> None:
        try:
            job = self._records.get(job_id)
            version = self._register(job, outcome)
        except ModelMartError as exc:
            self.failed(job_id, f"the trained model could not be registered: {exc.message}")
            return
        self._records.finish(
            job_id, JobState.SUCCEEDED, model_version=version, report=outcome.report
        )
        self._note(job_id, f"succeeded: model {job.model} version {version}")
        self._clean(job_id)

    def failed(self, job_id: str, reason: str) -> None:
        self._records.finish(job_id, JobState.FAILED, failure_reason=reason)
        self._note(job_id, f"failed: {reason}")
        self._clean(job_id)

    def cancelled(self, job_id: str) -> None:
        self._records.finish(job_id, JobState.CANCELLED, failure_reason="cancelled on request")
        self._note(job_id, "cancelled")
        self._clean(job_id)

    # Helpers

    def _register(self, job: JobInfo, outcome: TrainingOutcome) -> int:
        # Checked again now: the model is written only if the job's owner may change it.
        self._registry.claim_model(
            job.model, owner=job.owner, task=outcome.task, description="trained by ModelMart"
        )
        upload, filename = _as_upload(outcome.artifact)
        dataset = self._datasets.get(job.dataset, job.dataset_version)
        lineage = {
            "dataset": job.dataset,
            "dataset_version": job.dataset_version,
            "dataset_digest": dataset.digest,
            "job_id": job.id,
            "spec": job.spec,
        }
        info = self._registry.register_version(
            job.model,
            upload,
            filename,
            outcome.format,
            outcome.signature,
            outcome.parameters,
            outcome.metrics,
            lineage,
        )
        return info.version

    def _note(self, job_id: str, line: str) -> None:
        path = self.log_file(job_id)
        with suppress(OSError), path.open("a", encoding="utf-8") as stream:
            stream.write(f"{utc_now().isoformat()} job {line}\n")

    def _clean(self, job_id: str) -> None:
        shutil.rmtree(self._jobs_dir / job_id / "work", ignore_errors=True)


def _as_upload(artifact: Path) -> tuple[Path, str]:
    """A file the registry can take: directories are zipped next to themselves."""
    if not artifact.is_dir():
        return artifact, artifact.name
    archive = shutil.make_archive(str(artifact), "zip", root_dir=artifact)
    return Path(archive), f"{artifact.name}.zip"
