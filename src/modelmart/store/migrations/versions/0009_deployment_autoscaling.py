"""Deployment autoscaling: the bounds an autoscaler keeps a deployment's instances within and
the queued or running requests per instance it aims for. Existing deployments keep a fixed
count (no bounds).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("min_instances", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("max_instances", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("target_ongoing_requests", sa.Float(), nullable=False, server_default="2.0")
        )


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("target_ongoing_requests")
        batch.drop_column("max_instances")
        batch.drop_column("min_instances")
