"""Usage rollups: the usage records of each hour added up per organisation, model, API key and
unit, so usage reports and invoices read a row per group and hour instead of one per request.
The rollups are filled here from the records already written; from now on the ledger keeps
them in the same transaction as each record it writes.

The usage records' index on ``org_id`` becomes one on ``(org_id, created_at)``: reports read
the partial first and last hours of a range from the records of one organisation.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 08:00:00
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIMESTAMP = sa.DateTime(timezone=True)
_NO_KEY = -1  # a record without an API key (the key is part of the rollup's primary key)
_QUANTUM = Decimal("0.000001")
_ROWS_READ_AT_ONCE = 5000
_ROLLUPS_WRITTEN_AT_ONCE = 1000

_records = sa.table(
    "usage_records",
    sa.column("org_id", sa.Integer()),
    sa.column("key_id", sa.Integer()),
    sa.column("model", sa.String()),
    sa.column("units", sa.JSON()),
    sa.column("created_at", _TIMESTAMP),
)


def upgrade() -> None:
    rollups = op.create_table(
        "usage_rollups",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("hour", _TIMESTAMP, nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("key_id", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"], ["organizations.id"], name=op.f("fk_usage_rollups_org_id_organizations")
        ),
        sa.PrimaryKeyConstraint(
            "org_id", "hour", "model", "key_id", "unit", name=op.f("pk_usage_rollups")
        ),
        sqlite_with_rowid=False,  # SQLite: one B-tree, the primary key's (ignored elsewhere)
    )
    op.create_index(
        op.f("ix_usage_records_org_id_created_at"),
        "usage_records",
        ["org_id", "created_at"],
        unique=False,
    )
    op.drop_index(op.f("ix_usage_records_org_id"), table_name="usage_records")
    _backfill(rollups)


def downgrade() -> None:
    op.create_index(op.f("ix_usage_records_org_id"), "usage_records", ["org_id"], unique=False)
    op.drop_index(op.f("ix_usage_records_org_id_created_at"), table_name="usage_records")
    op.drop_table("usage_rollups")


def _backfill(rollups: sa.Table) -> None:
    """Add up every record written so far, the way the ledger adds up a new one (see
    ``modelmart.billing.rollups``; kept here as it was when this migration was written)."""
    query = sa.select(
        _records.c.org_id,
        _records.c.key_id,
        _records.c.model,
        _records.c.units,
        _records.c.created_at,
    ).execution_options(yield_per=_ROWS_READ_AT_ONCE)  # the statement's: not the connection's
    totals: defaultdict[tuple[int, datetime, str, int, str], int] = defaultdict(int)
    connection = op.get_bind()
    for org_id, key_id, model, units, created_at in connection.execute(query):
        hour = _hour_of(created_at)
        key = _NO_KEY if key_id is None else key_id
        for unit, amount in _units(units).items():
            totals[(org_id, hour, model, key, unit)] += _micros(amount)
    rows = [
        {"org_id": o, "hour": h, "model": m, "key_id": k, "unit": u, "quantity": q}
        for (o, h, m, k, u), q in totals.items()
    ]
    for start in range(0, len(rows), _ROLLUPS_WRITTEN_AT_ONCE):
        connection.execute(sa.insert(rollups), rows[start : start + _ROLLUPS_WRITTEN_AT_ONCE])


def _units(units: Any) -> Mapping[str, Any]:
    return units if isinstance(units, Mapping) else {}


def _hour_of(moment: datetime) -> datetime:
    # SQLite gives back the naive UTC time it stored.
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def _micros(amount: Any) -> int:
    """A JSON number as whole millionths: its shortest decimal form, rounded half to even."""
    exact = Decimal(str(amount))
    exponent = exact.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -6:
        exact = exact.quantize(_QUANTUM, rounding=ROUND_HALF_EVEN)
    return int(exact.scaleb(6))
