"""clinician programmer: thresholds captured on an amplitude ramp, the patient's paresthesia mapping log

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('stimulation_thresholds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('program', sa.String(length=20), nullable=False),
    sa.Column('lead', sa.Integer(), nullable=False),
    sa.Column('contacts', sa.String(length=32), nullable=False),
    sa.Column('pulse_width_us', sa.Float(), nullable=False),
    sa.Column('frequency_hz', sa.Float(), nullable=False),
    sa.Column('perception_ma', sa.Float(), nullable=True),
    sa.Column('comfort_ma', sa.Float(), nullable=True),
    sa.Column('discomfort_ma', sa.Float(), nullable=True),
    sa.Column('created_by', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], ),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], ),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('stimulation_thresholds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stimulation_thresholds_patient_id'), ['patient_id'], unique=False)

    op.create_table('paresthesia_maps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('program', sa.String(length=20), nullable=False),
    sa.Column('configuration', sa.JSON(), nullable=False),
    sa.Column('regions', sa.JSON(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], ),
    sa.ForeignKeyConstraint(['device_id'], ['devices.id'], ),
    sa.ForeignKeyConstraint(['patient_id'], ['patients.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('paresthesia_maps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_paresthesia_maps_patient_id'), ['patient_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('paresthesia_maps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_paresthesia_maps_patient_id'))
    op.drop_table('paresthesia_maps')
    with op.batch_alter_table('stimulation_thresholds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stimulation_thresholds_patient_id'))
    op.drop_table('stimulation_thresholds')
