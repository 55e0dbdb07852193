"""Keyword-only queries for partner trends and systemic-pattern notices. They hand out the
domain's plain facts (bot.domain.trends), never live rows, except for the pattern rows the
governance service changes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, func, or_, select, update
from sqlalchemy.orm import Session

from bot.domain.trends import PageFact, RecordFact, RouteKey, route_key
from store.models import AuditEvent, DueWork, PartnerAgency, Record, SystemicPattern
from store.queries import partner_key

# Statuses still waiting on someone (a handoff or a dependency).
OPEN = ("pending", "acknowledged", "responded", "overdue", "open")


def _facts(session: Session, where: Sequence[Any], *,
           responses: bool = True) -> list[RecordFact]:
    q = (select(Record.id, Record.kind, Record.number, Record.person_ref, Record.partner_id,
                PartnerAgency.display_name, Record.route, Record.status, Record.created_at,
                Record.due_at, Record.acknowledged_at, Record.closed_at)
         .join(PartnerAgency, PartnerAgency.id == Record.partner_id)
         .where(*where)
         .order_by(Record.due_at, Record.id))
    rows = list(session.execute(q))
    responded = first_responses(session, record_ids=[r.id for r in rows]) if responses else {}
    return [RecordFact(id=r.id, reference=f"{'H' if r.kind == 'handoff' else 'D'}-{r.number}",
                       kind=r.kind, person_ref=r.person_ref, partner_id=r.partner_id,
                       partner=r.display_name, route=(r.route or "").strip(), status=r.status,
                       created_at=r.created_at, due_at=r.due_at,
                       acknowledged_at=r.acknowledged_at, responded_at=responded.get(r.id),
                       closed_at=r.closed_at)
            for r in rows]


def first_responses(session: Session, *, record_ids: Sequence[int]) -> dict[int, datetime]:
    """When each record's first partner response was recorded (its "responded" event)."""
    out: dict[int, datetime] = {}
    ids = sorted(set(record_ids))
    for i in range(0, len(ids), 1000):  # IN lists stay a sane size
        q = (select(AuditEvent.record_id, func.min(AuditEvent.at))
             .where(AuditEvent.record_id.in_(ids[i : i + 1000]),
                    AuditEvent.kind == "responded")
             .group_by(AuditEvent.record_id))
        out.update({int(rid): at for rid, at in session.execute(q) if rid is not None})
    return out


def record_facts(session: Session, *, team_id: str, since: datetime,
                 partner_id: int | None = None) -> list[RecordFact]:
    """Every record a window starting at `since` can count: created, due, acknowledged or
    closed since then, or still open (an old record may still be stalling)."""
    where: list[Any] = [Record.team_id == team_id, or_(
        Record.due_at > since, Record.created_at > since, Record.acknowledged_at > since,
        Record.closed_at > since, Record.status.in_(OPEN))]
    if partner_id is not None:
        where.append(Record.partner_id == partner_id)
    return _facts(session, where)


def missed_acknowledgement_facts(session: Session, *, team_id: str, since: datetime,
                                 until: datetime) -> list[RecordFact]:
    """Handoffs whose response deadline fell in (since, until] with no acknowledgement by
    then: the candidates for a systemic pattern (the domain decides which are misses)."""
    return _facts(session, [
        Record.team_id == team_id, Record.kind == "handoff",
        Record.due_at > since, Record.due_at <= until,
        or_(Record.acknowledged_at.is_(None), Record.acknowledged_at > Record.due_at)],
        responses=False)


def page_facts(session: Session, *, team_id: str, since: datetime,
               partner_id: int | None = None) -> list[PageFact]:
    """Pages sent (a page with a message) since `since`, with their tier."""
    sent = func.coalesce(DueWork.sent_at, DueWork.due_at)
    q = (select(DueWork.record_id, DueWork.tier, sent.label("sent"))
         .where(DueWork.team_id == team_id, DueWork.kind == "page",
                DueWork.message_ts.is_not(None), sent > since))
    if partner_id is not None:
        q = q.join(Record, Record.id == DueWork.record_id).where(Record.partner_id == partner_id)
    return [PageFact(record_id=r.record_id, tier=r.tier or 1, sent_at=r.sent)
            for r in session.execute(q)]


# --- partners ---

def find_partner(session: Session, *, team_id: str, name: str) -> PartnerAgency | None:
    """The partner with this name (normalised as when it was recorded)."""
    return session.scalar(select(PartnerAgency).where(PartnerAgency.team_id == team_id,
                                                      PartnerAgency.key == partner_key(name)))


