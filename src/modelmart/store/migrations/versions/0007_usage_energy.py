"""Usage records keep the energy each request used, in whole microjoules (exact), which the
hourly rollups add up as the unit ``energy_joules``. Records written before used 0 J as far
as the ledger knows, so the rollups need no backfill.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ENERGY_UNIT = "energy_joules"


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(
            sa.Column("energy_uj", sa.BigInteger(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("energy_uj")
    op.execute(
        sa.text("DELETE FROM usage_rollups WHERE unit = :unit").bindparams(unit=_ENERGY_UNIT)
    )
