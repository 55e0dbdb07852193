"""Keyword-only queries. SQL lives here and nowhere else."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Connection,
    CursorResult,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from store import audit
from store.models import (
    AuditEvent,
    ChannelLadder,
    CoordinatorAssignment,
    DueWork,
    HealthProbe,
    Notice,
    PartnerAgency,
    Record,
    ReferenceCounter,
    SystemicPattern,
    table,
)
from store.trackers import TRACKER_OPEN

# Statements built once; each call only binds its parameters.
# Core statements on the session's connection: rows that are never read back in the
# transaction that writes them need none of the ORM's bookkeeping.
_INSERT_WORK = insert(table(DueWork))

_REF = re.compile(r"^\s*([HDT])-?(\d{1,7})(?:\.(\d{1,2}))?\s*$", re.IGNORECASE)
_KIND_OF = {"H": "handoff", "D": "dependency", "T": "tracker"}
CASE_KINDS = ("handoff", "dependency")  # the records that are not trackers or their steps


def parse_reference(text: str) -> tuple[str, int] | None:
    """H-12, D-3, T-7 and a tracker's step T-7.2 (stored as number 702)."""
    m = _REF.match(text)
    if not m:
        return None
    letter = m.group(1).upper()
    if m.group(3) is not None:
        if letter != "T" or not 0 < int(m.group(3)) < 100:
            return None
        return "step", int(m.group(2)) * 100 + int(m.group(3))
    return _KIND_OF[letter], int(m.group(2))


PARTNER_KEY_MAX = 200  # partner_agencies.key


def partner_key(name: str) -> str:
    """Normalised partner name: case, accents, punctuation and spacing do not split a partner."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()
    # NFKD can make one character several ("⒇" is "(20)"): the key keeps to its column.
    return (text or name.strip().lower())[:PARTNER_KEY_MAX]


_NEXT_NUMBER: dict[str, Any] = {}


def _next_number_stmt(dialect: str) -> Any:
    stmt = _NEXT_NUMBER.get(dialect)
    if stmt is None:
        ins: Any = pg_insert if dialect == "postgresql" else sqlite_insert
        counters = table(ReferenceCounter)
        stmt = (
            ins(counters)
            .values(team_id=bindparam("t"), kind=bindparam("k"), last=1)
            .on_conflict_do_update(index_elements=["team_id", "kind"],
                                   set_={"last": counters.c.last + 1})
            .returning(counters.c.last)
        )
        _NEXT_NUMBER[dialect] = stmt
    return stmt


def next_number(session: Session, *, team_id: str, kind: str) -> int:
    """Allocate the next H-n / D-n. The upsert takes a row lock, so two writers never share n.
    Run on the session's connection: a counter needs none of the ORM's bookkeeping."""
    conn = session.connection()
    stmt = _next_number_stmt(conn.dialect.name)
    return int(conn.execute(stmt, {"t": team_id, "k": kind}).scalar_one())


def get_or_create_partner(
    session: Session, *, team_id: str, name: str, now: datetime
) -> PartnerAgency:
    key = partner_key(name)
    found = session.scalar(
        select(PartnerAgency).where(PartnerAgency.team_id == team_id, PartnerAgency.key == key)
    )
    if found is not None:
        return found
    dialect = session.get_bind().dialect.name
    ins: Any = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        ins(PartnerAgency)
        .values(team_id=team_id, key=key, display_name=name.strip(), created_at=now)
        .on_conflict_do_nothing(index_elements=["team_id", "key"])
    )
    return session.scalars(
        select(PartnerAgency).where(PartnerAgency.team_id == team_id, PartnerAgency.key == key)
    ).one()


def find_record(session: Session, *, team_id: str, reference: str) -> Record | None:
    parsed = parse_reference(reference)
    if parsed is None:
        return None
    kind, number = parsed
    return session.scalar(
        select(Record).where(
            Record.team_id == team_id, Record.kind == kind, Record.number == number
        )
    )


def get_record(session: Session, *, team_id: str, record_id: int) -> Record | None:
    return session.scalar(select(Record).where(Record.team_id == team_id, Record.id == record_id))


def record_by_request(session: Session, *, team_id: str, request_key: str) -> Record | None:
    return session.scalar(
        select(Record).where(Record.team_id == team_id, Record.request_key == request_key)
    )


def open_records(
    session: Session,
    *,
    team_id: str,
    statuses: Sequence[str],
    channel_id: str | None = None,
    user_id: str | None = None,
    limit: int = 50,
) -> list[Record]:
    q = select(Record).where(Record.team_id == team_id, Record.status.in_(list(statuses)),
                             Record.kind.in_(CASE_KINDS))
    if channel_id is not None:
        q = q.where(Record.channel_id == channel_id)
    if user_id is not None:
        q = q.where((Record.owner_id == user_id) | (Record.manager_id == user_id))
    return list(session.scalars(q.order_by(Record.due_at, Record.id).limit(limit)))


def partner_names(session: Session, *, team_id: str, limit: int = 5000) -> list[str]:
    """The workspace's partner directory: every partner name Baton has been given."""
    return list(session.scalars(
        select(PartnerAgency.display_name).where(PartnerAgency.team_id == team_id)
        .order_by(PartnerAgency.id).limit(limit)))


