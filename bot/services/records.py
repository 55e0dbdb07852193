"""Use cases: create, acknowledge, respond, resolve, cancel. One transaction each.

Services take a session factory and a clock; they know nothing of Slack. Every change
writes its audit events in the same transaction as the change, so an error leaves
nothing half-written, and returns a Change: the record, and the facts of what happened
(a ThreadEvent), which bot/slack/blocks/records.change_line puts into words.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, make_transient_to_detached, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from bot.clock import Clock
from bot.domain.drafts import DependencyDraft, HandoffDraft
from bot.domain.edits import (
    ATTRIBUTE,
    Edits,
    FieldChange,
    audit_field,
    check_result,
    current_values,
    diff,
    pulled_forward_review,
)
from bot.domain.ladder import LadderConfig, snapshot_ladder
from bot.domain.permissions import Act
from bot.domain.quoting import quoted
from bot.domain.records import (
    OPEN_STATUSES,
    Action,
    DependencyStatus,
    DomainError,
    HandoffStatus,
    RecordKind,
    ResponseCategory,
    Risk,
    is_open,
    transition,
)
from bot.domain.schedule import Planned, initial_work
from bot.services.guard import Findings
from bot.services.permissions import Permissions
from store import queries
from store.db import core_transaction, lost_a_race, transaction
from store.models import AuditEvent, Dependency, Handoff, PartnerAgency, Record


class NotFound(DomainError):
    pass


class TryAgain(DomainError):
    """The database is unavailable or the record changed under us; nothing was saved."""


class Happened(StrEnum):
    """What a change to a record was, as the card's thread is told it."""

    LOGGED = "logged"
    ACKNOWLEDGED = "acknowledged"  # the partner confirmed receipt
    RESPONDED = "responded"  # the partner's response (acknowledging first when need be)
    RESOLVED = "resolved"  # a dependency's outcome
    CLOSED = "closed"  # a handoff's outcome
    CANCELLED = "cancelled"
    INTERIM_ACTION = "interim_action"
    NEXT_ACTION = "next_action"
    PAGE_ACKNOWLEDGED = "page_acknowledged"
    EDITED = "edited"  # fields changed (/baton edit, the card's Edit form)


@dataclass(frozen=True)
class ThreadEvent:
    """The facts of one change, for the one line added to the card's thread. Text is as
    typed: bot/slack/blocks/records.change_line renders (and escapes) it."""

    what: Happened
    actor: str
    text: str | None = None  # the outcome, reason, response, interim or next action
    category: ResponseCategory | None = None  # a partner response's category
    late: bool = False  # acknowledged after the response deadline
    implied_ack: bool = False  # the response also recorded the acknowledgement
    owner: str | None = None  # who holds the next action
    due: datetime | None = None  # when the next action is due
    tier: int | None = None  # the escalation tier acknowledged
    review_moved: bool = False  # the interim action moved the next review
    changes: tuple[FieldChange, ...] = ()  # an edit's (or a re-rating's) fields, before/after


@dataclass(frozen=True)
class Change:
    """A record as a use case left it, and what its card's thread is to be told."""

    record: Record
    event: ThreadEvent | None = None  # what the card's thread is told; None: nothing
    created: bool = False
    next_due: datetime | None = None  # the soonest work this change scheduled
    page_at: tuple[str | None, str | None] | None = None  # a page message to refresh
    # Told to the person with the confirmation: how a typed time was read (drafts' notes).
    notes: tuple[str, ...] = ()


CHANGED_MEANWHILE = ("Someone changed that record at the same moment; nothing was saved. "
                     "Look at the card and try again.")
# The one wording of an outage, wherever a person meets it (handlers.common says it too).
DATABASE_DOWN = ("The database is not answering right now; nothing was saved. "
                 "Try again in a minute.")


