"""sensor rollups: one row per sensor and UTC hour, for plots of long ranges

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 10:00:00

The table starts empty: ``twin rollups refresh`` fills it from the stored readings (the sensor
source may be another database, which a migration of the main one must not read).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mssql

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sensor_rollups',
    sa.Column('sensor_id', sa.Integer(), nullable=False),
    sa.Column('bucket', sa.DateTime().with_variant(mssql.DATETIME2(precision=6), "mssql"), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.Column('min_value', sa.Float(), nullable=False),
    sa.Column('max_value', sa.Float(), nullable=False),
    sa.Column('sum_value', sa.Float(), nullable=False),
    sa.Column('first_ts', sa.DateTime().with_variant(mssql.DATETIME2(precision=6), "mssql"), nullable=False),
    sa.Column('last_ts', sa.DateTime().with_variant(mssql.DATETIME2(precision=6), "mssql"), nullable=False),
    sa.ForeignKeyConstraint(['sensor_id'], ['sensors.id'], name=op.f('fk_sensor_rollups_sensor_id_sensors')),
    sa.PrimaryKeyConstraint('sensor_id', 'bucket', name=op.f('pk_sensor_rollups'))
    )


def downgrade() -> None:
    op.drop_table('sensor_rollups')