def open_record_for(session: Session, *, team_id: str, person_ref: str, partner: str,
                    statuses: Sequence[str]) -> Record | None:
    """The oldest open record for this person reference (case and spacing aside) with this
    partner (its normalised key), or None."""
    return session.scalar(
        select(Record).join(PartnerAgency, PartnerAgency.id == Record.partner_id)
        .where(Record.team_id == team_id, Record.status.in_(list(statuses)),
               func.lower(func.trim(Record.person_ref)) == person_ref.strip().lower(),
               PartnerAgency.key == partner_key(partner))
        .order_by(Record.id).limit(1))


def events_for(session: Session, *, record_id: int) -> list[AuditEvent]:
    return list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.record_id == record_id).order_by(AuditEvent.id)
        )
    )


def add_event(
    session: Session,
    *,
    record: Record | None,
    team_id: str,
    at: datetime,
    actor: str,
    kind: str,
    field: str | None = None,
    before: Any = None,
    after: Any = None,
    note: str | None = None,
) -> None:
    # Queued on the session and written when it commits (store/audit.py), numbered and
    # hash-linked into the workspace's chain. An event is never read back in the
    # transaction that writes it.
    audit.queue(session, {
        "team_id": team_id,
        "record_id": record.id if record is not None else None,
        "record_ref": record.reference if record is not None else None,
        "at": at,
        "actor": actor,
        "kind": kind,
        "field": field,
        "before": before,
        "after": after,
        "note": note,
    })


_SET_CARD = (update(table(Record))
             .where(table(Record).c.id == bindparam("record_id"))
             .values(card_channel=bindparam("channel"), card_ts=bindparam("ts")))


def set_card(conn: Connection, *, record_id: int, channel: str, ts: str) -> None:
    # A plain UPDATE on a Connection, not an ORM change: posting the card must not bump the
    # record version that a concurrent button click is checking against.
    conn.execute(_SET_CARD, {"record_id": record_id, "channel": channel, "ts": ts})


# --- the time engine's due work ---

def add_work(session: Session, *, record: Record, kind: str, due_at: datetime, now: datetime,
             tier: int | None = None, reason: str | None = None) -> None:
    session.connection().execute(_INSERT_WORK, {
        "team_id": record.team_id, "record_id": record.id, "kind": kind, "due_at": due_at,
        "ready_at": due_at, "tier": tier, "reason": reason, "state": "pending", "attempts": 0,
        "created_at": now})


def add_thread_line(session: Session, *, record: Record, channel_id: str, thread_ts: str,
                    text: str, now: datetime, tier: int | None = None,
                    reason: str | None = None) -> None:
    """A line for a thread (a page's, a record card's), sent by the engine like any due
    work: paced per channel, retried on Slack's transient failures. Planned in the
    transaction that records what it tells of, so it is never lost nor sent for nothing."""
    session.connection().execute(_INSERT_WORK, {
        "team_id": record.team_id, "record_id": record.id, "kind": "thread_line",
        "due_at": now, "ready_at": now, "tier": tier, "reason": reason, "state": "pending",
        "attempts": 0, "created_at": now, "channel_id": channel_id, "message_ts": thread_ts,
        "text": text})


def add_works(session: Session, *, record: Record, planned: Sequence[Any],
              now: datetime) -> None:
    """Several due-work rows in one executemany (each item has kind, due_at, tier, reason)."""
    if not planned:
        return
    session.connection().execute(_INSERT_WORK, [{
        "team_id": record.team_id, "record_id": record.id, "kind": p.kind, "due_at": p.due_at,
        "ready_at": p.due_at, "tier": p.tier, "reason": p.reason, "state": "pending",
        "attempts": 0, "created_at": now} for p in planned])


