"""Training jobs from submission to a registered model version.

``submit`` checks the dataset and completes the spec before anything is queued, so a bad
request is refused at once. A caller trains on a dataset it may see, into a model it manages
or a new one in its own namespace (:mod:`modelmart.tenancy`). The executor then reports back
here (this class is its :class:`~modelmart.jobs.executor.JobListener`): progress is recorded
as events; a success is registered with the registry *before* the job is marked succeeded,
and a failure or a cancel registers nothing.

Several servers may share one database. Each job records the server process that accepted and
runs it (:class:`~modelmart.jobs.records.ServerIdentity`, fresh per start), and each server
records that it is alive every ``heartbeat_interval_s`` in ``job_servers``. On that same beat it
cancels those of its jobs that a cancel through another server marked, and fails as "server
lost" open jobs whose server has been silent for ``owner_timeout_s`` (one guarded UPDATE per
job, so two servers never both act). :meth:`start` runs that check once before anything else.
"""

from __future__ import annotations

import logging
import shutil
import threading
import uuid
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from modelmart.datasets.service import DatasetService
from modelmart.errors import ModelMartError, ReportNotFound
from modelmart.jobs.executor import JobExecutor, JobTicket
from modelmart.jobs.records import (
    CANCELLED,
    JobRecords,
    OwnedJob,
    ServerIdentity,
    job_not_found,
)
from modelmart.registry.service import Registry
from modelmart.schemas.jobs import JobEvent, JobInfo, JobState, SubmitJob
from modelmart.store.tables import JobRow, utc_now
from modelmart.tenancy import Principal, bare_name
from modelmart.training.api import validate_spec
from modelmart.training.runs import ProgressEvent, TrainingOutcome

log = logging.getLogger(__name__)

MAX_LOG_BYTES = 1024 * 1024
SERVER_ROWS_KEPT = timedelta(days=1)
"""A silent server's row is pruned after this; its jobs keep its name."""


def server_lost(server: str | None, timeout_s: float) -> str:
    """The failure reason of a job whose server stopped reporting."""
    who = server or "a server from before servers had ids"
    return (
        f"server lost: the server running the job ({who}) stopped reporting for more than "
        f"{timeout_s:g} s (it crashed, was killed or lost the database); submit it again"
    )


@dataclass(frozen=True)
class JobOwnership:
    """Who this server is to other servers sharing the database, and how it keeps in touch."""

    server: ServerIdentity = field(default_factory=ServerIdentity.of_this_process)
    heartbeat_interval_s: float = 2.0
    owner_timeout_s: float = 30.0
    clock: Callable[[], datetime] | None = None
    """Heartbeats' time; None for the database's own clock (one clock for all servers)."""


