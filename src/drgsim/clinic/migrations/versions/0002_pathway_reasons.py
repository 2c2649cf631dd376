"""pathway reasons: a trial started against a 'not eligible' screening, a trial decided before its planned end

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('trials', schema=None) as batch_op:
        batch_op.add_column(sa.Column('screening_override_reason', sa.Text(), nullable=True))
    with op.batch_alter_table('trial_decisions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('end_early_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('trial_decisions', schema=None) as batch_op:
        batch_op.drop_column('end_early_reason')
    with op.batch_alter_table('trials', schema=None) as batch_op:
        batch_op.drop_column('screening_override_reason')
