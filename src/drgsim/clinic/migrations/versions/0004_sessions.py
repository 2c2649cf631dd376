"""remote programming sessions (NeuroSphere Virtual Clinic style): offered, joined, heartbeats, saved settings

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('remote_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('open_patient_id', sa.Integer(), nullable=True),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('clinician_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('timeout_s', sa.Float(), nullable=False),
    sa.Column('saved', sa.JSON(), nullable=False),
    sa.Column('saved_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['clinician_id'], ['users.id'], ),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], ),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('open_patient_id')
    )
    with op.batch_alter_table('remote_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_remote_sessions_patient_id'), ['patient_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('remote_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_remote_sessions_patient_id'))
    op.drop_table('remote_sessions')
