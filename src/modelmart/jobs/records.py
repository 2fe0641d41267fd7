"""The jobs' rows: state changes, progress events and the reads the API needs."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from modelmart.errors import JobNotFound
from modelmart.schemas.jobs import JobEvent, JobInfo, JobState
from modelmart.store.tables import JobEventRow, JobRow, JobServerRow, utc_now
from modelmart.training.runs import ProgressEvent

LIST_LIMIT = 200
CANCELLED = "cancelled on request"
_OPEN = (JobState.QUEUED.value, JobState.RUNNING.value)


def job_not_found(job_id: str) -> JobNotFound:
    """The one answer for a job that is not there, or not the caller's to see."""
    return JobNotFound(
        f"job {job_id!r} does not exist; list jobs with `modelmart jobs list`",
        details={"job": job_id},
    )


def _event(row: JobEventRow) -> JobEvent:
    return JobEvent(
        sequence=row.id,
        epoch=row.epoch,
        total_epochs=row.total_epochs,
        train_loss=row.train_loss,
        validation_loss=row.validation_loss,
        metrics=row.metrics,
        message=row.message,
        created_at=row.created_at,
    )


def _info(row: JobRow, latest: JobEventRow | None = None) -> JobInfo:
    return JobInfo(
        id=row.id,
        state=JobState(row.state),
        spec=row.spec,
        dataset=row.dataset_name,
        dataset_version=row.dataset_version,
        model=row.model_name,
        model_version=row.model_version,
        failure_reason=row.failure_reason,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        latest_event=_event(latest) if latest is not None else None,
        owner=row.owner,
        server=row.server_name,
        cancel_requested=row.cancel_requested,
    )


@dataclass(frozen=True)
class ServerIdentity:
    """One server process: a fresh id per start (so a restarted process never takes its
    previous life's jobs for its own), and host and pid for people."""

    id: str
    host: str
    pid: int
    started_at: datetime

    @classmethod
    def of_this_process(cls) -> ServerIdentity:
        return cls(uuid.uuid4().hex, socket.gethostname(), os.getpid(), utc_now())

    @property
    def name(self) -> str:
        return f"{self.host} pid {self.pid}"


@dataclass(frozen=True)
class OwnedJob:
    """What the server running a job needs to know of its row on each check."""

    id: str
    state: JobState
    cancel_requested: bool


@dataclass(frozen=True)
class Orphan:
    """An open job whose server stopped reporting; ``server`` is its "host pid", if known."""

    id: str
    server: str | None


def _owner_is_stale(cutoff: datetime) -> ColumnElement[bool]:
    """The job's server has not reported since ``cutoff`` (or never had a row, or it was
    pruned): no live process runs the job."""
    live = exists().where(JobServerRow.id == JobRow.server_id, JobServerRow.last_seen >= cutoff)
    return ~live


def _finite(value: float | None) -> float | None:
    # JSON and PostgreSQL have no NaN; a diverged loss is recorded as missing.
    return value if value is not None and value == value and abs(value) != float("inf") else None


