"""sign-in: the throttle's failures and lockouts and the login form's single-use tokens in the database
(shared by every server worker), and the must-change flag a clinician's password reset sets

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('must_change_password', sa.Boolean(), server_default=sa.false(),
                                      nullable=False))
    op.create_table('sign_in_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('at_s', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('sign_in_failures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sign_in_failures_key'), ['key'], unique=False)
        batch_op.create_index(batch_op.f('ix_sign_in_failures_at_s'), ['at_s'], unique=False)
    op.create_table('sign_in_lockouts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('until_s', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('sign_in_lockouts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sign_in_lockouts_key'), ['key'], unique=False)
        batch_op.create_index(batch_op.f('ix_sign_in_lockouts_until_s'), ['until_s'], unique=False)


    op.create_table('login_form_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('expires_s', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_sha256')
    )


def downgrade() -> None:
    op.drop_table('login_form_tokens')
    with op.batch_alter_table('sign_in_lockouts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sign_in_lockouts_until_s'))
        batch_op.drop_index(batch_op.f('ix_sign_in_lockouts_key'))
    op.drop_table('sign_in_lockouts')
    with op.batch_alter_table('sign_in_failures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sign_in_failures_at_s'))
        batch_op.drop_index(batch_op.f('ix_sign_in_failures_key'))
    op.drop_table('sign_in_failures')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('must_change_password')
