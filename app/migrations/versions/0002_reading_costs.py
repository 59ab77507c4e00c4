"""reading costs and meter summaries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 06:00:00

Each reading stores the priced period it closes; each meter a running summary (last reading,
cost to date) that the portal's grid sorts and totals on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mssql

UTC_DATETIME = sa.DateTime().with_variant(mssql.DATETIME2(precision=6), "mssql")
PENCE = sa.Numeric(18, 6)

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("meter_readings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("advance", sa.Numeric(14, 3), nullable=True))
        batch_op.add_column(sa.Column("kwh", PENCE, nullable=True))
        batch_op.add_column(sa.Column("days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("energy_p", PENCE, nullable=True))
        batch_op.add_column(sa.Column("standing_p", PENCE, nullable=True))
        batch_op.add_column(sa.Column("vat_p", PENCE, nullable=True))
        batch_op.add_column(sa.Column("total_p", PENCE, nullable=True))
    with op.batch_alter_table("meters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_read_at", UTC_DATETIME, nullable=True))
        batch_op.add_column(sa.Column("last_value", sa.Numeric(14, 3), nullable=True))
        batch_op.add_column(sa.Column("last_kind", sa.String(16), nullable=True))
        batch_op.add_column(
            sa.Column("cost_to_date_p", PENCE, nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("meters", schema=None) as batch_op:
        for column in ("cost_to_date_p", "last_kind", "last_value", "last_read_at"):
            batch_op.drop_column(column)
    with op.batch_alter_table("meter_readings", schema=None) as batch_op:
        for column in ("total_p", "vat_p", "standing_p", "energy_p", "days", "kwh", "advance"):
            batch_op.drop_column(column)
