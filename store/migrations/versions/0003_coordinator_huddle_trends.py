"""coordinator of the day, huddle next actions, notices, systemic patterns

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "coordinator_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=True),
        sa.Column("date_from", sa.Date(), nullable=True),
        sa.Column("date_to", sa.Date(), nullable=True),
        sa.Column("set_by", sa.String(length=32), nullable=False),
        sa.Column("set_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coordinator_assignments")),
    )
    op.create_index("ix_coordinator_team", "coordinator_assignments", ["team_id", "kind"])
    op.create_table(
        "notices",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("claimed_at", TS, nullable=False),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("channel_id", sa.String(length=32), nullable=True),
        sa.Column("message_ts", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("team_id", "kind", "key", name=op.f("pk_notices")),
    )
    op.create_table(
        "systemic_patterns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=False),
        sa.Column("route", sa.String(length=200), nullable=False),
        sa.Column("detected_at", TS, nullable=False),
        sa.Column("window_days", sa.Integer(), nullable=False),
        sa.Column("misses", sa.Integer(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("channel_id", sa.String(length=32), nullable=True),
        sa.Column("message_ts", sa.String(length=32), nullable=True),
        sa.Column("classification", sa.String(length=16), nullable=True),
        sa.Column("corrective_route", sa.Text(), nullable=True),
        sa.Column("owner_id", sa.String(length=32), nullable=True),
        sa.Column("review_due", TS, nullable=True),
        sa.Column("classified_by", sa.String(length=32), nullable=True),
        sa.Column("classified_at", TS, nullable=True),
        sa.ForeignKeyConstraint(["partner_id"], ["partner_agencies.id"],
                                name=op.f("fk_systemic_patterns_partner_id_partner_agencies")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_systemic_patterns")),
    )
    op.create_index("ix_systemic_route", "systemic_patterns", ["team_id", "partner_id", "route"])
    with op.batch_alter_table("records") as batch_op:
        batch_op.add_column(sa.Column("next_action", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("next_action_owner", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("next_action_due", TS, nullable=True))
        batch_op.add_column(sa.Column("next_action_set_at", TS, nullable=True))
        batch_op.add_column(sa.Column("next_action_set_by", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("records") as batch_op:
        for column in ("next_action_set_by", "next_action_set_at", "next_action_due",
                       "next_action_owner", "next_action"):
            batch_op.drop_column(column)
    op.drop_index("ix_systemic_route", table_name="systemic_patterns")
    op.drop_table("systemic_patterns")
    op.drop_table("notices")
    op.drop_index("ix_coordinator_team", table_name="coordinator_assignments")
    op.drop_table("coordinator_assignments")
