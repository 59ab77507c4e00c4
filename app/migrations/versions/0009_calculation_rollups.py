"""calculation rollups: one row per asset, calculation and UTC hour, for plots of long ranges
(as sensor_rollups are for readings), filled here from the calculations already stored

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 20:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mssql

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime().with_variant(mssql.DATETIME2(precision=6), "mssql")

#: the start of ts's UTC hour in each database's SQL (as app.series.hour_bucket renders it)
HOUR = {
    "sqlite": "strftime('%Y-%m-%d %H:00:00', ts)",
    "mssql": "DATEADD(hour, DATEDIFF(hour, 0, ts), 0)",
}


def upgrade() -> None:
    op.create_table('calculation_rollups',
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('bucket', UTC, nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('min_value', sa.Float(), nullable=False),
    sa.Column('max_value', sa.Float(), nullable=False),
    sa.Column('sum_value', sa.Float(), nullable=False),
    sa.Column('first_ts', UTC, nullable=False),
    sa.Column('last_ts', UTC, nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_calculation_rollups_asset_id_assets')),
    sa.PrimaryKeyConstraint('asset_id', 'name', 'bucket', name=op.f('pk_calculation_rollups'))
    )
    # Calculations live in the main database, so the rollups of what is stored can be made here.
    bucket = HOUR.get(op.get_bind().dialect.name, "date_trunc('hour', ts)")
    op.execute(sa.text(
        "INSERT INTO calculation_rollups (asset_id, name, bucket, n, min_value, max_value, sum_value, "
        "first_ts, last_ts) "
        f"SELECT asset_id, name, {bucket}, COUNT(*), MIN(value), MAX(value), SUM(value), MIN(ts), MAX(ts) "
        f"FROM calculations GROUP BY asset_id, name, {bucket}"
    ))


def downgrade() -> None:
    op.drop_table('calculation_rollups')
