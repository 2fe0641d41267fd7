"""Training jobs on a Ray cluster: the cluster's :class:`~modelmart.jobs.executor.JobExecutor`.

Each job is one Ray task that asks for the job's resources (``spec.resources``: CPUs and
memory), so Ray runs it on any node with that much free and queues it while none has; the
cluster's capacity is the bound on jobs running at once. Nodes share no filesystem with the
server: the dataset file's bytes travel with the task (through Ray's object store), the task
trains in a temporary folder of its node, and the artifact comes back as the bytes of a tar
archive that is unpacked into the job's work folder here, where the service registers it.

Progress and cancellation go through a small actor per job (no CPU of its own): the task tells
it when it starts and each progress event; a watcher thread here relays them to the listener,
as the embedded executor relays its pipe. Cancelling sets a flag in the actor that the
training loop polls (through its cancel token); a task still waiting for resources is dropped
by Ray, and one that has not stopped ``cancel_grace_s`` later is killed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import logging
import tarfile
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import RayError, TaskCancelledError

from modelmart.jobs.executor import JobListener, JobTicket
from modelmart.training.runs import ProgressEvent, TrainingOutcome

log = logging.getLogger(__name__)

MIB = 1024 * 1024
_POLL_S = 0.2  # how often a watcher relays progress and looks for the end of its task
_CANCEL_POLL_S = 0.5  # how often a task asks its relay whether it was cancelled
_NAMESPACE = "modelmart"


class _Relay:
    """A job's mailbox between its task (on some node) and its watcher (here)."""

    def __init__(self) -> None:
        self._node: str | None = None
        self._events: list[ProgressEvent] = []
        self._cancelled = False

    def started(self, node: str) -> None:
        self._node = node

    def progress(self, event: ProgressEvent) -> None:
        self._events.append(event)

    def take(self) -> tuple[str | None, list[ProgressEvent]]:
        """The node the task started on (None until it did) and the events since last time."""
        events, self._events = self._events, []
        return self._node, events

    def cancel(self) -> None:
        self._cancelled = True

    def cancelled(self) -> bool:
        return self._cancelled


class _RelayCancelToken:
    """The training loop's cancel token: asks the relay, at most every ``_CANCEL_POLL_S``."""

    def __init__(self, relay: Any) -> None:
        self._relay = relay
        self._checked_at = 0.0
        self._cancelled = False

    def cancelled(self) -> bool:
        now = time.monotonic()
        if not self._cancelled and now - self._checked_at >= _CANCEL_POLL_S:
            self._checked_at = now
            self._cancelled = bool(ray.get(self._relay.cancelled.remote()))
        return self._cancelled


@dataclass(frozen=True)
class _Result:
    """What a task sends back: its outcome kind, payload, artifact archive and log lines."""

    kind: str  # succeeded, failed or cancelled
    payload: Any = None
    archive: bytes = b""
    log: str = ""


def train_on_node(ticket: JobTicket, dataset: bytes, relay: Any) -> _Result:
    """The body of a job's task, on whichever node Ray picked: unpack, train, pack."""
    # Imported here, on the node: the server imports this module but never trains.
    from modelmart.datasets.loading import load_training_data
    from modelmart.errors import ModelMartError, TrainingCancelled
    from modelmart.training.api import train

    relay.started.remote(ray.get_runtime_context().get_node_id())
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    job_log = logging.getLogger("modelmart")
    job_log.addHandler(handler)
    job_log.setLevel(logging.INFO)
    try:
        with tempfile.TemporaryDirectory(prefix=f"modelmart-job-{ticket.job_id}-") as folder:
            root = Path(folder)
            blob = root / f"dataset{ticket.dataset.blob.suffix}"
            blob.write_bytes(dataset)
            stored = dataclasses.replace(ticket.dataset, blob=blob, cache_dir=root / "cache")
            workdir = root / "work"
            workdir.mkdir()

            def progress(event: ProgressEvent) -> None:
                job_log.info("epoch %d/%d: %s", event.epoch, event.total_epochs, event.metrics)
                relay.progress.remote(event)

            token = _RelayCancelToken(relay)
            try:
                data = load_training_data(stored)
                if token.cancelled():
                    raise TrainingCancelled("cancelled before training started")
                outcome = train(ticket.spec, data, workdir, progress, token)
            except TrainingCancelled:
                return _Result("cancelled", log=lines.getvalue())
            except ModelMartError as exc:
                return _Result("failed", exc.message, log=lines.getvalue())
            except Exception as exc:  # a bug or a framework error: its reason, logged
                job_log.exception("training raised")
                reason = f"training raised {type(exc).__name__}: {exc}"
                return _Result("failed", reason, log=lines.getvalue())
            relative = outcome.artifact.relative_to(workdir)
            archive = _pack(outcome.artifact, relative)
            shipped = dataclasses.replace(outcome, artifact=relative)
            return _Result("succeeded", shipped, archive, lines.getvalue())
    finally:
        job_log.removeHandler(handler)