class JobRecords:
    """Reads and writes of ``jobs`` and ``job_events``."""

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._sessions = session_factory

    def create(self, row: JobRow) -> JobInfo:
        with self._sessions.begin() as session:
            session.add(row)
        return _info(row)

    def get(self, job_id: str) -> JobInfo:
        with self._sessions() as session:
            row = session.get(JobRow, job_id)
            if row is None:
                raise job_not_found(job_id)
            latest = session.scalar(
                select(JobEventRow)
                .where(JobEventRow.job_id == job_id)
                .order_by(JobEventRow.id.desc())
                .limit(1)
            )
            return _info(row, latest)

    def recent(self, owner: str | None = None) -> list[JobInfo]:
        """The newest jobs first: ``owner``'s, or everyone's when None."""
        query = select(JobRow).order_by(JobRow.created_at.desc()).limit(LIST_LIMIT)
        if owner is not None:
            query = query.where(JobRow.owner == owner)
        with self._sessions() as session:
            return [_info(row) for row in session.scalars(query)]

    def events(self, job_id: str, after: int = 0) -> list[JobEvent]:
        with self._sessions() as session:
            rows = session.scalars(
                select(JobEventRow)
                .where(JobEventRow.job_id == job_id, JobEventRow.id > after)
                .order_by(JobEventRow.id)
            )
            return [_event(row) for row in rows]

    def add_event(self, job_id: str, event: ProgressEvent) -> None:
        metrics = {k: v for k, v in event.metrics.items() if _finite(float(v)) is not None}
        with self._sessions.begin() as session:
            session.add(
                JobEventRow(
                    job_id=job_id,
                    epoch=event.epoch,
                    total_epochs=event.total_epochs,
                    train_loss=_finite(event.train_loss),
                    validation_loss=_finite(event.validation_loss),
                    metrics={k: float(v) for k, v in metrics.items()},
                    message=event.message,
                    created_at=utc_now(),
                )
            )

    def mark_running(self, job_id: str) -> None:
        with self._sessions.begin() as session:
            session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.state == JobState.QUEUED.value)
                .values(state=JobState.RUNNING.value, started_at=utc_now())
            )

    def finish(self, job_id: str, state: JobState, **values: Any) -> bool:
        """Move an open job to ``state``; False when it had already finished."""
        with self._sessions.begin() as session:
            result = session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.state.in_(_OPEN))
                .values(state=state.value, finished_at=utc_now(), **values)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def report_of(self, model: str, version: int) -> dict[str, Any] | None:
        with self._sessions() as session:
            report: dict[str, Any] | None = session.scalar(
                select(JobRow.report).where(
                    JobRow.model_name == model, JobRow.model_version == version
                )
            )
            return report

    # Servers and the jobs they own

    def database_now(self) -> datetime:
        """The database server's time: servers on several machines compare heartbeats on one
        clock, whatever their own clocks' skew. SQLite runs on this machine: its clock."""
        with self._sessions() as session:
            if session.get_bind().dialect.name == "sqlite":
                return utc_now()
            now = session.scalar(select(func.now()))
            if not isinstance(now, datetime):
                raise TypeError(f"the database's now() returned {now!r}, not a timestamp")
            return now.astimezone(UTC)

    def heartbeat(self, server: ServerIdentity, now: datetime) -> None:
        """Record that ``server`` is alive: its row is made on the first call, and made again
        if another server pruned it during a long silence."""
        with self._sessions.begin() as session:
            result = session.execute(
                update(JobServerRow).where(JobServerRow.id == server.id).values(last_seen=now)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                session.add(
                    JobServerRow(
                        id=server.id,
                        host=server.host,
                        pid=server.pid,
                        started_at=server.started_at,
                        last_seen=now,
                    )
                )

    def remove_server(self, server_id: str) -> None:
        with self._sessions.begin() as session:
            session.execute(delete(JobServerRow).where(JobServerRow.id == server_id))

    def prune_servers(self, before: datetime) -> int:
        """Forget servers silent since ``before`` (their jobs keep their "host pid")."""
        with self._sessions.begin() as session:
            result = session.execute(delete(JobServerRow).where(JobServerRow.last_seen < before))
            return int(result.rowcount)  # type: ignore[attr-defined]

    def owned(self, job_ids: Collection[str]) -> list[OwnedJob]:
        """State and cancel mark of the jobs ``job_ids`` (those this server runs)."""
        if not job_ids:
            return []
        query = select(JobRow.id, JobRow.state, JobRow.cancel_requested).where(
            JobRow.id.in_(list(job_ids))
        )
        with self._sessions() as session:
            return [
                OwnedJob(job_id, JobState(state), bool(mark))
                for job_id, state, mark in session.execute(query)
            ]

    def cancel_queued(self, job_id: str) -> bool:
        """Cancel ``job_id`` at once if no worker has started it; False otherwise."""
        with self._sessions.begin() as session:
            result = session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.state == JobState.QUEUED.value)
                .values(
                    state=JobState.CANCELLED.value,
                    cancel_requested=True,
                    failure_reason=CANCELLED,
                    finished_at=utc_now(),
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def request_cancel(self, job_id: str) -> bool:
        """Mark an open job for its server to cancel; False when it had already finished."""
        with self._sessions.begin() as session:
            result = session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.state.in_(_OPEN))
                .values(cancel_requested=True)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def orphans(self, cutoff: datetime, exclude_server: str) -> list[Orphan]:
        """Open jobs whose server has not reported since ``cutoff``, but ``exclude_server``'s
        (the caller's own: it knows better than its heartbeat whether it runs them)."""
        query = select(JobRow.id, JobRow.server_name).where(
            JobRow.state.in_(_OPEN),
            or_(JobRow.server_id.is_(None), JobRow.server_id != exclude_server),
            _owner_is_stale(cutoff),
        )
        with self._sessions() as session:
            return [Orphan(job_id, name) for job_id, name in session.execute(query)]

    def finish_orphan(self, job_id: str, cutoff: datetime, state: JobState, reason: str) -> bool:
        """Finish ``job_id`` if it is still open and its server still silent since ``cutoff``.
        One guarded UPDATE: of several servers trying at once, exactly one gets True."""
        with self._sessions.begin() as session:
            result = session.execute(
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.state.in_(_OPEN), _owner_is_stale(cutoff))
                .values(state=state.value, failure_reason=reason, finished_at=utc_now())
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]
