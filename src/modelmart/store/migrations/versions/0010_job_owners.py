"""Job owners: the server process that runs each job and its heartbeat, so that several servers
share one database without failing or cancelling each other's jobs. Jobs already in the
database have no owner: if still open, the next start-up or orphan check fails them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 11:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "job_servers",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", _TIMESTAMP, nullable=False),
        sa.Column("last_seen", _TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_servers")),
    )
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("server_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("server_name", sa.String(length=300), nullable=True))
        batch.add_column(
            sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Every server looks for open jobs of lost servers on each heartbeat.
    op.create_index(op.f("ix_jobs_state"), "jobs", ["state"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_jobs_state"), table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("cancel_requested")
        batch.drop_column("server_name")
        batch.drop_column("server_id")
    op.drop_table("job_servers")
