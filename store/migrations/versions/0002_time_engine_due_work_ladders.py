"""time engine: due work, ladders

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('channel_ladders',
    sa.Column('team_id', sa.String(length=32), nullable=False),
    sa.Column('channel_id', sa.String(length=32), nullable=False),
    sa.Column('ladder_name', sa.String(length=64), nullable=False),
    sa.Column('set_by', sa.String(length=32), nullable=False),
    sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('team_id', 'channel_id', name=op.f('pk_channel_ladders'))
    )
    op.create_table('due_work',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('team_id', sa.String(length=32), nullable=False),
    sa.Column('record_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ready_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tier', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=32), nullable=True),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('claimed_by', sa.String(length=64), nullable=True),
    sa.Column('claimed_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('first_failed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('channel_id', sa.String(length=32), nullable=True),
    sa.Column('message_ts', sa.String(length=32), nullable=True),
    sa.Column('acked_by', sa.String(length=32), nullable=True),
    sa.Column('acked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['record_id'], ['records.id'], name=op.f('fk_due_work_record_id_records')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_due_work'))
    )
    with op.batch_alter_table('due_work', schema=None) as batch_op:
        batch_op.create_index('ix_due_work_message', ['channel_id', 'message_ts'], unique=False)
        batch_op.create_index('ix_due_work_ready', ['state', 'ready_at'], unique=False)
        batch_op.create_index('ix_due_work_record', ['record_id', 'state'], unique=False)

    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ladder', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('tz', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('safeguard_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('interim_action', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('interim_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('escalation_tier', sa.Integer(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('records', schema=None) as batch_op:
        batch_op.drop_column('escalation_tier')
        batch_op.drop_column('interim_at')
        batch_op.drop_column('interim_action')
        batch_op.drop_column('safeguard_until')
        batch_op.drop_column('tz')
        batch_op.drop_column('ladder')

    with op.batch_alter_table('due_work', schema=None) as batch_op:
        batch_op.drop_index('ix_due_work_record')
        batch_op.drop_index('ix_due_work_ready')
        batch_op.drop_index('ix_due_work_message')

    op.drop_table('due_work')
    op.drop_table('channel_ladders')
