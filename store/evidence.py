"""Keyword-only queries that gather the rows of a commissioner's evidence report.

What a report covers (one workspace, a window [start, end) in UTC, optionally one channel):

- **records**: the handoffs and dependencies *created* in the window. Each record belongs to
  exactly one period, the one it was logged in, so consecutive reports never count a record
  twice and a report for a closed period does not change when later records are logged.
  A record logged in the window is followed to the present: everything that happened to it
  after `end` (a late acknowledgement, a page, the outcome) is part of its evidence.
- **trackers**: the pathway trackers *started* (created) in the window, by the same rule,
  with every step they hold (a step added later, such as a funding decision, included) and
  their contact-attempt logs.
- **audit events**: every event of those records, trackers and steps (their full trail,
  whenever it happened), plus the workspace-level events (record_id NULL, such as a
  channel's ladder change) whose time falls in the window. With a channel, a
  workspace-level event is kept only when it names that channel in `field` (as ladder
  changes do).
- **escalations**: the pages that were actually sent for those records, trackers and
  steps: due work of kind "page" with `sent_at` and `message_ts` set. Reminders, deadline
  checks and ack timeouts are not escalations; a page the engine dropped (its record
  resolved first) gets a `sent_at` but no message, so `message_ts` is what tells a page
  that reached Slack.

All the queries share one scope subquery, so they agree with each other; `read_snapshot`
makes them agree with the database at a single moment too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.orm import Session

from store.models import AuditEvent, ContactAttempt, DueWork, Record
from store.queries import CASE_KINDS


@dataclass(frozen=True)
class Evidence:
    records: list[Record]  # handoffs and dependencies
    events: list[AuditEvent]
    escalations: list[DueWork]
    trackers: list[Record] = field(default_factory=list)
    steps: list[Record] = field(default_factory=list)  # of those trackers
    contacts: list[ContactAttempt] = field(default_factory=list)


def read_snapshot(session: Session) -> None:
    """Read every query of the report from one snapshot. Call before the first query.
    SQLite already reads a whole transaction from one snapshot; PostgreSQL's default
    (READ COMMITTED) takes a fresh one per statement, so ask for REPEATABLE READ there."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def _check_window(start: datetime, end: datetime) -> None:
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError("the report window needs timezone-aware datetimes")
    if end <= start:
        raise ValueError("the report window must end after it starts")


def _created_in(kinds: tuple[str, ...], *, team_id: str, start: datetime, end: datetime,
                channel_id: str | None) -> Select[int]:
    _check_window(start, end)
    q = select(Record.id).where(
        Record.team_id == team_id, Record.kind.in_(kinds), Record.created_at >= start,
        Record.created_at < end
    )
    if channel_id is not None:
        q = q.where(Record.channel_id == channel_id)
    return q


def scope_record_ids(
    *, team_id: str, start: datetime, end: datetime, channel_id: str | None = None
) -> Select[int]:
    """The ids of the handoffs and dependencies a report covers, as a subquery."""
    return _created_in(CASE_KINDS, team_id=team_id, start=start, end=end,
                       channel_id=channel_id)


def scope_tracker_ids(
    *, team_id: str, start: datetime, end: datetime, channel_id: str | None = None
) -> Select[int]:
    """The ids of the trackers a report covers (started in the window), as a subquery."""
    return _created_in(("tracker",), team_id=team_id, start=start, end=end,
                       channel_id=channel_id)


def scope_all_ids(
    *, team_id: str, start: datetime, end: datetime, channel_id: str | None = None
) -> Select[int]:
    """The records, the trackers and every step of those trackers: whose events and pages
    the report holds."""
    trackers = scope_tracker_ids(team_id=team_id, start=start, end=end, channel_id=channel_id)
    steps = select(Record.id).where(Record.team_id == team_id, Record.kind == "step",
                                    Record.parent_id.in_(trackers))
    records = scope_record_ids(team_id=team_id, start=start, end=end, channel_id=channel_id)
    return select(Record.id).where(or_(Record.id.in_(records), Record.id.in_(trackers),
                                       Record.id.in_(steps)))


