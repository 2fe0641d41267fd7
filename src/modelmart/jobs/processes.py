"""The embedded :class:`~modelmart.jobs.executor.JobExecutor`: one spawned worker process per
job, at most ``max_workers`` at once, the rest queued in submission order.

A thread per slot starts a job's process and relays its pipe to the listener. Cancelling sets
an event the training loop polls; a worker that has not stopped ``cancel_grace_s`` later is
killed. A worker that dies without a final message (killed, out of memory) is reported failed
with its exit code.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from typing import Any

from modelmart.jobs import worker
from modelmart.jobs.executor import JobListener, JobTicket

log = logging.getLogger(__name__)


@dataclass
class _Run:
    process: BaseProcess
    cancel: Event
    cancel_requested: bool = False
    timers: list[threading.Timer] = field(default_factory=list)


class ProcessExecutor:
    """Training jobs in worker processes on this machine."""

    def __init__(self, max_workers: int = 1, cancel_grace_s: float = 10.0) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._grace = cancel_grace_s
        self._pending: queue.Queue[tuple[JobTicket, JobListener] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._queued: set[str] = set()
        self._cancelled_early: set[str] = set()
        self._running: dict[str, _Run] = {}
        self._closed = False
        self._slots = [
            threading.Thread(target=self._serve, name=f"training-slot-{i}", daemon=True)
            for i in range(max_workers)
        ]
        for slot in self._slots:
            slot.start()

    def submit(self, ticket: JobTicket, listener: JobListener) -> None:
        with self._lock:
            self._queued.add(ticket.job_id)
        self._pending.put((ticket, listener))

    def cancel(self, job_id: str) -> bool:
        with self._lock:
            if job_id in self._queued:
                self._cancelled_early.add(job_id)
                return True
            run = self._running.get(job_id)
            if run is None:
                return False
            run.cancel_requested = True
            run.cancel.set()
            timer = threading.Timer(self._grace, run.process.kill)
            timer.daemon = True
            run.timers.append(timer)
        timer.start()
        return True

    def close(self) -> None:
        with self._lock:
            self._closed = True
            runs = list(self._running.values())
        for _ in self._slots:
            self._pending.put(None)
        for run in runs:
            run.process.kill()
        for slot in self._slots:
            slot.join(timeout=30)

    def _serve(self) -> None:
        while (item := self._pending.get()) is not None:
            ticket, listener = item
            with self._lock:
                self._queued.discard(ticket.job_id)
                closed, cancelled = self._closed, ticket.job_id in self._cancelled_early
                self._cancelled_early.discard(ticket.job_id)
            if cancelled:
                listener.cancelled(ticket.job_id)
            elif closed:
                listener.failed(ticket.job_id, "the server stopped before the job started; "
                                "submit it again")  # fmt: skip
            else:
                self._run_guarded(ticket, listener)

    def _run_guarded(self, ticket: JobTicket, listener: JobListener) -> None:
        try:
            self._run(ticket, listener)
        except Exception as exc:  # a slot must survive any one job
            log.exception("training job %s could not be run", ticket.job_id)
            listener.failed(ticket.job_id, f"the job could not be run: {exc}")

    def _run(self, ticket: JobTicket, listener: JobListener) -> None:
        receiver, sender = self._context.Pipe(duplex=False)
        cancel = self._context.Event()
        process = self._context.Process(
            target=worker.main, args=(ticket, sender, cancel), name=f"modelmart-job-{ticket.job_id}"
        )
        run = _Run(process, cancel)
        listener.started(ticket.job_id)
        with self._lock:
            self._running[ticket.job_id] = run
        try:
            run.process.start()
            sender.close()
            final = _relay(receiver, ticket.job_id, listener)
            run.process.join()
        finally:
            receiver.close()
            with self._lock:
                self._running.pop(ticket.job_id, None)
            for timer in run.timers:
                timer.cancel()
        self._finish(ticket.job_id, listener, final, run)

    def _finish(
        self, job_id: str, listener: JobListener, final: tuple[str, Any] | None, run: _Run
    ) -> None:
        if final is not None:
            kind, payload = final
            if kind == "succeeded":
                listener.succeeded(job_id, payload)
            elif kind == "cancelled":
                listener.cancelled(job_id)
            else:
                listener.failed(job_id, str(payload))
        elif run.cancel_requested:
            listener.cancelled(job_id)
        elif self._closed:
            listener.failed(job_id, "the server stopped while the job ran; submit it again")
        else:
            listener.failed(
                job_id,
                f"the training worker exited with code {run.process.exitcode} before "
                "finishing (killed, or out of memory); see the job's logs",
            )


def _relay(receiver: Connection, job_id: str, listener: JobListener) -> tuple[str, Any] | None:
    """Pass progress on until the worker's final message (None when it died without one)."""
    while True:
        try:
            kind, payload = receiver.recv()
        except (EOFError, OSError):
            return None
        if kind != "progress":
            return (kind, payload)
        try:
            listener.progress(job_id, payload)
        except Exception:  # a lost progress line must not lose the job
            log.exception("progress of job %s could not be recorded", job_id)
