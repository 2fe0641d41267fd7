"""Usage records keep the fingerprint of the request an idempotency key was used for, so the
key replays that request only and refuses any other.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-14 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: rows written before carry no fingerprint, and a replay of them is not checked.
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("request_hash", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("request_hash")