def cancel_work(session: Session, *, record_id: int, kinds: Sequence[str] | None = None,
                reason: str | None = None) -> int:
    """Stop everything still due for a record (or only some kinds). Claimed rows are
    cancelled too: the engine re-reads its claim right before sending and drops it; and
    suspended ones, so a reinstall brings back nothing of a finished record. Without
    `kinds`, thread lines still go: they tell of what already happened."""
    q = (update(DueWork)
         .where(DueWork.record_id == record_id,
                DueWork.state.in_(("pending", "claimed", "suspended")))
         .values(state="cancelled")
         .execution_options(synchronize_session=False))
    if kinds is not None:
        q = q.where(DueWork.kind.in_(list(kinds)))
    else:
        q = q.where(DueWork.kind != "thread_line")
    if reason is not None:
        q = q.where(DueWork.reason == reason)
    return cast("CursorResult[Any]", session.execute(q)).rowcount or 0


def has_pending_work(session: Session, *, record_id: int, kinds: Sequence[str]) -> bool:
    """Whether any of these kinds of work is still to be sent for the record."""
    return session.scalar(
        select(DueWork.id).where(DueWork.record_id == record_id,
                                 DueWork.kind.in_(list(kinds)),
                                 DueWork.state.in_(("pending", "claimed", "suspended")))
        .limit(1)) is not None


def raise_escalation_tier(session: Session, *, record_id: int, tier: int) -> None:
    # A plain UPDATE: the engine must not bump the version a person's click checks against.
    session.execute(
        update(Record).where(Record.id == record_id,
                             (Record.escalation_tier.is_(None)) | (Record.escalation_tier < tier))
        .values(escalation_tier=tier).execution_options(synchronize_session=False))


def claim_due(session: Session, *, now: datetime, worker: str, lease_until: datetime,
              limit: int) -> list[DueWork]:
    """Claim up to `limit` due items, oldest first. On PostgreSQL the rows are locked with
    SKIP LOCKED, so engines sharing the database never claim the same item."""
    dialect = session.get_bind().dialect.name
    ready = (DueWork.state == "pending") & (DueWork.ready_at <= now)
    expired = (DueWork.state == "claimed") & (DueWork.claimed_until <= now)
    ids: list[int] = []
    for condition in (ready, expired):
        q = (select(DueWork.id).where(condition)
             .order_by(DueWork.due_at, DueWork.tier, DueWork.id).limit(limit - len(ids)))
        if dialect == "postgresql":
            q = q.with_for_update(skip_locked=True)
        ids += list(session.scalars(q))
        if len(ids) >= limit:
            break
    if not ids:
        return []
    session.execute(
        update(DueWork).where(DueWork.id.in_(ids))
        .values(state="claimed", claimed_by=worker, claimed_until=lease_until)
        .execution_options(synchronize_session=False)
    )
    rows = list(session.scalars(select(DueWork).where(DueWork.id.in_(ids))
                                .execution_options(populate_existing=True)))
    return sorted(rows, key=lambda w: (w.due_at, w.tier or 0, w.id))


def next_ready_at(session: Session) -> datetime | None:
    return session.scalar(select(DueWork.ready_at).where(DueWork.state == "pending")
                          .order_by(DueWork.ready_at).limit(1))


def next_ready_after(session: Session, *, after: datetime) -> datetime | None:
    """The first moment strictly after `after` at which pending due work becomes ready
    (the console steps its clock from one such moment to the next)."""
    return session.scalar(select(DueWork.ready_at)
                          .where(DueWork.state == "pending", DueWork.ready_at > after)
                          .order_by(DueWork.ready_at).limit(1))


def get_work(session: Session, *, work_id: int, team_id: str | None = None) -> DueWork | None:
    q = select(DueWork).where(DueWork.id == work_id)
    if team_id is not None:
        q = q.where(DueWork.team_id == team_id)
    return session.scalar(q)


def work_in_message(session: Session, *, channel_id: str, message_ts: str) -> list[DueWork]:
    """The pages in one message (not the thread lines planned under it)."""
    return list(session.scalars(
        select(DueWork).where(DueWork.channel_id == channel_id, DueWork.message_ts == message_ts,
                              DueWork.kind == "page")
        .order_by(DueWork.id)))


# --- a workspace Slack no longer lets Baton into (token revoked, app uninstalled) ---

