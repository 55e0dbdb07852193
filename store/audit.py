"""Writing and checking the audit trail's hash chain (bot/domain/audit_chain.py).

`queries.add_event` only queues an event on its session. When the transaction commits, its
events are numbered and linked after their workspace's chain head and inserted, and the
head moves on; all in that same transaction, so the events and what they describe commit or
roll back together. The head row is locked last, just before the commit, so the lock is
held for the commit alone and cannot take part in a deadlock (every other lock a
transaction takes comes before it).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, event, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.domain.audit_chain import GENESIS, Break, ChainWalk, seal
from store.models import AuditChain, AuditEvent, table

PENDING = "baton_audit_pending"

_EVENTS = table(AuditEvent)
_CHAINS = table(AuditChain)
_INSERT_EVENTS = insert(_EVENTS)


def queue(session: Session, row: dict[str, Any]) -> None:
    session.info.setdefault(PENDING, []).append(row)


@event.listens_for(Session, "before_commit")
def _seal_on_commit(session: Session) -> None:
    if not session.info.get(PENDING):
        return
    # SQLAlchemy flushes after before_commit: flush first, so every row lock the commit needs
    # is taken before the chain head's, which stays the last lock (no deadlock through it).
    session.flush()
    pending: list[dict[str, Any]] = session.info.pop(PENDING, [])
    write_sealed(session.connection(), pending)


@event.listens_for(Session, "after_soft_rollback")
def _drop_on_rollback(session: Session, _previous: Any) -> None:
    session.info.pop(PENDING, None)  # rolled back with everything they described


# Built once; each call only binds parameters (building a statement costs more than
# running it here).
_ADVANCE = (update(_CHAINS).where(_CHAINS.c.team_id == bindparam("chain_team"))
            .values(seq=_CHAINS.c.seq + bindparam("reserve"))
            .returning(_CHAINS.c.seq, _CHAINS.c.head_hash))
_SET_HEAD = (update(_CHAINS).where(_CHAINS.c.team_id == bindparam("chain_team"))
             .values(head_hash=bindparam("new_head")))
_NEW_CHAIN = {
    name: ins(_CHAINS).values(team_id=bindparam("chain_team"), seq=0, head_hash=GENESIS)
    .on_conflict_do_nothing(index_elements=["team_id"])
    for name, ins in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


def write_sealed(conn: Connection, rows: list[dict[str, Any]]) -> None:
    by_team: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_team.setdefault(row["team_id"], []).append(row)
    for team in sorted(by_team):  # one lock order for commits touching several workspaces
        batch = by_team[team]
        head, last = _advance(conn, team_id=team, n=len(batch))
        head, last = seal(head, last, batch)
        conn.execute(_INSERT_EVENTS, batch)
        conn.execute(_SET_HEAD, {"chain_team": team, "new_head": head})


def _advance(conn: Connection, *, team_id: str, n: int) -> tuple[str, int]:
    """Reserve `n` numbers on the workspace's chain (locking its head row until commit) and
    return the head they follow."""
    params = {"chain_team": team_id, "reserve": n}
    got = conn.execute(_ADVANCE, params).first()
    if got is None:  # the workspace's first event
        conn.execute(_NEW_CHAIN[conn.dialect.name], {"chain_team": team_id})
        got = conn.execute(_ADVANCE, params).one()
    return str(got.head_hash), int(got.seq) - n


# --- verification ---


@dataclass(frozen=True)
class ChainReport:
    team_id: str
    events: int
    head_hash: str
    broken: Break | None
    at: Any = None  # the broken event's time, when there is one
    kind: str | None = None
    record_ref: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken is None


def chain_head(session: Session, *, team_id: str) -> tuple[str, int]:
    row = session.execute(select(_CHAINS.c.head_hash, _CHAINS.c.seq)
                          .where(_CHAINS.c.team_id == team_id)).first()
    return (str(row.head_hash), int(row.seq)) if row is not None else (GENESIS, 0)


def teams(session: Session) -> list[str]:
    found = set(session.scalars(select(_CHAINS.c.team_id)))
    found.update(session.scalars(select(_EVENTS.c.team_id).distinct()))
    return sorted(found)


def verify(session: Session, *, team_id: str, batch: int = 2000) -> ChainReport:
    """Walk one workspace's chain in number order and report the first broken link. Call it
    on a fresh session: on PostgreSQL it reads one snapshot (REPEATABLE READ), so commits
    landing meanwhile cannot look like a cut chain; SQLite's read transaction is one."""
    if session.get_bind().dialect.name == "postgresql" and not session.in_transaction():
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    walk = ChainWalk()
    broken_row: dict[str, Any] | None = None
    for row in _rows(session, team_id=team_id, batch=batch):
        if not walk.feed(row):
            broken_row = row
            break
    head, seq = chain_head(session, team_id=team_id)
    broken = walk.finish(head, seq)
    return ChainReport(team_id=team_id, events=walk.count, head_hash=walk.head_hash,
                       broken=broken,
                       at=broken_row["at"] if broken_row else None,
                       kind=broken_row["kind"] if broken_row else None,
                       record_ref=broken_row["record_ref"] if broken_row else None)


def _rows(session: Session, *, team_id: str, batch: int) -> Iterator[dict[str, Any]]:
    # Keyset pages in number order: memory stays flat however long the trail is.
    after = 0
    while True:
        page = session.execute(
            select(_EVENTS).where(_EVENTS.c.team_id == team_id, _EVENTS.c.seq > after)
            .order_by(_EVENTS.c.seq).limit(batch)).mappings().all()
        if not page:
            return
        for row in page:
            yield dict(row)
        after = int(page[-1]["seq"])