@contextmanager
def use_case_transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One use case's transaction: a change made meanwhile (a version check, a lost race)
    or a database that does not answer is TryAgain with the words a person is told, and
    nothing was saved."""
    try:
        with transaction(sessions) as session:
            yield session
    except StaleDataError:
        raise TryAgain(CHANGED_MEANWHILE) from None
    except OperationalError as exc:
        if lost_a_race(exc):
            raise TryAgain(CHANGED_MEANWHILE) from None
        raise TryAgain(DATABASE_DOWN) from None


class RecordService:
    def __init__(self, session_factory: sessionmaker[Session], clock: Clock,
                 ladders: LadderConfig | None = None, *,
                 permissions: Permissions | None = None) -> None:
        self._sessions = session_factory
        self._clock = clock
        self._ladders = ladders or LadderConfig()
        self._partners: dict[tuple[str, str], tuple[int, str, str]] = {}
        self._permissions = permissions  # None: nobody is refused (tests of the rules alone)

    def require_on_record(self, *, team_id: str, ref: str | int, actor: str) -> Record:
        """The record, if `actor` may change it; else Refused (audited), nothing changed."""
        with self._sessions() as s:
            record = self._load(s, team_id=team_id, ref=ref)
        if self._permissions is not None:
            self._permissions.require(Act.ACT_ON_RECORD, team_id=team_id, actor=actor,
                                      record=record, channel_id=record.channel_id)
        return record

    def precheck(self, *, team_id: str, ref: str | int, actor: str, action: Action) -> Record:
        """Refuse now what `action` would be refused (permission, lifecycle), so that a
        warning is never asked about a change that cannot be made; nothing changed."""
        record = self.require_on_record(team_id=team_id, ref=ref, actor=actor)
        if action is Action.RESPOND:
            self._require_kind(record, RecordKind.HANDOFF, "given a partner response")
        else:
            transition(RecordKind(record.kind), record.reference, record.status, action)
        return record

    def _tx(self) -> AbstractContextManager[Session]:
        return use_case_transaction(self._sessions)

    # --- creating ---

    def create_handoff(
        self, *, team_id: str, channel_id: str, actor: str, draft: HandoffDraft,
        request_key: str | None, tz: str = "UTC", overrides: Findings | None = None,
    ) -> Change:
        return self._create(
            Handoff, team_id=team_id, channel_id=channel_id, actor=actor,
            request_key=request_key, tz=tz, partner=draft.receiving_service,
            overrides=overrides,
            fields={
                "person_ref": draft.person_ref,
                "receiving_contact": draft.receiving_contact,
                "due_at": draft.response_deadline,
                "owner_id": draft.owner_id,
                "route": draft.route,
                "risk": draft.risk.value if draft.risk else None,
                "note": draft.note,
                "status": HandoffStatus.PENDING,
            },
        )

    def create_dependency(
        self, *, team_id: str, channel_id: str, actor: str, draft: DependencyDraft,
        request_key: str | None, tz: str = "UTC", overrides: Findings | None = None,
    ) -> Change:
        return self._create(
            Dependency, team_id=team_id, channel_id=channel_id, actor=actor,
            request_key=request_key, tz=tz, partner=draft.partner, overrides=overrides,
            fields={
                "person_ref": draft.person_ref,
                "missing_action": draft.missing_action,
                "risk": draft.risk.value,
                "interim_safeguard": draft.interim_safeguard,
                "safeguard_until": draft.safeguard_until,
                "route": draft.route,
                "due_at": draft.next_review_at,
                "manager_id": draft.manager_id,
                "owner_id": draft.owner_id,
                "status": DependencyStatus.OPEN,
            },
        )

    def _create(
        self, model: type[Handoff] | type[Dependency], *, team_id: str, channel_id: str,
        actor: str, request_key: str | None, tz: str, partner: str, fields: dict[str, Any],
        overrides: Findings | None = None,
    ) -> Change:
        now = self._clock.now()
        kind = RecordKind.HANDOFF if model is Handoff else RecordKind.DEPENDENCY
        try:
            with self._tx() as s:
                # No look-up first: a retried request trips the unique request key below and
                # is answered with the record it already made.
                partner_id, partner_row = self._partner(s, team_id=team_id, name=partner, now=now)
                # The record keeps the ladder it started with; later edits don't reshuffle it.
                # Read before the reference number is taken: the counter row stays locked
                # until the commit, so everything that can come first does.
                chosen = queries.channel_ladder(s, team_id=team_id, channel_id=channel_id)
                risk = fields.get("risk")
                ladder = self._ladders.for_record(Risk(risk) if risk else None,
                                                  channel_ladder=chosen)
                record = model(
                    team_id=team_id,
                    number=queries.next_number(s, team_id=team_id, kind=kind),
                    partner_id=partner_id,
                    channel_id=channel_id, created_by=actor, created_at=now, updated_at=now,
                    request_key=request_key, **fields,
                )
                record.ladder = ladder.to_json()
                record.tz = tz
                s.add(record)
                s.flush()
                set_committed_value(record, "partner", partner_row)
                queries.add_event(
                    s, record=record, team_id=team_id, at=now, actor=actor, kind="created",
                    after=snapshot(record),
                )
                if overrides:
                    audit_overrides(s, record=record, actor=actor, at=now, found=overrides)
                # Every deadline goes into the database in the same transaction as the record.
                plan = initial_work(kind=RecordKind(record.kind), due_at=record.due_at,
                                    now=now, ladder=ladder, tz=ZoneInfo(tz),
                                    safeguard_until=record.safeguard_until)
                queries.add_works(s, record=record, planned=plan, now=now)
                if record.risk == Risk.SAME_DAY and kind is RecordKind.DEPENDENCY:
                    # The coordinator of the day hears of every new same-day risk at once.
                    queries.add_work(s, record=record, kind="nudge", due_at=now, now=now,
                                     reason="same_day")
                learned = s.info.pop("baton_partner", None)
            if learned is not None:
                self._remember(*learned)
        except IntegrityError:
            if request_key:
                existing = self.by_request(team_id=team_id, request_key=request_key)
                if existing is not None:
                    return Change(existing, created=False)
            raise
        soonest = min(p.due_at for p in plan)
        if record.risk == Risk.SAME_DAY and kind is RecordKind.DEPENDENCY:
            soonest = now  # the coordinator's nudge
        return Change(record, ThreadEvent(Happened.LOGGED, actor), created=True,
                      next_due=soonest)

    def _partner(self, s: Session, *, team_id: str, name: str,
                 now: datetime) -> tuple[int, PartnerAgency]:
        """The partner's row id and a detached copy for rendering. Partner rows are never
        changed or deleted, so one process can remember them instead of asking every time."""
        key = (team_id, queries.partner_key(name))
        known = self._partners.get(key)
        if known is None:
            row = queries.get_or_create_partner(s, team_id=team_id, name=name, now=now)
            known = (row.id, row.key, row.display_name)
            # Remembered only once the transaction commits (see _create): a rolled-back
            # insert must not leave an id behind that no row has.
            s.info["baton_partner"] = (key, known)
        copy = PartnerAgency(id=known[0], team_id=team_id, key=known[1], display_name=known[2])
        make_transient_to_detached(copy)
        return known[0], copy

    def _remember(self, key: tuple[str, str], known: tuple[int, str, str]) -> None:
        if len(self._partners) > 10_000:
            self._partners.clear()
        self._partners[key] = known

    # --- reading ---

    def by_request(self, *, team_id: str, request_key: str) -> Record | None:
        with self._tx() as s:
            return queries.record_by_request(s, team_id=team_id, request_key=request_key)

    def get(self, *, team_id: str, ref: str | int) -> Record:
        with self._tx() as s:
            return self._load(s, team_id=team_id, ref=ref)

    def history(self, *, team_id: str, ref: str) -> tuple[Record, list[AuditEvent]]:
        with self._tx() as s:
            record = self._load(s, team_id=team_id, ref=ref)
            return record, queries.events_for(s, record_id=record.id)

    def open_in_channel(self, *, team_id: str, channel_id: str, limit: int = 30) -> list[Record]:
        with self._tx() as s:
            return queries.open_records(
                s, team_id=team_id, statuses=sorted(OPEN_STATUSES), channel_id=channel_id,
                limit=limit,
            )

    def open_for_user(self, *, team_id: str, user_id: str, limit: int = 30) -> list[Record]:
        with self._tx() as s:
            return queries.open_records(
                s, team_id=team_id, statuses=sorted(OPEN_STATUSES), user_id=user_id, limit=limit
            )

    def set_card(self, *, record_id: int, channel: str, ts: str) -> None:
        try:
            with core_transaction(self._sessions) as conn:
                queries.set_card(conn, record_id=record_id, channel=channel, ts=ts)
        except OperationalError:
            # The record is saved and its card posted: only the card's place was not kept.
            raise TryAgain("The database is not answering right now; try again in a "
                           "minute.") from None

    @staticmethod
    def _load(s: Session, *, team_id: str, ref: str | int) -> Record:
        if isinstance(ref, int):
            record = queries.get_record(s, team_id=team_id, record_id=ref)
        else:
            if queries.parse_reference(ref) is None:
                raise NotFound(
                    f"{quoted(ref, 20)} is not a record reference: they look like H-12 or D-3."
                )
            record = queries.find_record(s, team_id=team_id, reference=ref)
        if record is None:
            raise NotFound(f"No record {str(ref).upper()} in this workspace. `/baton list` shows "
                           "this channel's open records.")
        return record

    # --- changing ---

    def acknowledge(self, *, team_id: str, ref: str | int, actor: str) -> Change:
        """The partner confirmed receipt of the handoff."""
        self.require_on_record(team_id=team_id, ref=ref, actor=actor)
        now = self._clock.now()
        with self._tx() as s:
            record = self._load(s, team_id=team_id, ref=ref)
            self._require_kind(record, RecordKind.HANDOFF, "acknowledged by a partner")
            late = record.status == HandoffStatus.OVERDUE or now > record.due_at
            self._move(s, record, Action.ACKNOWLEDGE, actor=actor, now=now,
                       note="late: after the response deadline" if late else None)
            record.acknowledged_at = now
            record.acknowledged_by = actor
            queries.add_event(s, record=record, team_id=team_id, at=now, actor=actor,
                              kind="acknowledged", after={"acknowledged_at": now.isoformat()},
                              note="late" if late else None)
        return Change(record, ThreadEvent(Happened.ACKNOWLEDGED, actor, late=late))

    def respond(
        self, *, team_id: str, ref: str | int, actor: str, category: ResponseCategory,
        text: str | None, overrides: Findings | None = None,
    ) -> Change:
        text = " ".join((text or "").split()) or None
        if category.needs_text and not text:
            raise DomainError(
                f"“{category.label}” needs its text: the {category.text_label.lower()}.",
                field="text",
            )
        self.require_on_record(team_id=team_id, ref=ref, actor=actor)
        now = self._clock.now()
        implied = False
        with self._tx() as s:
            record = self._load(s, team_id=team_id, ref=ref)
            self._require_kind(record, RecordKind.HANDOFF, "given a partner response")
            if record.status in (HandoffStatus.PENDING, HandoffStatus.OVERDUE):
                # A response implies receipt: record the acknowledgement first, in order.
                self._move(s, record, Action.ACKNOWLEDGE, actor=actor, now=now,
                           note="implied by the partner's response")
                record.acknowledged_at = now
                record.acknowledged_by = actor
                queries.add_event(s, record=record, team_id=team_id, at=now, actor=actor,
                                  kind="acknowledged", note="implied by the partner's response")
                implied = True
            before = {"category": record.response_category, "text": record.response_text}
            self._move(s, record, Action.RESPOND, actor=actor, now=now)
            record.response_category = category.value
            record.response_text = text
            queries.add_event(s, record=record, team_id=team_id, at=now, actor=actor,
                              kind="responded", field="response", before=before,
                              after={"category": category.value, "text": text})
            if overrides:
                audit_overrides(s, record=record, actor=actor, at=now, found=overrides)
        return Change(record, ThreadEvent(Happened.RESPONDED, actor, text=text,
                                          category=category, implied_ack=implied))

    def resolve(self, *, team_id: str, ref: str | int, actor: str, outcome: str,
                overrides: Findings | None = None) -> Change:
        outcome = " ".join(outcome.split())
        if not outcome:
            raise DomainError("Say what the outcome was, e.g. `/baton resolve D-3 authorization "
                              "signed, service starts Monday`.", field="outcome")
        self.require_on_record(team_id=team_id, ref=ref, actor=actor)
        now = self._clock.now()
        with self._tx() as s:
            record = self._load(s, team_id=team_id, ref=ref)
            self._move(s, record, Action.RESOLVE, actor=actor, now=now)
            record.outcome = outcome
            record.closed_at = now
            kind = "resolved" if record.kind == RecordKind.DEPENDENCY else "closed"
            queries.add_event(s, record=record, team_id=team_id, at=now, actor=actor,
                              kind=kind, field="outcome", after=outcome)
            if overrides:
                audit_overrides(s, record=record, actor=actor, at=now, found=overrides)
        what = Happened.RESOLVED if record.kind == RecordKind.DEPENDENCY else Happened.CLOSED
        return Change(record, ThreadEvent(what, actor, text=outcome))

    def cancel(self, *, team_id: str, ref: str | int, actor: str, reason: str,
               overrides: Findings | None = None) -> Change:
        reason = " ".join(reason.split())
        if not reason:
            raise DomainError("Cancelling needs a reason, e.g. `/baton cancel H-3 referral "
                              "withdrawn by case manager`.", field="reason")
        self.require_on_record(team_id=team_id, ref=ref, actor=actor)
        now = self._clock.now()
        with self._tx() as s:
            record = self._load(s, team_id=team_id, ref=ref)
            self._move(s, record, Action.CANCEL, actor=actor, now=now)
            record.cancel_reason = reason
            record.closed_at = now
            queries.add_event(s, record=record, team_id=team_id, at=now, actor=actor,
                              kind="cancelled", field="cancel_reason", after=reason)
            if overrides:
                audit_overrides(s, record=record, actor=actor, at=now, found=overrides)
        return Change(record, ThreadEvent(Happened.CANCELLED, actor, text=reason))

    # --- editing ---

    def apply_edit(self, *, team_id: str, ref: str | int, actor: str, edits: Edits,
                   owner_tz: str | None = None, overrides: Findings | None = None) -> Change:
        """The one way a record's fields change after logging (`/baton edit` and the card's
        Edit form both come here, with the changes already read: bot/domain/edits.py).
        Refused (audited) unless `actor` may change the record; refused for a record no
        longer open; the record as the edit leaves it must pass logging's rules. Writes one
        `field_changed` audit event per changed field (before and after) and reschedules
        the deadline's due work when a deadline moves. Nothing changed: Change with no
        event, nothing written. `owner_tz`: the new owner's zone, when the owner changes."""
        self.require_on_record(team_id=team_id, ref=ref, actor=actor)
        now = self._clock.now()
        with self._tx() as s:
            record = self._load(s, team_id=team_id, ref=ref)
            kind = RecordKind(record.kind)
            if kind is not edits.kind:
                raise DomainError(f"{record.reference} is a {record.kind}; those fields are a "
                                  f"{edits.kind.value}'s.")
            transition(kind, record.reference, record.status, Action.EDIT)
            current = current_values(kind, record)
            changes = diff(current, edits)
            if not changes:
                return Change(record)
            sooner = pulled_forward_review(kind, current, changes, now)
            if sooner is not None:  # re-rated same-day: reviewed within two hours
                changes.append(sooner)
            keys = {c.key for c in changes}
            if keys & {"due", "review"} and record.status == HandoffStatus.OVERDUE:
                raise DomainError(
                    f"{record.reference} already missed its response deadline and is being "
                    "escalated; a missed deadline stays missed. When the partner answers, "
                    "record “Partner acknowledged”; to start again, cancel it with a reason "
                    "and log a new handoff.", field="due")
            check_result(kind, {**current, **{c.key: c.after for c in changes}})
            nudged = write_changes(s, record, changes, actor=actor, now=now, note="edited")
            if overrides:  # "Post anyway" after the name guard's warning, audited with it
                audit_overrides(s, record=record, actor=actor, at=now, found=overrides)
            if "owner" in keys and owner_tz:
                record.tz = owner_tz  # reminders' offsets follow the owner's zone
            soonest = self._reschedule(s, record, keys, now=now)
            if nudged:
                soonest = now
        return Change(record, ThreadEvent(Happened.EDITED, actor, changes=tuple(changes)),
                      next_due=soonest)

    @staticmethod
    def _reschedule(s: Session, record: Record, keys: set[str], *,
                    now: datetime) -> datetime | None:
        """Replace the due work of a deadline the edit moved: the old reminders, deadline
        and any climb of pages for it are cancelled, and the record's own ladder (the one
        it started with) plans the new ones. The soonest new work, if any."""
        kind = RecordKind(record.kind)
        planned: list[Planned] = []
        ladder = snapshot_ladder(record.ladder) if record.ladder is not None else None
        tz = ZoneInfo(record.tz or "UTC")
        climbs: list[str] = []
        if keys & {"due", "review"}:
            reason = "overdue" if kind is RecordKind.HANDOFF else "review"
            climbs.append(reason)
            queries.cancel_work(s, record_id=record.id, kinds=("reminder",))
            queries.cancel_work(s, record_id=record.id, kinds=("deadline",), reason=reason)
            # A handoff's deadline is met once the partner acknowledged: nothing to plan.
            live = (record.status == HandoffStatus.PENDING if kind is RecordKind.HANDOFF
                    else is_open(record.status))
            if live and ladder is not None:
                planned += initial_work(kind=kind, due_at=record.due_at, now=now,
                                        ladder=ladder, tz=tz)
        if "until" in keys:  # the safeguard's intended end moved (or went)
            climbs.append("safeguard")
            queries.cancel_work(s, record_id=record.id, kinds=("deadline",), reason="safeguard")
            if record.safeguard_until is not None and record.interim_safeguard:
                planned.append(Planned("deadline", record.safeguard_until, reason="safeguard"))
        if not climbs:
            return None
        for reason in climbs:
            queries.cancel_work(s, record_id=record.id, kinds=("page", "ack_timeout"),
                                reason=reason)
        if not queries.has_pending_work(s, record_id=record.id, kinds=("page", "ack_timeout")):
            # No climb left: the next page starts again at tier 1 (and may be acknowledged).
            queries.cancel_work(s, record_id=record.id, kinds=("nudge",), reason="page")
            record.escalation_tier = None
        queries.add_works(s, record=record, planned=planned, now=now)
        return min((p.due_at for p in planned), default=None)

    @staticmethod
    def _require_kind(record: Record, kind: RecordKind, what: str) -> None:
        if record.kind != kind:
            raise DomainError(f"{record.reference} is a {record.kind}; only a handoff can be "
                              f"{what}.")

    @staticmethod
    def _move(
        s: Session, record: Record, action: Action, *, actor: str, now: datetime,
        note: str | None = None,
    ) -> None:
        before = record.status
        record.status = transition(RecordKind(record.kind), record.reference, before, action)
        record.updated_at = now
        if action is not Action.MARK_OVERDUE:
            # A partner acknowledgement (even late), a response, a resolution or a
            # cancellation stops every reminder and page still due for the record.
            queries.cancel_work(s, record_id=record.id)
        queries.add_event(s, record=record, team_id=record.team_id, at=now, actor=actor,
                          kind="status_changed", field="status", before=before,
                          after=record.status, note=note)