def partners_matching(session: Session, *, team_id: str, name: str,
                      limit: int = 10) -> list[PartnerAgency]:
    """Partners whose normalised name contains this one's (“northside” finds Northside Home
    Care), by name."""
    key = partner_key(name).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return list(session.scalars(
        select(PartnerAgency)
        .where(PartnerAgency.team_id == team_id,
               PartnerAgency.key.like(f"%{key}%", escape="\\"))
        .order_by(PartnerAgency.key).limit(limit)))


def partner_names(session: Session, *, team_id: str, limit: int = 5) -> list[str]:
    """Some known partners, those with the most records first."""
    q = (select(PartnerAgency.display_name)
         .join(Record, Record.partner_id == PartnerAgency.id)
         .where(PartnerAgency.team_id == team_id)
         .group_by(PartnerAgency.id, PartnerAgency.display_name)
         .order_by(func.count(Record.id).desc(), PartnerAgency.display_name).limit(limit))
    return list(session.scalars(q))


def lock_partner(session: Session, *, partner_id: int) -> None:
    """Serialise pattern detection for one partner across replicas (PostgreSQL): FOR NO KEY
    UPDATE, so records referencing the partner can still be written meanwhile. SQLite has
    one writer at a time already."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(select(PartnerAgency.id).where(PartnerAgency.id == partner_id)
                    .with_for_update(key_share=True))


# --- systemic patterns ---

def last_detections(session: Session, *, team_id: str,
                    partner_id: int | None = None) -> dict[RouteKey, datetime]:
    """The latest systemic-pattern detection time of each route."""
    q = (select(SystemicPattern.partner_id, SystemicPattern.route,
                func.max(SystemicPattern.detected_at))
         .where(SystemicPattern.team_id == team_id)
         .group_by(SystemicPattern.partner_id, SystemicPattern.route))
    if partner_id is not None:
        q = q.where(SystemicPattern.partner_id == partner_id)
    out: dict[RouteKey, datetime] = {}
    for pid, route, detected in session.execute(q):
        key = (pid, route_key(route))
        if key not in out or detected > out[key]:
            out[key] = detected
    return out


def add_pattern(session: Session, **values: Any) -> SystemicPattern:
    pattern = SystemicPattern(**values)
    session.add(pattern)
    session.flush()
    return pattern


def get_pattern(session: Session, *, pattern_id: int,
                team_id: str | None = None) -> SystemicPattern | None:
    q = select(SystemicPattern).where(SystemicPattern.id == pattern_id)
    if team_id is not None:
        q = q.where(SystemicPattern.team_id == team_id)
    return session.scalar(q)


def patterns_for_partner(session: Session, *, team_id: str, partner_id: int,
                         limit: int = 5) -> list[SystemicPattern]:
    return list(session.scalars(
        select(SystemicPattern)
        .where(SystemicPattern.team_id == team_id, SystemicPattern.partner_id == partner_id)
        .order_by(SystemicPattern.detected_at.desc(), SystemicPattern.id.desc()).limit(limit)))


def unposted_patterns(session: Session, *, team_id: str) -> list[int]:
    """Notices claimed but not yet in their channel (the post failed or was interrupted)."""
    return list(session.scalars(
        select(SystemicPattern.id)
        .where(SystemicPattern.team_id == team_id, SystemicPattern.channel_id.is_not(None),
               SystemicPattern.message_ts.is_(None))
        .order_by(SystemicPattern.id)))


def pattern_to_post(session: Session, *, pattern_id: int) -> SystemicPattern | None:
    """The pattern, if its notice still needs posting. On PostgreSQL the row stays locked
    (SKIP LOCKED) until the caller's transaction ends, so two replicas never both post it."""
    q = select(SystemicPattern).where(SystemicPattern.id == pattern_id,
                                      SystemicPattern.channel_id.is_not(None),
                                      SystemicPattern.message_ts.is_(None))
    if session.get_bind().dialect.name == "postgresql":
        q = q.with_for_update(skip_locked=True, of=SystemicPattern)
    return session.scalar(q)


def classify_pattern(session: Session, *, pattern_id: int, classification: str,
                     corrective_route: str | None, owner_id: str, review_due: datetime,
                     classified_by: str, classified_at: datetime,
                     evidence: Any | None = None) -> bool:
    """Record the classification unless one is there already (two directors pressing at
    once: one wins). True when this call recorded it."""
    values: dict[str, Any] = dict(
        classification=classification, corrective_route=corrective_route, owner_id=owner_id,
        review_due=review_due, classified_by=classified_by, classified_at=classified_at)
    if evidence is not None:
        values["evidence"] = evidence
    result = cast(CursorResult[Any], session.execute(
        update(SystemicPattern)
        .where(SystemicPattern.id == pattern_id, SystemicPattern.classification.is_(None))
        .values(**values).execution_options(synchronize_session=False)))
    return (result.rowcount or 0) == 1
