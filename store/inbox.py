"""Queries on received_requests: Slack requests answered 200 whose work is unfinished (the
inbox, bot/web/inbox.py).
Core statements on a Connection: these run on every request, where the ORM's unit of work
would be pure overhead."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, Table, delete, insert, select, update
from sqlalchemy.orm import Session

from store.models import ReceivedRequest

_T: Table = ReceivedRequest.__table__  # type: ignore[assignment]  # a Table, typed FromClause


def add_requests(conn: Connection, *,
                 requests: Sequence[tuple[str | None, str, str | None, str, str]],
                 worker: str, now: datetime) -> list[int]:
    """Insert (team, body, content type, signature, its timestamp) rows; their ids, in the
    order given."""
    if not requests:
        return []
    rows = [{"team_id": team, "body": body, "content_type": ctype, "signature": sig,
             "signed_at": stamp, "received_at": now, "taken_by": worker, "taken_at": now,
             "attempts": 1, "state": "taken"}
            for team, body, ctype, sig, stamp in requests]
    return [int(i) for i in conn.execute(
        insert(_T).returning(_T.c.id, sort_by_parameter_order=True), rows).scalars()]


def remove_requests(conn: Connection, *, ids: Sequence[int]) -> None:
    conn.execute(delete(_T).where(_T.c.id.in_(list(ids))))


def unfinished(session: Session, *, not_by: str, limit: int = 100
               ) -> list[tuple[int, str, datetime, datetime]]:
    """Requests being done by other processes (id, who, received at, taken at), those least
    recently renewed first."""
    rows = session.execute(
        select(ReceivedRequest.id, ReceivedRequest.taken_by, ReceivedRequest.received_at,
               ReceivedRequest.taken_at)
        .where(ReceivedRequest.state == "taken", ReceivedRequest.taken_by != not_by)
        .order_by(ReceivedRequest.taken_at).limit(limit))
    return [(int(i), str(w), at, taken) for i, w, at, taken in rows]


def renew_requests(conn: Connection, *, worker: str, now: datetime) -> None:
    """A live process's lease on the requests it is doing: renewed each sweep."""
    conn.execute(update(_T).where(_T.c.taken_by == worker, _T.c.state == "taken")
                 .values(taken_at=now))


def take_request(session: Session, *, request_id: int, from_worker: str, worker: str,
                 now: datetime) -> ReceivedRequest | None:
    """Take over a request from `from_worker`, if nobody did meanwhile (compare and set)."""
    taken = session.execute(
        update(ReceivedRequest)
        .where(ReceivedRequest.id == request_id, ReceivedRequest.taken_by == from_worker,
               ReceivedRequest.state == "taken")
        .values(taken_by=worker, taken_at=now, attempts=ReceivedRequest.attempts + 1)
        .execution_options(synchronize_session=False))
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.get(ReceivedRequest, request_id, populate_existing=True)


def abandon_request(session: Session, *, request_id: int) -> None:
    session.execute(update(ReceivedRequest).where(ReceivedRequest.id == request_id)
                    .values(state="abandoned").execution_options(synchronize_session=False))
