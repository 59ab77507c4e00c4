"""forecasting: a forecast is kept per horizon (the same time forecast from several origins is
several rows), model versions say their mode (forecast or surrogate), carry their backtest and
record when their file was pruned; validations keep their per-horizon detail

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 13:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mssql

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = sa.DateTime().with_variant(mssql.DATETIME2(precision=6), "mssql")


def upgrade() -> None:
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mode', sa.String(length=16), nullable=False,
                                      server_default='forecast'))
        batch_op.add_column(sa.Column('backtest', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('pruned_at', UTC, nullable=True))
    with op.batch_alter_table('validations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('details', sa.JSON(), nullable=True))
    # Versions made before this change cannot be served by the new code (their files hold one
    # random forest and one interval width): they retire, and the next pipeline run trains the
    # first version of the new kind for each target.
    op.execute(sa.text("UPDATE model_versions SET status = 'retired', retired_at = CURRENT_TIMESTAMP "
                       "WHERE status IN ('active', 'candidate')"))
    # Forecasts made before horizons were kept are recorded as horizon 0 ("not known").
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('horizon', sa.Integer(), nullable=False, server_default='0'))
        batch_op.drop_constraint('pk_predictions', type_='primary')
        batch_op.create_primary_key('pk_predictions', ['model_version_id', 'ts', 'horizon'])


def downgrade() -> None:
    # Keep the shortest-horizon forecast of each time: the key cannot hold more than one.
    op.execute("DELETE FROM predictions WHERE horizon > (SELECT MIN(p2.horizon) FROM predictions p2 "
               "WHERE p2.model_version_id = predictions.model_version_id AND p2.ts = predictions.ts)")
    with op.batch_alter_table('predictions', schema=None) as batch_op:
        batch_op.drop_constraint('pk_predictions', type_='primary')
        batch_op.create_primary_key('pk_predictions', ['model_version_id', 'ts'])
        batch_op.drop_column('horizon')
    with op.batch_alter_table('validations', schema=None) as batch_op:
        batch_op.drop_column('details')
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.drop_column('pruned_at')
        batch_op.drop_column('backtest')
        batch_op.drop_column('mode')
