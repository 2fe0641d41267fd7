"""Saved deployment specs, so that the deployment manager can restore them after a restart."""

from __future__ import annotations

import builtins
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from modelmart.errors import AlreadyExists, InvalidRequest
from modelmart.schemas.pii import checked_policy
from modelmart.store.db import lock_for_write
from modelmart.store.tables import QUALIFIED_NAME_LENGTH, DeploymentRow, utc_now

Isolation = Literal["process", "thread"]
_ISOLATIONS = ("process", "thread")


@dataclass(frozen=True)
class DeploymentRecord:
    """What one deployment serves and how. Exactly one of ``version`` and ``alias`` is set.

    ``created_at``/``updated_at`` are filled in by :meth:`DeploymentRepository.save`; leave
    them ``None`` when building a new record.
    """

    name: str
    model_name: str
    version: int | None = None
    alias: str | None = None
    instances: int = 1
    max_batch_size: int = 1
    max_delay_ms: float = 0.0
    timeout_s: float | None = None
    isolation: Isolation = "process"
    owner: str = ""
    pii_policy: str | None = None  # a PiiPolicy value; None: not set
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # Autoscaling: both bounds or neither (a fixed ``instances``); ``instances`` is then the
    # count it starts with.
    min_instances: int | None = None
    max_instances: int | None = None
    target_ongoing_requests: float = 2.0
    # Admission and placement: the queue's own limit (None: the server's) and the CPUs its
    # instances' processes are pinned to (empty: any).
    max_queued_requests: int | None = None
    cpus: tuple[int, ...] = ()

    @property
    def autoscaled(self) -> bool:
        return self.max_instances is not None

    def same_spec(self, other: DeploymentRecord) -> bool:
        """Whether ``other`` serves the same way (timestamps aside)."""
        return all(getattr(self, field) == getattr(other, field) for field in _SPEC_FIELDS)

    def __post_init__(self) -> None:
        if not 0 < len(self.name) <= QUALIFIED_NAME_LENGTH:
            raise InvalidRequest(
                f"deployment name {self.name!r} must be 1 to {QUALIFIED_NAME_LENGTH} characters "
                "long"
            )
        if (self.version is None) == (self.alias is None):
            raise InvalidRequest(
                f"deployment {self.name!r} sets version={self.version!r} and "
                f"alias={self.alias!r}; set exactly one of them"
            )
        if self.isolation not in _ISOLATIONS:
            raise InvalidRequest(
                f"deployment {self.name!r} has isolation {self.isolation!r}; "
                f"expected one of {', '.join(_ISOLATIONS)}"
            )
        checked_policy(self.pii_policy)  # InvalidPiiPolicy, naming the valid ones
        if self.instances < 1 or self.max_batch_size < 1 or self.max_delay_ms < 0:
            raise InvalidRequest(
                f"deployment {self.name!r} needs instances >= 1, max_batch_size >= 1 and "
                f"max_delay_ms >= 0 (got {self.instances}, {self.max_batch_size}, "
                f"{self.max_delay_ms})"
            )
        self._check_autoscaling()
        self._check_placement()

    def _check_placement(self) -> None:
        if self.max_queued_requests is not None and self.max_queued_requests < 1:
            raise InvalidRequest(
                f"deployment {self.name!r} needs max_queued_requests >= 1 "
                f"(got {self.max_queued_requests})"
            )
        if self.cpus and self.isolation != "process":
            raise InvalidRequest(
                f"deployment {self.name!r} pins its instances to CPUs {list(self.cpus)}, which "
                "only worker processes can be; use isolation 'process' or drop cpus",
                details={"param": "cpus"},
            )
        if len(set(self.cpus)) != len(self.cpus) or any(cpu < 0 for cpu in self.cpus):
            raise InvalidRequest(
                f"deployment {self.name!r} has CPUs {list(self.cpus)}; give distinct CPU ids "
                "from 0",
                details={"param": "cpus"},
            )

    def _check_autoscaling(self) -> None:
        low, high = self.min_instances, self.max_instances
        if (low is None) != (high is None):
            raise InvalidRequest(
                f"deployment {self.name!r} sets min_instances={low!r} and max_instances="
                f"{high!r}; set both for autoscaling or neither for a fixed count"
            )
        if (low is not None and high is not None and not 0 <= low <= high) or high == 0:
            raise InvalidRequest(
                f"deployment {self.name!r} needs 0 <= min_instances <= max_instances and "
                f"max_instances >= 1 (got {low} and {high})"
            )
        if self.target_ongoing_requests <= 0:
            raise InvalidRequest(
                f"deployment {self.name!r} needs target_ongoing_requests > 0 "
                f"(got {self.target_ongoing_requests})"
            )


