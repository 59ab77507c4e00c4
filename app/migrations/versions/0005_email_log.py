"""email log: what each message is rendered from; alerts: when they were notified

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 10:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mssql

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DATETIME = sa.DateTime().with_variant(mssql.DATETIME2(precision=6), "mssql")


def upgrade() -> None:
    with op.batch_alter_table('email_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('message_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('meter_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('customer_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('period_start', DATETIME, nullable=True))
        batch_op.add_column(sa.Column('period_end', DATETIME, nullable=True))
        batch_op.add_column(sa.Column('params', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('requested_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('attempted_at', DATETIME, nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_email_log_meter_id_meters'), 'meters', ['meter_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_email_log_customer_id_customers'), 'customers', ['customer_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_email_log_requested_by_id_users'), 'users', ['requested_by_id'], ['id'])
        batch_op.create_index('ix_email_log_supplier_created', ['supplier_id', 'created_at'], unique=False)

    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notified_at', DATETIME, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_column('notified_at')

    with op.batch_alter_table('email_log', schema=None) as batch_op:
        batch_op.drop_index('ix_email_log_supplier_created')
        batch_op.drop_constraint(batch_op.f('fk_email_log_requested_by_id_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_email_log_customer_id_customers'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_email_log_meter_id_meters'), type_='foreignkey')
        for column in ('attempted_at', 'requested_by_id', 'params', 'period_end', 'period_start',
                       'customer_id', 'meter_id', 'message_id'):
            batch_op.drop_column(column)
