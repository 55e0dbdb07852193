"""Queries for pathway trackers and their steps (records of kind "tracker" and "step";
bot/domain/trackers.py has the rules). Keyword-only, like store/queries.py."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, or_, select, update
from sqlalchemy.orm import Session

from store.models import ContactAttempt, Record, table

TRACKER_OPEN = ("open", "proceeded")  # a proceeded transition still has steps to finish
STEP_OPEN = ("open", "blocked")


def get_tracker(session: Session, *, team_id: str, number: int) -> Record | None:
    return session.scalar(select(Record).where(
        Record.team_id == team_id, Record.kind == "tracker", Record.number == number))


def steps_of(session: Session, *, tracker_id: int) -> list[Record]:
    return list(session.scalars(select(Record).where(Record.parent_id == tracker_id,
                                                     Record.kind == "step")
                                .order_by(Record.number)))


def steps_of_many(session: Session, *, tracker_ids: Sequence[int]) -> dict[int, list[Record]]:
    out: dict[int, list[Record]] = {t: [] for t in tracker_ids}
    if not tracker_ids:
        return out
    for step in session.scalars(select(Record).where(
            Record.parent_id.in_(list(tracker_ids)), Record.kind == "step")
            .order_by(Record.number)):
        out[step.parent_id or 0].append(step)
    return out


def set_tracker_card(conn: Connection, *, tracker_id: int, channel: str, ts: str) -> None:
    """The tracker's card is its steps' card too: their thread lines go into its thread.
    A plain UPDATE, not an ORM change (see queries.set_card)."""
    records = table(Record)
    conn.execute(update(records).where(or_(records.c.id == tracker_id,
                                           records.c.parent_id == tracker_id))
                 .values(card_channel=channel, card_ts=ts))


def open_trackers(session: Session, *, team_id: str, person_ref: str | None = None,
                  channel_id: str | None = None, limit: int = 50) -> list[Record]:
    q = select(Record).where(Record.team_id == team_id, Record.kind == "tracker",
                             Record.status.in_(TRACKER_OPEN))
    if person_ref is not None:
        q = q.where(Record.person_ref == person_ref)
    if channel_id is not None:
        q = q.where(Record.channel_id == channel_id)
    return list(session.scalars(q.order_by(Record.due_at, Record.id).limit(limit)))


def open_for_person(session: Session, *, team_id: str, person_ref: str,
                    statuses: Sequence[str], limit: int = 100) -> list[Record]:
    """Every open handoff and dependency for one person (their reference, as stored)."""
    return list(session.scalars(select(Record).where(
        Record.team_id == team_id, Record.person_ref == person_ref,
        Record.kind.in_(("handoff", "dependency")), Record.status.in_(list(statuses)))
        .order_by(Record.due_at, Record.id).limit(limit)))


def steps_due(session: Session, *, team_id: str, before: datetime,
              channel_id: str | None = None, user_id: str | None = None,
              limit: int = 200) -> list[Record]:
    """Open steps of open trackers due before `before` (overdue, or due today): for the
    huddle, the digest and the App Home."""
    tracker = select(Record.id).where(Record.team_id == team_id, Record.kind == "tracker",
                                      Record.status.in_(TRACKER_OPEN))
    q = select(Record).where(Record.team_id == team_id, Record.kind == "step",
                             Record.status.in_(STEP_OPEN), Record.due_at < before,
                             Record.parent_id.in_(tracker.scalar_subquery()))
    if channel_id is not None:
        q = q.where(Record.channel_id == channel_id)
    if user_id is not None:
        q = q.where(Record.owner_id == user_id)
    return list(session.scalars(q.order_by(Record.due_at, Record.id).limit(limit)))


def add_contact(session: Session, *, team_id: str, record_id: int, at: datetime, actor: str,
                outcome: str, note: str | None) -> ContactAttempt:
    row = ContactAttempt(team_id=team_id, record_id=record_id, at=at, actor=actor,
                         outcome=outcome, note=note)
    session.add(row)
    return row


def contacts_of(session: Session, *, record_ids: Sequence[int]) -> list[ContactAttempt]:
    if not record_ids:
        return []
    return list(session.scalars(select(ContactAttempt).where(
        ContactAttempt.record_id.in_(list(record_ids)))
        .order_by(ContactAttempt.at, ContactAttempt.id)))


def trackers_between(session: Session, *, team_id: str, since: datetime,
                     until: datetime) -> list[Record]:
    """Trackers started in [since, until): the report's."""
    return list(session.scalars(select(Record).where(
        Record.team_id == team_id, Record.kind == "tracker", Record.created_at >= since,
        Record.created_at < until).order_by(Record.created_at, Record.id)))
