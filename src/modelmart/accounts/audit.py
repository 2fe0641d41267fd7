"""The audit log: every administrative change, who made it, from where and when.

An organisation reads its own entries; the operator reads every organisation's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from modelmart.schemas.accounts import AuditEntry
from modelmart.store.tables import AuditRow
from modelmart.tenancy import Principal

MAX_ENTRIES = 1000


class AuditLog:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def record(
        self,
        principal: Principal,
        action: str,
        target: str,
        address: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        # With accounts off there is no organisation or key row to point at.
        row = AuditRow(
            org_id=principal.org_id if principal.accounts else None,
            key_id=principal.key_id if principal.accounts else None,
            action=action,
            target=target,
            details=details or {},
            address=address,
        )
        with self._sessions() as session:
            session.add(row)
            session.commit()

    def entries(
        self,
        principal: Principal,
        *,
        action: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """The entries ``principal`` may read, newest first: its organisation's own (the
        operator's: every one)."""
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(min(limit, MAX_ENTRIES))
        if not principal.is_operator:
            query = query.where(AuditRow.org_id == principal.org_id)
        if action is not None:
            query = query.where(AuditRow.action == action)
        if since is not None:
            query = query.where(AuditRow.at >= since)
        with self._sessions() as session:
            return [
                AuditEntry.model_validate(row, from_attributes=True)
                for row in session.scalars(query)
            ]
