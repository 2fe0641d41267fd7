"""The audit log: every administrative change, who made it, from where and when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from modelmart.accounts.principal import Principal
from modelmart.schemas.accounts import AuditEntry
from modelmart.store.tables import AuditRow

MAX_ENTRIES = 1000


class AuditLog:
    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def record(
        self,
        principal: Principal | None,
        action: str,
        target: str,
        address: str,
        details: dict[str, Any] | None = None,
    ) -> None:
        row = AuditRow(
            org_id=principal.org_id if principal else None,
            key_id=principal.key_id if principal else None,
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
        org_id: int | None,
        action: str | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Newest first; ``org_id`` None means every organisation's (the operator's view)."""
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(min(limit, MAX_ENTRIES))
        if org_id is not None:
            query = query.where(AuditRow.org_id == org_id)
        if action is not None:
            query = query.where(AuditRow.action == action)
        if since is not None:
            query = query.where(AuditRow.at >= since)
        with self._sessions() as session:
            return [
                AuditEntry.model_validate(row, from_attributes=True)
                for row in session.scalars(query)
            ]
