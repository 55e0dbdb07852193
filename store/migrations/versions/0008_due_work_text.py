"""due work text: a thread line is due work of its own, its line written when planned

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("due_work") as batch:
        batch.add_column(sa.Column("text", sa.Text(), nullable=True))


def downgrade() -> None:
    # The code before 0008 knows neither thread lines as due work nor the states this
    # revision's engine writes: leave it nothing it would claim for ever or never look at.
    op.execute("UPDATE due_work SET state = 'cancelled' WHERE kind = 'thread_line' "
               "AND state IN ('pending', 'claimed', 'suspended')")
    op.execute("UPDATE due_work SET state = 'pending', claimed_by = NULL, "
               "claimed_until = NULL WHERE state = 'suspended'")
    op.execute("UPDATE due_work SET state = 'done' WHERE state = 'undeliverable'")
    with op.batch_alter_table("due_work") as batch:
        batch.drop_column("text")
