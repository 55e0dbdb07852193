"""tamper-evident audit: each workspace's events numbered and hash-linked

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22

Existing events are chained in id order, workspace by workspace, with the hashing Baton
seals new ones with (bot/domain/audit_chain.py, "baton-audit-v1"), so a database upgraded from
0003 verifies clean. That hashing is frozen here, copied as it was when this migration was
written: a migration must mean the same thing for ever, whatever the live code becomes.
tests/unit/test_migration_0004_frozen.py checks the copy still agrees with the live one; if
the live hashing changes, add a new migration rather than editing this one.
"""
import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)

# --- the hash chain as of this migration (a frozen copy; never edit) ---

GENESIS = "0" * 64  # the "hash" before a workspace's first event
VERSION = "baton-audit-v1"
LINKED = ("team_id", "seq", "record_id", "record_ref", "at", "actor", "kind", "field",
          "before", "after", "note")


def _at(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime for an audit event; use aware UTC")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(event: Mapping[str, Any]) -> bytes:
    """The bytes a link hashes: the linked fields only, keys sorted, no whitespace."""
    body = {k: (_at(event[k]) if k == "at" else event.get(k)) for k in LINKED}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def link_hash(prev_hash: str, event: Mapping[str, Any]) -> str:
    digest = hashlib.sha256()
    digest.update(f"{VERSION}\n{prev_hash}\n".encode("ascii"))
    digest.update(canonical(event))
    return digest.hexdigest()


def seal(head_hash: str, last_seq: int, events: Iterable[dict[str, Any]]) -> tuple[str, int]:
    """Number and link `events` (in order, in place) after a chain whose head is
    (`head_hash`, `last_seq`). Returns the new head."""
    for event in events:
        last_seq += 1
        event["seq"] = last_seq
        event["prev_hash"] = head_hash
        head_hash = event["hash"] = link_hash(head_hash, event)
    return head_hash, last_seq


# --- the migration ---


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