def audit_overrides(s: Session, *, record: Record, actor: str, at: datetime,
                    found: Findings) -> None:
    """The person's "post anyway" after a warning, in the record's audit trail. A likely name
    is recorded by the fields it was in, never by the words: the trail goes to
    commissioners, and the words may be a person's name (the text itself is in the record,
    where the person chose to put it)."""
    if found.names:
        queries.add_event(s, record=record, team_id=record.team_id, at=at, actor=actor,
                          kind="name_warning_overridden", field=",".join(sorted(found.names)),
                          after={"fields": sorted(found.names)})
    if found.duplicate:
        queries.add_event(s, record=record, team_id=record.team_id, at=at, actor=actor,
                          kind="duplicate_warning_overridden", field="person_ref",
                          after={"open_record": found.duplicate.reference})


_SNAPSHOT_FIELDS = (
    "person_ref", "route", "risk", "status", "due_at", "owner_id", "channel_id",
    "receiving_contact", "note", "missing_action", "interim_safeguard", "safeguard_until",
    "manager_id", "tz",
)


def write_changes(s: Session, record: Record, changes: Sequence[FieldChange], *, actor: str,
                  now: datetime, note: str) -> bool:
    """Set each changed field and write its `field_changed` audit event (before, after). A
    dependency re-rated same-day also nudges the coordinator of the day at once, as a new
    one does: True when it did."""
    kind = RecordKind(record.kind)
    for c in changes:
        setattr(record, ATTRIBUTE[c.key], _stored(c.after))
        queries.add_event(s, record=record, team_id=record.team_id, at=now, actor=actor,
                          kind="field_changed", field=audit_field(kind, c.key),
                          before=_audited(c.before), after=_audited(c.after), note=note)
    record.updated_at = now
    if (kind is RecordKind.DEPENDENCY and any(c.key == "risk" for c in changes)
            and record.risk == Risk.SAME_DAY):
        queries.add_work(s, record=record, kind="nudge", due_at=now, now=now,
                         reason="same_day")
        return True
    return False


def _stored(value: Any) -> Any:
    """A new value as the record's column holds it (a risk by its value)."""
    return value.value if isinstance(value, Risk) else value


def _audited(value: Any) -> Any:
    """A value as an audit event keeps it (times as ISO text, as the report reads them)."""
    if isinstance(value, datetime):
        return value.isoformat()
    return _stored(value)


def snapshot(record: Record) -> dict[str, Any]:
    out: dict[str, Any] = {"reference": record.reference, "kind": record.kind,
                           "partner": record.partner.display_name}
    for name in _SNAPSHOT_FIELDS:
        value = getattr(record, name)
        if value is None:
            continue
        out[name] = value.isoformat() if hasattr(value, "isoformat") else value
    return out
