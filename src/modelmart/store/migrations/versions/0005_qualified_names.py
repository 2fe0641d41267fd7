"""Names are scoped per organisation: a tenant's objects are stored as ``org:name`` (a slug of
up to 63 characters, a colon, a name of up to 128), so the columns holding them widen to 200.

SQLite does not enforce a VARCHAR's length, but the declared type is kept in step there too
(batch mode copies each table), so every database has the schema the models describe.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUALIFIED_NAME_COLUMNS = (
    ("models", "name"),
    ("deployments", "name"),
    ("deployments", "model_name"),
    ("dataset_versions", "name"),
    ("jobs", "dataset_name"),
    ("jobs", "model_name"),
    ("prices", "model_name"),
    ("publications", "model_name"),
    ("usage_records", "model"),
    ("retained_inputs", "model"),
)


def _alter(length: int) -> None:
    for table in dict.fromkeys(table for table, _ in QUALIFIED_NAME_COLUMNS):
        with op.batch_alter_table(table) as batch:
            for column in (c for t, c in QUALIFIED_NAME_COLUMNS if t == table):
                batch.alter_column(column, type_=sa.String(length=length))


def upgrade() -> None:
    _alter(200)


def downgrade() -> None:
    _alter(128)
