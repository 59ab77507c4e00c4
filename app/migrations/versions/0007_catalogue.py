"""catalogue: sites, assets and sensors a supplier manages itself. Retiring keeps history;
assets carry user formulas and chosen forecast targets; sensors their reporting interval;
API tokens gain the ``admin`` scope for catalogue changes

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 10:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mssql

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime().with_variant(mssql.DATETIME2(precision=6), "mssql")


def upgrade() -> None:
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retired_at', UTC, nullable=True))
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('formulas', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('forecast_targets', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('retired_at', UTC, nullable=True))
    with op.batch_alter_table('sensors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('interval_s', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('retired_at', UTC, nullable=True))
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_api_tokens_scope'), type_='check')
        batch_op.create_check_constraint('scope', "scope IN ('read', 'write', 'admin')")


def downgrade() -> None:
    op.execute("UPDATE api_tokens SET scope = 'write' WHERE scope = 'admin'")
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('ck_api_tokens_scope'), type_='check')
        batch_op.create_check_constraint('scope', "scope IN ('read', 'write')")
    with op.batch_alter_table('sensors', schema=None) as batch_op:
        batch_op.drop_column('retired_at')
        batch_op.drop_column('interval_s')
    with op.batch_alter_table('assets', schema=None) as batch_op:
        batch_op.drop_column('retired_at')
        batch_op.drop_column('forecast_targets')
        batch_op.drop_column('formulas')
    with op.batch_alter_table('sites', schema=None) as batch_op:
        batch_op.drop_column('retired_at')