class JobService:
    """Jobs in the metadata database; their logs and work folders under ``jobs_dir``."""

    def __init__(
        self,
        records: JobRecords,
        datasets: DatasetService,
        registry: Registry,
        executor: JobExecutor,
        jobs_dir: Path,
        ownership: JobOwnership | None = None,
    ) -> None:
        self._records = records
        self._datasets = datasets
        self._registry = registry
        self._executor = executor
        self._jobs_dir = jobs_dir
        ownership = ownership or JobOwnership()
        self.server = ownership.server
        self._heartbeat_interval_s = ownership.heartbeat_interval_s
        self._owner_timeout_s = ownership.owner_timeout_s
        self._clock = ownership.clock or records.database_now
        # Jobs handed to this process's executor and not yet reported finished, and those of
        # them whose cancel was already passed on: touched by requests, the executor's
        # threads and the heartbeat thread.
        self._lock = threading.Lock()
        self._running_here: set[str] = set()
        self._cancel_passed_on: set[str] = set()
        self._registered = False
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

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
        self._register_once()
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
                server_id=self.server.id,
                server_name=self.server.name,
            )
        )
        self._note(job_id, f"queued on {self.server.name}: {dataset.name} "
                   f"v{dataset.version} -> model {model}")  # fmt: skip
        ticket = JobTicket(job_id, spec, stored, folder / "work", self.log_file(job_id))
        with self._lock:
            self._running_here.add(job_id)
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
        ``cancelled`` once its executor has stopped it, or at once while no worker has started
        it. A running job another server runs is marked (``cancel_requested``) for that server
        to stop on its next heartbeat; one whose server is gone is cancelled at once."""
        info = self.find(principal, job_id)
        if info.state.finished:
            return info
        if self._records.cancel_queued(job_id):
            # No worker took it yet: cancelled now. Its executor still drops it from its queue
            # (at once here, on its server's next heartbeat elsewhere).
            self._note(job_id, "cancelled while queued")
        if self._runs_here(job_id):
            self._pass_on_cancel(job_id)
        elif self._records.request_cancel(job_id) and self._records.finish_orphan(
            job_id, self._cutoff(), JobState.CANCELLED, CANCELLED
        ):
            self._note(job_id, "cancelled (its server was gone)")
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

    def start(self) -> int:
        """Record this server, fail the jobs of servers gone silent (a previous life of this
        one included) and start the heartbeat; how many jobs were failed."""
        count = self.recover()
        self._beat = threading.Thread(target=self._beat_forever, name="job-heartbeat", daemon=True)
        self._beat.start()
        return count

    def recover(self) -> int:
        """Record this server and fail the open jobs of servers silent for longer than the
        timeout; how many it failed."""
        self._register_once()
        self._records.prune_servers(self._clock() - SERVER_ROWS_KEPT)
        count = self._fail_orphans()
        if count:
            log.warning("marked %d job(s) of servers that stopped reporting as failed", count)
        return count

    def tick(self) -> None:
        """One heartbeat: record that this server is alive, stop its jobs cancelled through
        other servers (or failed by them), fail jobs of servers gone silent."""
        self._records.heartbeat(self.server, self._clock())
        with self._lock:
            mine = set(self._running_here)
        for job in self._records.owned(mine):
            if job.state.finished or job.cancel_requested:
                self._stop_owned(job)
        self._fail_orphans()

    def stop_heartbeat(self) -> None:
        """Stop recording that this server is alive (the first step of :meth:`close`). Its
        jobs then look, to other servers, like those of a server that hangs or was killed."""
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=10)

    def close(self) -> None:
        """Stop the heartbeat and the executor (its jobs are reported failed), then forget
        this server: whatever it left open is an orphan at once."""
        self.stop_heartbeat()
        self._executor.close()
        if self._registered:
            with suppress(Exception):
                self._records.remove_server(self.server.id)

    # The executor's reports (JobListener)

    def started(self, job_id: str) -> None:
        self._records.mark_running(job_id)
        self._note(job_id, "running")

    def progress(self, job_id: str, event: ProgressEvent) -> None:
        self._records.add_event(job_id, event)

    def succeeded(self, job_id: str, outcome: TrainingOutcome) -> None:
        self._forget(job_id)
        try:
            job = self._records.get(job_id)
            if job.state.finished:
                # Failed by another server while this one could not report: keep it so.
                self._note(job_id, f"finished elsewhere as {job.state.value}; not registered")
                self._clean(job_id)
                return
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
        self._forget(job_id)
        self._records.finish(job_id, JobState.FAILED, failure_reason=reason)
        self._note(job_id, f"failed: {reason}")
        self._clean(job_id)

    def cancelled(self, job_id: str) -> None:
        self._forget(job_id)
        self._records.finish(job_id, JobState.CANCELLED, failure_reason=CANCELLED)
        self._note(job_id, "cancelled")
        self._clean(job_id)

    # Helpers

    def _register_once(self) -> None:
        if not self._registered:
            self._records.heartbeat(self.server, self._clock())
            self._registered = True

    def _beat_forever(self) -> None:
        while not self._stop.wait(self._heartbeat_interval_s):
            try:
                self.tick()
            except Exception:  # the database may be away for a while; the next beat retries
                log.exception("job heartbeat failed")

    def _cutoff(self) -> datetime:
        return self._clock() - timedelta(seconds=self._owner_timeout_s)

    def _fail_orphans(self) -> int:
        cutoff = self._cutoff()
        count = 0
        for orphan in self._records.orphans(cutoff, exclude_server=self.server.id):
            reason = server_lost(orphan.server, self._owner_timeout_s)
            if self._records.finish_orphan(orphan.id, cutoff, JobState.FAILED, reason):
                self._note(orphan.id, f"failed: {reason}")
                count += 1
        return count

    def _runs_here(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._running_here

    def _stop_owned(self, job: OwnedJob) -> None:
        with self._lock:
            if job.id in self._cancel_passed_on:
                return
        log.info("stopping job %s: %s", job.id, "cancel requested" if job.cancel_requested
                 else f"{job.state.value} by another server")  # fmt: skip
        self._pass_on_cancel(job.id)

    def _pass_on_cancel(self, job_id: str) -> None:
        with self._lock:
            self._cancel_passed_on.add(job_id)
        if not self._executor.cancel(job_id):
            # Open in the database but unknown to the executor: nothing runs it any more.
            self.cancelled(job_id)

    def _forget(self, job_id: str) -> None:
        with self._lock:
            self._running_here.discard(job_id)
            self._cancel_passed_on.discard(job_id)

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
