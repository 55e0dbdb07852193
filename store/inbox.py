"""Queries on received_requests: Slack requests answered 200 whose work is unfinished."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from store.models import ReceivedRequest


def add_request(session: Session, *, team_id: str | None, body: str, content_type: str | None,
                worker: str, now: datetime) -> int:
    row = ReceivedRequest(team_id=team_id, body=body, content_type=content_type,
                          received_at=now, taken_by=worker, attempts=1, state="taken")
    session.add(row)
    session.flush()
    return row.id


def remove_requests(session: Session, *, ids: Sequence[int]) -> None:
    session.execute(delete(ReceivedRequest).where(ReceivedRequest.id.in_(list(ids))))


def unfinished(session: Session, *, not_by: str, limit: int = 100
               ) -> list[tuple[int, str, datetime]]:
    """Requests being done by other processes (id, who, received at), oldest first."""
    rows = session.execute(
        select(ReceivedRequest.id, ReceivedRequest.taken_by, ReceivedRequest.received_at)
        .where(ReceivedRequest.state == "taken", ReceivedRequest.taken_by != not_by)
        .order_by(ReceivedRequest.received_at).limit(limit))
    return [(int(i), str(w), at) for i, w, at in rows]


def take_request(session: Session, *, request_id: int, from_worker: str,
                 worker: str) -> ReceivedRequest | None:
    """Take over a request from `from_worker`, if nobody did meanwhile (compare and set)."""
    taken = session.execute(
        update(ReceivedRequest)
        .where(ReceivedRequest.id == request_id, ReceivedRequest.taken_by == from_worker,
               ReceivedRequest.state == "taken")
        .values(taken_by=worker, attempts=ReceivedRequest.attempts + 1)
        .execution_options(synchronize_session=False))
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return session.get(ReceivedRequest, request_id, populate_existing=True)


def abandon_request(session: Session, *, request_id: int) -> None:
    session.execute(update(ReceivedRequest).where(ReceivedRequest.id == request_id)
                    .values(state="abandoned").execution_options(synchronize_session=False))