_SPEC_FIELDS = (
    "model_name",
    "version",
    "alias",
    "instances",
    "max_batch_size",
    "max_delay_ms",
    "timeout_s",
    "isolation",
    "owner",
    "min_instances",
    "max_instances",
    "target_ongoing_requests",
    "pii_policy",
    "max_queued_requests",
    "cpus",
)


def _column_values(record: DeploymentRecord) -> dict[str, object]:
    """The row's columns for ``record``'s spec (CPU ids as a comma-separated list)."""
    values = {field: getattr(record, field) for field in _SPEC_FIELDS}
    values["cpus"] = ",".join(str(cpu) for cpu in record.cpus)
    return values


def _cpus_of(column: str) -> tuple[int, ...]:
    return tuple(int(cpu) for cpu in column.split(",") if cpu)


def _record_of(row: DeploymentRow) -> DeploymentRecord:
    isolation: Isolation = "thread" if row.isolation == "thread" else "process"
    return DeploymentRecord(
        name=row.name,
        model_name=row.model_name,
        version=row.version,
        alias=row.alias,
        instances=row.instances,
        max_batch_size=row.max_batch_size,
        max_delay_ms=row.max_delay_ms,
        timeout_s=row.timeout_s,
        isolation=isolation,
        owner=row.owner,
        pii_policy=row.pii_policy,
        created_at=row.created_at,
        updated_at=row.updated_at,
        min_instances=row.min_instances,
        max_instances=row.max_instances,
        target_ongoing_requests=row.target_ongoing_requests,
        max_queued_requests=row.max_queued_requests,
        cpus=_cpus_of(row.cpus),
    )


class DeploymentRepository:
    """Deployment records in the metadata database, keyed by deployment name."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def save(self, record: DeploymentRecord) -> DeploymentRecord:
        """Insert ``record`` or replace the saved one of the same name; return it as stored
        (``created_at`` kept from the first save, ``updated_at`` now)."""
        try:
            return self._save_once(record)
        except IntegrityError:
            # Two first saves of one name raced on PostgreSQL; now the row exists: update it.
            return self._save_once(record)

    def _save_once(self, record: DeploymentRecord) -> DeploymentRecord:
        now = utc_now()
        with self._sessions.begin() as session:
            lock_for_write(session)
            row = session.get(DeploymentRow, record.name, with_for_update=True)
            if row is None:
                row = DeploymentRow(name=record.name, created_at=now)
                session.add(row)
            for column, value in _column_values(record).items():
                setattr(row, column, value)
            row.updated_at = now
            session.flush()
            return replace(record, created_at=row.created_at, updated_at=now)

    def create(self, record: DeploymentRecord) -> DeploymentRecord:
        """Insert ``record``; :class:`AlreadyExists` when a deployment of its name is saved
        (made by this server or another one sharing the database)."""
        now = utc_now()
        try:
            with self._sessions.begin() as session:
                lock_for_write(session)
                if session.get(DeploymentRow, record.name) is not None:
                    raise _taken(record.name)
                row = DeploymentRow(name=record.name, created_at=now, updated_at=now)
                for column, value in _column_values(record).items():
                    setattr(row, column, value)
                session.add(row)
        except IntegrityError as exc:  # another server inserted it between the two statements
            raise _taken(record.name) from exc
        return replace(record, created_at=now, updated_at=now)

    def get(self, name: str) -> DeploymentRecord | None:
        with self._sessions() as session:
            row = session.get(DeploymentRow, name)
            return None if row is None else _record_of(row)

    def list(self) -> builtins.list[DeploymentRecord]:
        """Every saved deployment, by name."""
        with self._sessions() as session:
            rows = session.scalars(select(DeploymentRow).order_by(DeploymentRow.name))
            return [_record_of(row) for row in rows]

    def delete(self, name: str) -> bool:
        """Forget deployment ``name``; False when there was none."""
        with self._sessions.begin() as session:
            lock_for_write(session)
            row = session.get(DeploymentRow, name, with_for_update=True)
            if row is None:
                return False
            session.delete(row)
            return True


def _taken(name: str) -> AlreadyExists:
    short = name.rsplit(":", 1)[-1]
    return AlreadyExists(
        f"deployment {short!r} already exists; change it with PATCH /v1/deployments/{short} "
        "or pick another name",
        details={"deployment": short},
    )