def records_in_scope(
    session: Session, *, team_id: str, start: datetime, end: datetime,
    channel_id: str | None = None,
) -> list[Record]:
    """The records, oldest first, with their partner (joined eagerly by the model)."""
    ids = scope_record_ids(team_id=team_id, start=start, end=end, channel_id=channel_id)
    q = select(Record).where(Record.id.in_(ids)).order_by(Record.created_at, Record.id)
    return list(session.scalars(q))


def events_in_scope(
    session: Session, *, team_id: str, start: datetime, end: datetime,
    channel_id: str | None = None,
) -> list[AuditEvent]:
    """The full trails of the records, trackers and steps, and the window's workspace-level
    events, in write order."""
    ids = scope_all_ids(team_id=team_id, start=start, end=end, channel_id=channel_id)
    workspace = and_(AuditEvent.record_id.is_(None), AuditEvent.team_id == team_id,
                     AuditEvent.at >= start, AuditEvent.at < end)
    if channel_id is not None:
        workspace = and_(workspace, AuditEvent.field == channel_id)
    q = (select(AuditEvent)
         .where(or_(AuditEvent.record_id.in_(ids), workspace))
         .order_by(AuditEvent.id))
    return list(session.scalars(q))


def escalations_in_scope(
    session: Session, *, team_id: str, start: datetime, end: datetime,
    channel_id: str | None = None,
) -> list[DueWork]:
    """Pages that reached Slack for the records, trackers and steps, in the order sent."""
    ids = scope_all_ids(team_id=team_id, start=start, end=end, channel_id=channel_id)
    q = (select(DueWork)
         .where(DueWork.team_id == team_id, DueWork.record_id.in_(ids), DueWork.kind == "page",
                DueWork.sent_at.is_not(None), DueWork.message_ts.is_not(None))
         .order_by(DueWork.sent_at, DueWork.tier, DueWork.id))
    return list(session.scalars(q))


def trackers_in_scope(
    session: Session, *, team_id: str, start: datetime, end: datetime,
    channel_id: str | None = None,
) -> tuple[list[Record], list[Record], list[ContactAttempt]]:
    """The trackers started in the window (oldest first), their steps (by tracker, in step
    order) and their contact attempts (in the order made)."""
    ids = scope_tracker_ids(team_id=team_id, start=start, end=end, channel_id=channel_id)
    trackers = list(session.scalars(select(Record).where(Record.id.in_(ids))
                                    .order_by(Record.created_at, Record.id)))
    steps = list(session.scalars(select(Record).where(
        Record.team_id == team_id, Record.kind == "step", Record.parent_id.in_(ids))
        .order_by(Record.number)))
    contacts = list(session.scalars(select(ContactAttempt).where(
        ContactAttempt.team_id == team_id, ContactAttempt.record_id.in_(ids))
        .order_by(ContactAttempt.at, ContactAttempt.id)))
    return trackers, steps, contacts


def gather(
    session: Session, *, team_id: str, start: datetime, end: datetime,
    channel_id: str | None = None,
) -> Evidence:
    """Everything a report needs, read from one snapshot."""
    read_snapshot(session)
    trackers, steps, contacts = trackers_in_scope(session, team_id=team_id, start=start,
                                                  end=end, channel_id=channel_id)
    return Evidence(
        records=records_in_scope(session, team_id=team_id, start=start, end=end,
                                 channel_id=channel_id),
        events=events_in_scope(session, team_id=team_id, start=start, end=end,
                               channel_id=channel_id),
        escalations=escalations_in_scope(session, team_id=team_id, start=start, end=end,
                                         channel_id=channel_id),
        trackers=trackers, steps=steps, contacts=contacts,
    )
