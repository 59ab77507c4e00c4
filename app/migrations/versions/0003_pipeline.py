"""pipeline state, runs, model events, jobs, leases

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 06:16:38.510076
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mssql

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('leases',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('holder', sa.String(length=200), nullable=False),
    sa.Column('expires_at', sa.DateTime().with_variant(mssql.DATETIME2(precision=6), "mssql"), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_leases'))
    )
    op.create_table('jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('supplier_id', sa.Integer(), nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('target', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=True),
    sa.Column('task_id', sa.String(length=64), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime().with_variant(mssql.DATETIME2(precision=6), "mssql"), nullable=False),
    sa.Column('updated_at', sa.DateTime().with_variant(mssql.DATETIME2(precision=6), "mssql"), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_jobs_asset_id_assets')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_jobs_created_by_id_users')),
    sa.ForeignKeyConstraint(['supplier_id'], ['suppliers.id'], name=op.f('fk_jobs_supplier_id_suppliers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_jobs_asset_id'), ['asset_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_jobs_supplier_id'), ['supplier_id'], unique=False)

    op.create_table('pipeline_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('target', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime().with_variant(mssql.DATETIME2(precision=6), "mssql"), nullable=False),
    sa.Column('finished_at', sa.DateTime().with_variant(mssql.DATETIME2(precision=6), "mssql"), nullable=True),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_pipeline_runs_asset_id_assets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pipeline_runs'))
    )
    with op.batch_alter_table('pipeline_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pipeline_runs_asset_id'), ['asset_id'], unique=False)

    op.create_table('pipeline_state',
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.Column('watermark', sa.DateTime().with_variant(mssql.DATETIME2(precision=6), "mssql"), nullable=True),
    sa.Column('updated_at', sa.DateTime().with_variant(mssql.DATETIME2(precision=6), "mssql"), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_pipeline_state_asset_id_assets')),
    sa.PrimaryKeyConstraint('asset_id', name=op.f('pk_pipeline_state'))
    )
    op.create_table('model_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=False),
    sa.Column('target', sa.String(length=64), nullable=False),
    sa.Column('model_version_id', sa.Integer(), nullable=True),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('at', sa.DateTime().with_variant(mssql.DATETIME2(precision=6), "mssql"), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_model_events_asset_id_assets')),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_versions.id'], name=op.f('fk_model_events_model_version_id_model_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_model_events'))
    )
    with op.batch_alter_table('model_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_events_asset_id'), ['asset_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('model_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_events_asset_id'))

    op.drop_table('model_events')
    op.drop_table('pipeline_state')
    with op.batch_alter_table('pipeline_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pipeline_runs_asset_id'))

    op.drop_table('pipeline_runs')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jobs_supplier_id'))
        batch_op.drop_index(batch_op.f('ix_jobs_asset_id'))

    op.drop_table('jobs')
    op.drop_table('leases')
