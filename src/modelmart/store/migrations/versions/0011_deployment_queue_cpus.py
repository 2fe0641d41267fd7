"""Deployment admission and placement: a queue limit of its own (NULL: the server's) and the
CPU ids its instances' processes are pinned to ("": any CPU).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 14:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("max_queued_requests", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("cpus", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("cpus")
        batch.drop_column("max_queued_requests")