def suspend_team_work(session: Session, *, team_id: str, reason: str, now: datetime,
                      actor: str = "baton") -> int:
    """Hold everything still due in a workspace Baton cannot reach (its token revoked, the
    app uninstalled, the workspace deactivated): state "suspended" with `reason` as the
    last error, until resume_team_work. Claimed rows are taken too (an engine re-reads its
    claim before sending). One audit event per record whose work this suspends; a second
    call while it is suspended changes nothing and writes nothing. Returns how many rows."""
    rows = list(session.scalars(
        select(DueWork).where(DueWork.team_id == team_id,
                              DueWork.state.in_(("pending", "claimed")))
        .order_by(DueWork.record_id, DueWork.id)))
    if not rows:
        return 0
    by_record: dict[int, int] = {}
    for w in rows:
        w.state, w.claimed_by, w.claimed_until = "suspended", None, None
        w.last_error = reason[:200]
        by_record[w.record_id] = by_record.get(w.record_id, 0) + 1
    records = records_by_ids(session, ids=list(by_record))
    for record_id, count in by_record.items():
        add_event(session, record=records.get(record_id), team_id=team_id, at=now, actor=actor,
                  kind="work_suspended", after=count,
                  note=f"Slack refused Baton in this workspace ({reason}): reminders and pages "
                       "held until the app is reinstalled")
    return len(rows)


def resume_team_work(session: Session, *, team_id: str, now: datetime,
                     actor: str = "baton") -> int:
    """The workspace can be reached again (the app reinstalled, a new token): its
    suspended work is pending again and ready now, so what fell due meanwhile goes out
    at once, tier by tier, marked late. One audit event per record. Returns how many."""
    rows = list(session.scalars(
        select(DueWork).where(DueWork.team_id == team_id, DueWork.state == "suspended")
        .order_by(DueWork.record_id, DueWork.id)))
    by_record: dict[int, int] = {}
    for w in rows:
        w.state, w.ready_at = "pending", min(w.ready_at, now)
        by_record[w.record_id] = by_record.get(w.record_id, 0) + 1
    records = records_by_ids(session, ids=list(by_record))
    for record_id, count in by_record.items():
        add_event(session, record=records.get(record_id), team_id=team_id, at=now, actor=actor,
                  kind="work_resumed", after=count,
                  note="Slack lets Baton in again: held reminders and pages resumed")
    return len(rows)


def suspended_teams(session: Session) -> list[str]:
    return sorted(session.scalars(select(DueWork.team_id).where(DueWork.state == "suspended")
                                  .distinct()))


def first_page(session: Session, *, record_id: int) -> DueWork | None:
    return session.scalar(
        select(DueWork).where(DueWork.record_id == record_id, DueWork.kind == "page",
                              DueWork.message_ts.is_not(None))
        .order_by(DueWork.sent_at, DueWork.id).limit(1))


def page_messages(session: Session, *, record_id: int) -> list[tuple[str, str]]:
    """Every message a page of the record went out in, (channel, ts), oldest first."""
    rows = session.execute(
        select(DueWork.channel_id, DueWork.message_ts)
        .where(DueWork.record_id == record_id, DueWork.kind == "page",
               DueWork.message_ts.is_not(None), DueWork.channel_id.is_not(None))
        .order_by(DueWork.id))
    out: list[tuple[str, str]] = []
    for channel, ts in rows:
        if channel and ts and (channel, ts) not in out:
            out.append((str(channel), str(ts)))
    return out


def latest_page(session: Session, *, record_id: int) -> DueWork | None:
    return session.scalar(
        select(DueWork).where(DueWork.record_id == record_id, DueWork.kind == "page",
                              DueWork.state == "done")
        .order_by(DueWork.tier.desc(), DueWork.id.desc()).limit(1))


_CHANNEL_LADDER = select(table(ChannelLadder).c.ladder_name).where(
    table(ChannelLadder).c.team_id == bindparam("t"),
    table(ChannelLadder).c.channel_id == bindparam("c"))


def channel_ladder(session: Session, *, team_id: str, channel_id: str) -> str | None:
    return session.connection().execute(_CHANNEL_LADDER, {"t": team_id, "c": channel_id}) \
        .scalar_one_or_none()