def _pack(artifact: Path, name: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(artifact, arcname=str(name))
    return buffer.getvalue()


def _unpack(archive: bytes, into: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r") as tar:
        tar.extractall(into, filter="data")  # refuses absolute paths, links out, devices


@dataclass
class _Job:
    ticket: JobTicket
    listener: JobListener
    relay: Any
    ref: Any
    started: bool = False
    node: str | None = None
    cancel_requested: bool = False
    kill_at: float | None = None
    watcher: threading.Thread | None = field(default=None, repr=False)


class RayJobExecutor:
    """Training jobs as Ray tasks on any node of the cluster at ``address``.

    ``resources`` are custom Ray resources every job asks for as well, to keep training on
    the nodes that advertise them (for example ``{"training": 1}``). ``address`` None joins
    the cluster this process is already connected to, or starts a local one.
    """

    def __init__(
        self,
        address: str | None = None,
        resources: Mapping[str, float] | None = None,
        cancel_grace_s: float = 10.0,
    ) -> None:
        if not ray.is_initialized():
            ray.init(address=address, namespace=_NAMESPACE, logging_level=logging.WARNING)
        self._resources = dict(resources or {})
        self._grace = cancel_grace_s
        self._lock = threading.Lock()
        self._jobs: dict[str, _Job] = {}
        self._closed = False
        self._relay_class = ray.remote(num_cpus=0)(_Relay)
        self._task = ray.remote(max_retries=0)(train_on_node)

    def submit(self, ticket: JobTicket, listener: JobListener) -> None:
        try:
            job = self._launch(ticket, listener)
        except Exception as exc:  # the cluster refused it: the job fails, the server goes on
            log.exception("training job %s could not be submitted to Ray", ticket.job_id)
            listener.failed(ticket.job_id, f"the job could not be submitted to the cluster: {exc}")
            return
        job.watcher = threading.Thread(
            target=self._watch, args=(job,), name=f"ray-job-{ticket.job_id}", daemon=True
        )
        job.watcher.start()

    def cancel(self, job_id: str) -> bool:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return False
            job.cancel_requested = True
            job.kill_at = time.monotonic() + self._grace
            started = job.started
        job.relay.cancel.remote()
        if not started:  # still waiting for resources: Ray drops it without running it
            ray.cancel(job.ref)
        return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            jobs = list(self._jobs.values())
        for job in jobs:
            with contextlib.suppress(RayError):
                ray.cancel(job.ref, force=True)
        for job in jobs:
            if job.watcher is not None:
                job.watcher.join(timeout=30)

    def node_of(self, job_id: str) -> str | None:
        """The id of the Ray node the job runs on, once it started (for logs and tests)."""
        with self._lock:
            job = self._jobs.get(job_id)
            return job.node if job is not None else None

    def _launch(self, ticket: JobTicket, listener: JobListener) -> _Job:
        resources = ticket.spec.resources
        options: dict[str, Any] = {"num_cpus": resources.num_cpus}
        if resources.memory_mb is not None:
            options["memory"] = resources.memory_mb * MIB
        if self._resources:
            options["resources"] = self._resources
        relay = self._relay_class.remote()
        dataset = ray.put(ticket.dataset.blob.read_bytes())
        ref = self._task.options(**options).remote(ticket, dataset, relay)
        job = _Job(ticket, listener, relay, ref)
        with self._lock:
            self._jobs[ticket.job_id] = job
        return job

    def _watch(self, job: _Job) -> None:
        try:
            while not ray.wait([job.ref], timeout=_POLL_S)[0]:
                self._relay_events(job)
                self._kill_if_overdue(job)
            self._relay_events(job)
            self._finish(job)
        except Exception as exc:  # a watcher must end every job with exactly one report
            log.exception("watching training job %s failed", job.ticket.job_id)
            job.listener.failed(job.ticket.job_id, f"the job's cluster task was lost: {exc}")
        finally:
            with self._lock:
                self._jobs.pop(job.ticket.job_id, None)
            with contextlib.suppress(RayError):
                ray.kill(job.relay)

    def _relay_events(self, job: _Job) -> None:
        node, events = ray.get(job.relay.take.remote())
        if node is not None and not job.started:
            with self._lock:
                job.started, job.node = True, node
            log.info("training job %s runs on Ray node %s", job.ticket.job_id, node)
            job.listener.started(job.ticket.job_id)
        for event in events:
            try:
                job.listener.progress(job.ticket.job_id, event)
            except Exception:  # a lost progress line must not lose the job
                log.exception("progress of job %s could not be recorded", job.ticket.job_id)

    def _kill_if_overdue(self, job: _Job) -> None:
        if job.kill_at is not None and time.monotonic() >= job.kill_at:
            job.kill_at = None
            with contextlib.suppress(RayError):
                ray.cancel(job.ref, force=True)

    def _finish(self, job: _Job) -> None:
        job_id, listener = job.ticket.job_id, job.listener
        try:
            result: _Result = ray.get(job.ref)
        except (TaskCancelledError, RayError) as exc:
            if job.cancel_requested:
                listener.cancelled(job_id)
            elif self._closed:
                listener.failed(job_id, "the server stopped while the job ran; submit it again")
            else:
                listener.failed(job_id, f"the job's task failed on the cluster: {exc}")
            return
        _append_log(job.ticket.log_file, result.log)
        if result.kind == "succeeded":
            listener.succeeded(job_id, self._bring_back(job.ticket, result))
        elif result.kind == "cancelled":
            listener.cancelled(job_id)
        else:
            listener.failed(job_id, str(result.payload))

    @staticmethod
    def _bring_back(ticket: JobTicket, result: _Result) -> TrainingOutcome:
        outcome: TrainingOutcome = result.payload
        ticket.workdir.mkdir(parents=True, exist_ok=True)
        _unpack(result.archive, ticket.workdir)
        return dataclasses.replace(outcome, artifact=ticket.workdir / outcome.artifact)


def _append_log(path: Path, text: str) -> None:
    if text:
        with contextlib.suppress(OSError), path.open("a", encoding="utf-8") as stream:
            stream.write(text)
