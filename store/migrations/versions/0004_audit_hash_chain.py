"""tamper-evident audit: each workspace's events numbered and hash-linked

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22

Existing events are chained in id order, workspace by workspace, with the same function
Baton seals new ones with, so a database upgraded from 0003 verifies clean.
"""
from datetime import UTC

import sqlalchemy as sa
from alembic import op

from bot.domain.audit_chain import GENESIS, seal

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audit_chains",
        sa.Column("team_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("team_id", name=op.f("pk_audit_chains")),
    )
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    _chain_existing_events()
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("seq", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(length=64), nullable=False)
    op.create_index("ix_audit_chain", "audit_events", ["team_id", "seq"], unique=True)


def _chain_existing_events() -> None:
    conn = op.get_bind()
    events = sa.table(
        "audit_events", sa.column("id", sa.Integer), sa.column("team_id", sa.String),
        sa.column("record_id", sa.Integer), sa.column("record_ref", sa.String),
        sa.column("at", TS), sa.column("actor", sa.String), sa.column("kind", sa.String),
        sa.column("field", sa.String), sa.column("before", sa.JSON),
        sa.column("after", sa.JSON), sa.column("note", sa.Text),
        sa.column("seq", sa.Integer), sa.column("prev_hash", sa.String),
        sa.column("hash", sa.String),
    )
    chains = sa.table("audit_chains", sa.column("team_id", sa.String),
                      sa.column("seq", sa.Integer), sa.column("head_hash", sa.String))
    teams = [t for (t,) in conn.execute(sa.select(events.c.team_id).distinct())]
    for team in sorted(teams):
        rows = [dict(r._mapping) for r in conn.execute(
            sa.select(events).where(events.c.team_id == team).order_by(events.c.id))]
        for row in rows:
            at = row["at"]
            if at.tzinfo is None:  # SQLite hands back naive UTC
                row["at"] = at.replace(tzinfo=UTC)
        head, last = seal(GENESIS, 0, rows)
        for row in rows:
            conn.execute(sa.update(events).where(events.c.id == row["id"]).values(
                seq=row["seq"], prev_hash=row["prev_hash"], hash=row["hash"]))
        conn.execute(sa.insert(chains).values(team_id=team, seq=last, head_hash=head))


def downgrade() -> None:
    op.drop_index("ix_audit_chain", table_name="audit_events")
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
        batch.drop_column("seq")
    op.drop_table("audit_chains")