def set_channel_ladder(session: Session, *, team_id: str, channel_id: str, name: str | None,
                       actor: str, now: datetime) -> None:
    row = session.get(ChannelLadder, (team_id, channel_id))
    if name is None:
        if row is not None:
            session.delete(row)
        return
    if row is None:
        session.add(ChannelLadder(team_id=team_id, channel_id=channel_id, ladder_name=name,
                                  set_by=actor, set_at=now))
    else:
        row.ladder_name, row.set_by, row.set_at = name, actor, now


def works_by_ids(session: Session, *, ids: Sequence[int]) -> dict[int, DueWork]:
    if not ids:
        return {}
    return {w.id: w for w in session.scalars(select(DueWork).where(DueWork.id.in_(list(ids))))}


def claimed_by(session: Session, *, ids: Sequence[int], worker: str,
               lock: bool = False) -> dict[int, DueWork]:
    """Those of `ids` still claimed by `worker`: not cancelled a moment ago by an
    acknowledgement or resolution, nor taken over after an expired lease. With `lock`, the
    rows stay locked (PostgreSQL) until the caller's transaction ends, so a cancel cannot
    slip in between this check and the caller's write."""
    if not ids:
        return {}
    q = select(DueWork).where(DueWork.id.in_(list(ids)), DueWork.state == "claimed",
                              DueWork.claimed_by == worker)
    if lock and session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    return {w.id: w for w in session.scalars(q)}


def records_by_ids(session: Session, *, ids: Sequence[int],
                   lock: bool = False) -> dict[int, Record]:
    """With `lock` (PostgreSQL), the rows are locked in id order until the transaction ends.

    Lock order, everywhere: a record before its due work, and the audit chain head last. A
    person's click updates the record and then cancels its due work; the engine, which
    starts from due work it claimed, locks the records first for that reason (the other way
    round, the two deadlock)."""
    if not ids:
        return {}
    q = select(Record).where(Record.id.in_(set(ids)))
    if lock and session.get_bind().dialect.name == "postgresql":
        q = q.order_by(Record.id).with_for_update(of=Record)  # not its joined partner
    return {r.id: r for r in session.scalars(q)}


# --- coordinator of the day, notices, the huddle roster ---

def add_assignment(session: Session, *, team_id: str, user_id: str, kind: str, set_by: str,
                   set_at: datetime, weekday: int | None = None, date_from: date | None = None,
                   date_to: date | None = None) -> CoordinatorAssignment:
    row = CoordinatorAssignment(team_id=team_id, user_id=user_id, kind=kind, weekday=weekday,
                                date_from=date_from, date_to=date_to, set_by=set_by,
                                set_at=set_at)
    session.add(row)
    return row


def assignments(session: Session, *, team_id: str) -> list[CoordinatorAssignment]:
    return list(session.scalars(select(CoordinatorAssignment)
                                .where(CoordinatorAssignment.team_id == team_id)
                                .order_by(CoordinatorAssignment.id)))


def known_teams(session: Session) -> list[str]:
    """Workspaces with records or a rota (reference_counters has a row per workspace and
    kind, so this never scans the records)."""
    teams = set(session.scalars(select(ReferenceCounter.team_id).distinct()))
    teams |= set(session.scalars(select(CoordinatorAssignment.team_id).distinct()))
    return sorted(teams)


def claim_notice(session: Session, *, team_id: str, kind: str, key: str, now: datetime,
                 retry_after: timedelta) -> bool:
    """Claim a message that must go out once. True when this caller should send it: the row
    is new, or an earlier claim never recorded a send and is older than `retry_after`."""
    dialect = session.get_bind().dialect.name
    ins: Any = pg_insert if dialect == "postgresql" else sqlite_insert
    notices = table(Notice)
    inserted = session.connection().execute(
        ins(notices).values(team_id=team_id, kind=kind, key=key, claimed_at=now)
        .on_conflict_do_nothing(index_elements=["team_id", "kind", "key"])
        .returning(notices.c.key)).first()  # rowcount is not reliable here across drivers
    if inserted is not None:
        return True
    retaken = session.connection().execute(
        update(notices).where(notices.c.team_id == team_id, notices.c.kind == kind,
                            notices.c.key == key, notices.c.sent_at.is_(None),
                            notices.c.claimed_at <= now - retry_after)
        .values(claimed_at=now)).rowcount
    return bool(retaken)


def notice_sent(session: Session, *, team_id: str, kind: str, key: str, now: datetime,
                channel_id: str | None = None, message_ts: str | None = None) -> None:
    notices = table(Notice)
    session.connection().execute(
        update(notices).where(notices.c.team_id == team_id, notices.c.kind == kind,
                            notices.c.key == key)
        .values(sent_at=now, channel_id=channel_id, message_ts=message_ts))


def release_notice(session: Session, *, team_id: str, kind: str, key: str) -> None:
    """A send failed: let the next sweep try again at once."""
    notices = table(Notice)
    session.connection().execute(
        delete(notices).where(notices.c.team_id == team_id, notices.c.kind == kind,
                            notices.c.key == key, notices.c.sent_at.is_(None)))


def unacknowledged_pages(session: Session, *, record_ids: Sequence[int]) -> set[int]:
    """Of `record_ids`, those whose latest sent page nobody has acknowledged."""
    if not record_ids:
        return set()
    latest: dict[int, DueWork] = {}
    for w in session.scalars(
            select(DueWork).where(DueWork.record_id.in_(list(record_ids)),
                                  DueWork.kind == "page", DueWork.state == "done",
                                  DueWork.sent_at.is_not(None))
            .order_by(DueWork.sent_at, DueWork.id)):
        latest[w.record_id] = w
    return {rid for rid, w in latest.items() if w.acked_at is None}


def open_channels(session: Session, *, team_id: str, statuses: Sequence[str]) -> list[str]:
    """Channels with an open handoff or dependency (`statuses`) or an open tracker. Read by
    kind: a step's "open" or "blocked" is not a record's status, and a step whose tracker
    has ended names no channel by itself."""
    case = (Record.kind.in_(CASE_KINDS)) & Record.status.in_(list(statuses))
    tracker = (Record.kind == "tracker") & Record.status.in_(TRACKER_OPEN)
    return sorted(session.scalars(
        select(Record.channel_id).where(Record.team_id == team_id, case | tracker)
        .distinct()))


def touch_health_probe(s: Session, *, now: datetime, by: str) -> None:
    """Rewrite /healthz's one row (inserted the first time): a real write, so a database
    that takes reads but no writes fails here. On PostgreSQL it gives up after 2 s rather
    than hold a health check behind a lock."""
    dialect = s.get_bind().dialect.name
    if dialect == "postgresql":
        s.execute(text("SET LOCAL statement_timeout = 2000"))
    ins = (pg_insert if dialect == "postgresql" else sqlite_insert)(HealthProbe)
    s.execute(ins.values(id=1, probed_at=now, probed_by=by[:64])
              .on_conflict_do_update(index_elements=["id"],
                                     set_={"probed_at": now, "probed_by": by[:64]}))


# --- what an earlier session left behind (`baton console` continuing a database) ---

def last_event_at(session: Session, *, team_id: str) -> datetime | None:
    """When the workspace's latest audit event happened; None when it has none."""
    return session.scalar(select(func.max(AuditEvent.at, type_=AuditEvent.at.type))
                          .where(AuditEvent.team_id == team_id))


def posted_messages(session: Session, *, team_id: str) -> list[tuple[str, str, str]]:
    """Every message Baton posted and may edit again, (channel, ts, what it is), each once:
    record cards ("H-1's card"), pages ("the tier 1 page"), notices it keeps up to date (a
    huddle roster) and systemic-pattern notices (what: ""). Only those whose channel and ts
    were stored."""
    out: dict[tuple[str, str], str] = {}
    for kind, number, channel, ts in session.execute(
            select(Record.kind, Record.number, Record.card_channel, Record.card_ts)
            .where(Record.team_id == team_id, Record.card_ts.is_not(None),
                   Record.kind != "step")):  # a step's card is its tracker's
        prefix = {"handoff": "H", "tracker": "T"}.get(kind, "D")
        out.setdefault((str(channel), str(ts)), f"{prefix}-{number}'s card")
    for tier, channel, ts in session.execute(
            select(DueWork.tier, DueWork.channel_id, DueWork.message_ts)
            .where(DueWork.team_id == team_id, DueWork.kind == "page",
                   DueWork.message_ts.is_not(None))):
        out.setdefault((str(channel), str(ts)), f"the tier {tier} page" if tier else "the page")
    for q in (select(Notice.channel_id, Notice.message_ts).where(Notice.team_id == team_id),
              select(SystemicPattern.channel_id, SystemicPattern.message_ts).where(
                  SystemicPattern.team_id == team_id)):
        for channel, ts in session.execute(q):
            if channel and ts:
                out.setdefault((str(channel), str(ts)), "")
    return [(channel, ts, what) for (channel, ts), what in out.items()
            if channel not in ("", "None")]
