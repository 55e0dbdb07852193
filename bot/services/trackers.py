"""Use cases of pathway trackers: start one from a template, change a step, proceed, log a
contact attempt, record a decision, change a field, and one person's open picture.

Trackers and steps are records (kinds "tracker" and "step"), so the time engine reminds and
pages a step past due exactly as it does a record, acknowledgement works the same, and every
change lands in the audit chain in the same transaction. One transaction each; nothing of
Slack here (bot/slack/blocks/trackers.py renders, handlers/trackers.py listens).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.domain.ladder import Ladder, LadderConfig, Tier, shift, snapshot_ladder
from bot.domain.permissions import Act
from bot.domain.quoting import quoted
from bot.domain.records import OPEN_STATUSES, DomainError, RecordKind
from bot.domain.schedule import Planned, initial_work
from bot.domain.tracker_config import TemplateConfig
from bot.domain.trackers import (
    DECISION_TEXT,
    FUNDING_DECISIONS,
    IMPACT_PARTS,
    PlannedStep,
    StepStatus,
    StepView,
    Template,
    TrackerStatus,
    check_proceed,
    decision_label,
    find_step,
    period_of,
    plan_steps,
    read_decision,
    step_number,
    step_transition,
    summarise,
)
from bot.services.permissions import Permissions
from bot.services.records import NotFound, TryAgain, use_case_transaction
from store import queries
from store import trackers as tq
from store.db import core_transaction
from store.models import ContactAttempt, Record, Step, Tracker

FUNDING_STEP = "funding-decision"
# What schedule.initial_work plans for a dependency's review: reminders, then a deadline
# (its reason set by the caller): a step's and a provisional package's plan too.
REMINDERS_THEN_DEADLINE = RecordKind.DEPENDENCY
BATON = "baton"  # the actor of what the engine does by itself


class TrackerHappened(StrEnum):
    STARTED = "started"
    STEP = "step"  # a step's status changed
    PROCEEDED = "proceeded"
    CONTACT = "contact"
    DECIDED = "decided"  # the provisional package's decision
    FUNDING_DECIDED = "funding_decided"
    FUNDING_ESCALATED = "funding_escalated"  # the funding start differs from the move date
    IMPACT = "impact"  # the impact statement recorded
    FIELD = "field"  # a tracker field changed
    CLOSED = "closed"  # a sprint's end, by the engine
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class TrackerEvent:
    """One change, for the one line in the tracker card's thread."""

    what: TrackerHappened
    actor: str
    step: Record | None = None
    status: str | None = None
    before: str | None = None
    text: str | None = None
    late: bool = False


@dataclass
class TrackerView:
    """A tracker as it stands: the record, its steps in order, its contact log."""

    tracker: Record
    steps: list[Record]
    contacts: list[ContactAttempt] = field(default_factory=list)

    @property
    def reference(self) -> str:
        return self.tracker.reference

    def views(self) -> list[StepView]:
        return [StepView(s.step_key or "", s.title or "", s.status, s.gate, s.due_at,
                         s.closed_at, s.decision) for s in self.steps]


@dataclass(frozen=True)
class TrackerChange:
    view: TrackerView
    event: TrackerEvent | None = None
    created: bool = False
    next_due: datetime | None = None
    page_at: tuple[str | None, str | None] | None = None  # a page message to refresh
    pages: tuple[tuple[str, str], ...] = ()  # more page messages to show as they now stand


@dataclass(frozen=True)
class PersonPicture:
    """Everything open for one person: handoffs, dependencies, trackers with their steps."""

    person_ref: str
    records: list[Record]
    trackers: list[TrackerView]


def values_text(details: Any) -> dict[str, str]:
    return dict((details or {}).get("values", {}))


class TrackerService:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock,
                 templates: TemplateConfig, ladders: LadderConfig | None = None, *,
                 permissions: Permissions | None = None) -> None:
        self._sessions = sessions
        self._clock = clock
        self.templates = templates
        self._ladders = ladders or LadderConfig()
        self._permissions = permissions  # None: nobody is refused (tests of the rules)

    def _tx(self) -> AbstractContextManager[Session]:
        return use_case_transaction(self._sessions)

    def template(self, name: str) -> Template:
        t = self.templates.get(name)
        if t is None:
            raise DomainError(f"There is no tracker template {quoted(name, 30)}. Templates: "
                              f"{', '.join(sorted(self.templates.templates))}.",
                              field="template")
        return t

    # --- starting ---

    def missing(self, template: Template, values: dict[str, str],
                times: dict[str, datetime]) -> list[str]:
        """The required fields not given (the form asks for them)."""
        return [f.key for f in template.fields if f.required
                and not (values.get(f.key) or "").strip() and f.key not in times]

    def start(self, *, team_id: str, channel_id: str, actor: str, template: str,
              person_ref: str, anchor: datetime, owner_id: str, values: dict[str, str],
              times: dict[str, datetime], tz: str = "UTC", period: timedelta | None = None,
              request_key: str | None = None) -> TrackerChange:
        """A tracker and its steps, every deadline in the database in the same transaction.
        `values`: the template's fields as typed (yes-no as "yes"/"no"); `times`: its time
        fields read."""
        tpl = self.template(template)
        lacking = self.missing(tpl, values, times)
        if lacking:
            raise DomainError(f"A {tpl.name} tracker needs {', '.join(f'`{k}:`' for k in lacking)}"
                              ".", field=lacking[0])
        for f in tpl.fields:
            v = values.get(f.key)
            if v and f.kind == "yes-no" and v.lower() not in ("yes", "no"):
                raise DomainError(f"`{f.key}:` is yes or no{_got(v)}.", field=f.key)
            if v and f.kind == "choice" and v not in f.choices:
                raise DomainError(f"`{f.key}:` is one of {', '.join(f.choices)}{_got(v)}.",
                                  field=f.key)
        length = period_of(tpl, period)
        now = self._clock.now()
        zone = ZoneInfo(tz)
        planned = plan_steps(tpl, anchor=anchor, tz=zone, values=values, times=times)
        if self._permissions is not None:
            self._permissions.require(Act.CREATE, team_id=team_id, actor=actor,
                                      channel_id=channel_id)
        try:
            with self._tx() as s:
                chosen = queries.channel_ladder(s, team_id=team_id, channel_id=channel_id)
                ladder = (self._ladders.ladders.get(tpl.ladder) if tpl.ladder else None) or \
                    self._ladders.for_record(None, channel_ladder=chosen)
                end = _end_of(tpl, anchor, length, zone, planned)
                details: dict[str, Any] = {"values": {k: v for k, v in values.items() if v},
                           "times": {k: t.isoformat() for k, t in times.items()}}
                if length:
                    details["period_days"] = length / timedelta(days=1)
                urgent = bool(tpl.urgent_field and values.get(tpl.urgent_field, "").lower()
                              == "yes")
                tracker = Tracker(
                    team_id=team_id, number=queries.next_number(s, team_id=team_id,
                                                                kind="tracker"),
                    person_ref=person_ref, status=TrackerStatus.OPEN.value, due_at=end,
                    owner_id=owner_id, channel_id=channel_id, created_by=actor,
                    created_at=now, updated_at=now, request_key=request_key,
                    template=tpl.name, title=tpl.title, anchor_at=anchor, details=details,
                    tz=tz, gate=False)
                tracker.ladder = (_urgent_ladder(tpl) if urgent else ladder).to_json()
                s.add(tracker)
                s.flush()
                queries.add_event(s, record=tracker, team_id=team_id, at=now, actor=actor,
                                  kind="created", after={
                                      "template": tpl.name, "person_ref": person_ref,
                                      "anchor_at": anchor.isoformat(), "owner_id": owner_id,
                                      "details": details})
                soonest: list[datetime] = []
                for p in planned:
                    owner = (p.template.owner[2:-1] if p.template.owner.startswith("<@")
                             else owner_id)
                    step = self._add_step(s, tracker, number=step_number(tracker.number,
                                                                         p.position),
                                          key=p.template.key, name=p.template.name,
                                          agency=p.template.agency, gate=p.gate,
                                          group=p.template.group, due=p.due_at, owner=owner,
                                          ladder=ladder, now=now, actor=actor)
                    soonest += self._plan_step(s, step, ladder, now=now)
                soonest += _plan_tracker(s, tracker, tpl, ladder, end=end, now=now)
                if urgent:
                    # Immediate risk routes at once to every urgent target, paged together.
                    queries.add_work(s, record=tracker, kind="page", due_at=now, now=now,
                                     tier=1, reason="urgent")
                    queries.add_event(s, record=tracker, team_id=team_id, at=now, actor=BATON,
                                      kind="urgent_planned", note="immediate risk: "
                                      + ", ".join(t.wire() for t in tpl.urgent))
                    soonest.append(now)
                if tpl.mismatch_field and tpl.mismatch_field in times:
                    soonest += self._check_mismatch(s, tracker, tpl, times[tpl.mismatch_field],
                                                    now=now, actor=actor)
                steps = tq.steps_of(s, tracker_id=tracker.id)
                view = TrackerView(tracker, steps)
        except IntegrityError:
            if request_key:
                existing = self._by_request(team_id=team_id, request_key=request_key)
                if existing is not None:
                    return TrackerChange(existing, created=False)
            raise
        return TrackerChange(view, TrackerEvent(TrackerHappened.STARTED, actor), created=True,
                             next_due=min(soonest) if soonest else None)

    def _add_step(self, s: Session, tracker: Record, *, number: int, key: str, name: str,
                  agency: str, gate: bool, group: str, due: datetime, owner: str,
                  ladder: Ladder, now: datetime, actor: str, details: Any = None) -> Record:
        step = Step(team_id=tracker.team_id, number=number, person_ref=tracker.person_ref,
                    status=StepStatus.OPEN.value, due_at=due, owner_id=owner,
                    channel_id=tracker.channel_id, created_by=actor, created_at=now,
                    updated_at=now, parent_id=tracker.id, template=tracker.template,
                    title=name, step_key=key, agency=agency, gate=gate,
                    step_group=group or None, tz=tracker.tz, details=details,
                    card_channel=tracker.card_channel, card_ts=tracker.card_ts)
        step.ladder = ladder.to_json()
        s.add(step)
        s.flush()
        return step

    @staticmethod
    def _plan_step(s: Session, step: Record, ladder: Ladder, *, now: datetime) -> list[datetime]:
        """Reminders before the step's due time (those still ahead) and its deadline. A
        step already past due when it is planned (a tracker started for what happened this
        morning, a reopened step) falls due now, and its ladder counts from now: not every
        tier at once, as a catch-up after downtime would."""
        plan = [Planned(p.kind, max(p.due_at, now),
                        reason="step" if p.kind == "deadline" else None)
                for p in initial_work(kind=REMINDERS_THEN_DEADLINE, due_at=step.due_at, now=now,
                                      ladder=ladder, tz=ZoneInfo(step.tz or "UTC"))]
        queries.add_works(s, record=step, planned=plan, now=now)
        return [p.due_at for p in plan]

    def _check_mismatch(self, s: Session, tracker: Record, tpl: Template, when: datetime, *,
                        now: datetime, actor: str) -> list[datetime]:
        """A funding start whose date is not the move date opens the commissioner
        escalation: a gate step for the decision (one per tracker), paged at once to
        `escalate_to`. A new date while it is pending changes what the decision is about
        (the page and card say the new gap); one matching the move date means no decision
        is needed any more; one after a decision asks for a new decision on the new date."""
        zone = ZoneInfo(tracker.tz or "UTC")
        anchor = tracker.anchor_at
        if anchor is None:
            return []
        matches = when.astimezone(zone).date() == anchor.astimezone(zone).date()
        gap = (when.astimezone(zone).date() - anchor.astimezone(zone).date()).days
        label = tpl.field(tpl.mismatch_field)
        what = label.label if label else tpl.mismatch_field
        mismatch = {"field": tpl.mismatch_field, "at": when.isoformat(),
                    "anchor": anchor.isoformat(), "days": gap}
        steps = tq.steps_of(s, tracker_id=tracker.id)
        step = next((st for st in steps if st.step_key == FUNDING_STEP), None)
        if matches:
            if step is not None and (step.status in tq.STEP_OPEN or step.decision == "declined"):
                self._settle_funding(s, step, now=now, note=f"the {what.lower()} now matches "
                                     f"the {tpl.anchor}: no decision is needed")
            return []
        # Days keep the wall-clock time, as every day offset does.
        due = shift(now, tpl.decide_within, zone)
        if step is not None and step.status in tq.STEP_OPEN:
            before = dict(step.details or {}).get("mismatch")
            step.details = {**dict(step.details or {}), "mismatch": mismatch}
            step.updated_at = now
            queries.add_event(s, record=step, team_id=tracker.team_id, at=now, actor=actor,
                              kind="field_changed", field="mismatch", before=before,
                              after=mismatch, note=f"the pending decision is now about "
                              f"{gap:+d} days")
            return []
        if step is None:
            ladder = Ladder("commissioner", (Tier("Commissioner", tpl.escalate_to[0], "",
                                                  timedelta(0), tpl.escalate_to[1:]),),
                            remind_before=(), ack_timeout=timedelta(hours=24))
            number = max((st.number for st in steps),
                         default=step_number(tracker.number, 0)) + 1
            if number % 100 == 0:
                raise DomainError(f"{tracker.reference} has no room for another step.")
            step = self._add_step(
                s, tracker, number=number, key=FUNDING_STEP,
                name=f"Commissioner decision: {what.lower()} differs from the {tpl.anchor}",
                agency="commissioner", gate=True, group="", due=due, owner=tracker.owner_id,
                ladder=ladder, now=now, actor=actor, details={"mismatch": mismatch})
        else:  # decided before, about another date: a new decision on this one
            before_status = step.status
            step.status, step.decision, step.outcome = StepStatus.OPEN.value, None, None
            step.details = {"mismatch": mismatch}  # a new statement for the new date
            step.due_at, step.closed_at, step.updated_at = due, None, now
            step.escalation_tier = None
            queries.add_event(s, record=step, team_id=tracker.team_id, at=now, actor=BATON,
                              kind="step_changed", field="status", before=before_status,
                              after=step.status, note="reopened for a new funding start date")
        queries.add_work(s, record=step, kind="page", due_at=now, now=now, tier=1,
                         reason="funding")
        queries.add_work(s, record=step, kind="deadline", due_at=due, now=now, reason="step")
        queries.add_event(s, record=step, team_id=tracker.team_id, at=now, actor=BATON,
                          kind="funding_escalated", field=tpl.mismatch_field,
                          before=anchor.isoformat(), after=when.isoformat(),
                          note=f"{what} differs from the {tpl.anchor} by {gap:+d} days: "
                               "commissioner escalation opened, decision due "
                               f"{due.isoformat()}")
        return [now]

    @staticmethod
    def _settle_funding(s: Session, step: Record, *, now: datetime, note: str) -> None:
        """The funding decision no longer needed: not applicable, with why; its page and
        deadline stop."""
        before = step.status
        step.status, step.outcome = StepStatus.NOT_APPLICABLE.value, note
        step.closed_at = step.updated_at = now
        queries.cancel_work(s, record_id=step.id)
        queries.add_event(s, record=step, team_id=step.team_id, at=now, actor=BATON,
                          kind="step_changed", field="status", before=before,
                          after=step.status, note=note)

    # --- reading ---

    def _by_request(self, *, team_id: str, request_key: str) -> TrackerView | None:
        with self._sessions() as s:
            t = queries.record_by_request(s, team_id=team_id, request_key=request_key)
            if t is None or t.kind != "tracker":
                return None
            return TrackerView(t, tq.steps_of(s, tracker_id=t.id))

    def load(self, *, team_id: str, ref: str) -> TrackerView:
        with self._tx() as s:
            return self._view(s, team_id=team_id, ref=ref)

    def _view(self, s: Session, *, team_id: str, ref: str, lock: bool = False) -> TrackerView:
        parsed = queries.parse_reference(ref)
        if parsed is None or parsed[0] not in ("tracker", "step"):
            raise NotFound(f"{quoted(ref, 20)} is not a tracker reference: they look like "
                           "T-12.")
        number = parsed[1] if parsed[0] == "tracker" else parsed[1] // 100
        tracker = tq.get_tracker(s, team_id=team_id, number=number)
        if tracker is None:
            raise NotFound(f"No tracker T-{number} in this workspace. `/baton person "
                           "P-…` shows a person's trackers.")
        if lock:
            queries.records_by_ids(s, ids=[tracker.id], lock=True)
        steps = tq.steps_of(s, tracker_id=tracker.id)
        return TrackerView(tracker, steps, tq.contacts_of(s, record_ids=[tracker.id]))

    def by_id(self, *, team_id: str, tracker_id: int) -> TrackerView:
        with self._tx() as s:
            t = queries.get_record(s, team_id=team_id, record_id=tracker_id)
            if t is None or t.kind not in ("tracker", "step"):
                raise NotFound("That tracker no longer exists.")
            if t.kind == "step":
                t = queries.get_record(s, team_id=team_id, record_id=t.parent_id or 0)
                if t is None:
                    raise NotFound("That tracker no longer exists.")
            return TrackerView(t, tq.steps_of(s, tracker_id=t.id),
                               tq.contacts_of(s, record_ids=[t.id]))

    def person(self, *, team_id: str, person_ref: str) -> PersonPicture:
        with self._tx() as s:
            records = tq.open_for_person(s, team_id=team_id, person_ref=person_ref,
                                         statuses=sorted(OPEN_STATUSES))
            trackers = tq.open_trackers(s, team_id=team_id, person_ref=person_ref)
            steps = tq.steps_of_many(s, tracker_ids=[t.id for t in trackers])
            return PersonPicture(person_ref, records,
                                 [TrackerView(t, steps[t.id]) for t in trackers])

    def steps_due(self, *, team_id: str, before: datetime, channel_id: str | None = None,
                  user_id: str | None = None) -> list[Record]:
        with self._tx() as s:
            return tq.steps_due(s, team_id=team_id, before=before, channel_id=channel_id,
                                user_id=user_id)

    def set_card(self, *, tracker_id: int, channel: str, ts: str) -> None:
        try:
            with core_transaction(self._sessions) as conn:
                tq.set_tracker_card(conn, tracker_id=tracker_id, channel=channel, ts=ts)
        except OperationalError:
            raise TryAgain("The database is not answering right now; try again in a "
                           "minute.") from None

    # --- changing ---

    def _require(self, record: Record, *, team_id: str, actor: str) -> None:
        if self._permissions is not None:
            self._permissions.require(Act.ACT_ON_RECORD, team_id=team_id, actor=actor,
                                      record=record, channel_id=record.channel_id)

    def find(self, *, team_id: str, ref: str, step: str) -> tuple[TrackerView, Record]:
        """The tracker and its step named `step` (key, name, number, or unique start), or
        the step a T-12.3 reference names."""
        view = self.load(team_id=team_id, ref=ref)
        return view, self._step_of(view, ref, step)

    @staticmethod
    def _step_of(view: TrackerView, ref: str, step: str) -> Record:
        parsed = queries.parse_reference(ref)
        if parsed is not None and parsed[0] == "step" and not step:
            for st in view.steps:
                if st.number == parsed[1]:
                    return st
            raise NotFound(f"{ref.upper()} has no such step.")
        found = find_step(view.reference, view.views(), step)
        return next(st for st in view.steps if st.step_key == found.key)

    def set_step(self, *, team_id: str, ref: str, step: str, status: StepStatus,
                 text: str | None, actor: str, step_id: int | None = None) -> TrackerChange:
        """A step done, blocked (with its reason), not applicable (with its reason) or
        refused by the person (with how it was managed); or reopened."""
        text = " ".join((text or "").split()) or None
        view = self.load(team_id=team_id, ref=ref)
        target = (next((st for st in view.steps if st.id == step_id), None) if step_id
                  else self._step_of(view, ref, step))
        if target is None:
            raise NotFound("That step no longer exists.")
        self._require(target, team_id=team_id, actor=actor)
        _require_open_tracker(view.tracker)
        if target.step_key == FUNDING_STEP and status is not StepStatus.BLOCKED:
            # Only the decision settles it: marking it not applicable or refused would open
            # the gate with no decision recorded.
            raise DomainError(f"{target.reference} is the commissioner's decision: record it "
                              f"with `/baton decide {view.reference} approved-adjustment|"
                              "declined|other TEXT` (it may be marked blocked while you "
                              "wait).", field="status")
        now = self._clock.now()
        with self._tx() as s:
            view = self._view(s, team_id=team_id, ref=view.reference, lock=True)
            _require_open_tracker(view.tracker)
            row = next(st for st in view.steps if st.id == target.id)
            before = row.status
            row.status = step_transition(row.reference, before, status, text)
            row.outcome = text if status is not StepStatus.OPEN else None
            row.updated_at = now
            late = False
            if status.settled:
                row.closed_at = now
                late = now > row.due_at
                queries.cancel_work(s, record_id=row.id)
            elif status is StepStatus.BLOCKED:
                # The reason is an answer: the climb stops; the deadline still stands.
                row.closed_at = None
                # (and the coordinator's nudge about a page waiting: it has its answer)
                queries.cancel_work(s, record_id=row.id, kinds=("page", "ack_timeout",
                                                                 "nudge"))
            else:  # reopened: chased again from now, a fresh climb from tier 1
                row.closed_at = None
                row.escalation_tier = None  # else its new tier-1 page could not be acked
                queries.cancel_work(s, record_id=row.id)
                if row.due_at > now:
                    self._plan_step(s, row, _ladder(row), now=now)
                else:
                    queries.add_work(s, record=row, kind="deadline", due_at=now, now=now,
                                     reason="step")
            queries.add_event(s, record=row, team_id=team_id, at=now, actor=actor,
                              kind="step_changed", field="status", before=before,
                              after=row.status, note=text)
            view.tracker.updated_at = now
            latest = queries.latest_page(s, record_id=row.id)
            page_at = (latest.channel_id, latest.message_ts) if latest else None
        return TrackerChange(view, TrackerEvent(TrackerHappened.STEP, actor, step=row,
                                                status=row.status, before=before, text=text,
                                                late=late),
                             page_at=page_at,
                             next_due=now if status is StepStatus.OPEN else None)

    def proceed(self, *, team_id: str, ref: str, actor: str) -> TrackerChange:
        """"Proceed" (a transition: the move goes ahead), refused while a gate is open."""
        view = self.load(team_id=team_id, ref=ref)
        tpl = self.template(view.tracker.template or "")
        self._require(view.tracker, team_id=team_id, actor=actor)
        if not tpl.proceed:
            raise DomainError(f"{view.reference} is a {tpl.title.lower()}: it has no "
                              "“proceed”.")
        if view.tracker.status != TrackerStatus.OPEN:
            raise DomainError(f"{view.reference} has "
                              f"{'proceeded' if view.tracker.status == 'proceeded' else 'ended'}"
                              f" already ({view.tracker.status}).")
        now = self._clock.now()
        try:
            check_proceed(view.reference, tpl.proceed, view.views())
        except DomainError as exc:
            with self._tx() as s:
                queries.add_event(s, record=view.tracker, team_id=team_id, at=now,
                                  actor=actor, kind="proceed_refused", note=str(exc))
            raise
        with self._tx() as s:
            view = self._view(s, team_id=team_id, ref=ref, lock=True)
            if view.tracker.status != TrackerStatus.OPEN:  # changed since it was read
                raise DomainError(f"{view.reference} is {view.tracker.status} already.")
            check_proceed(view.reference, tpl.proceed, view.views())
            view.tracker.status = TrackerStatus.PROCEEDED.value
            view.tracker.updated_at = now
            queries.add_event(s, record=view.tracker, team_id=team_id, at=now, actor=actor,
                              kind="proceeded", field="status", before="open",
                              after="proceeded", note=tpl.proceed)
        return TrackerChange(view, TrackerEvent(TrackerHappened.PROCEEDED, actor,
                                                text=tpl.proceed))

    def contact(self, *, team_id: str, ref: str, outcome: str, note: str | None,
                actor: str) -> TrackerChange:
        """One contact attempt (attempted | reached), timestamped, on the tracker's log."""
        view = self.load(team_id=team_id, ref=ref)
        tpl = self.template(view.tracker.template or "")
        if not tpl.contacts:
            raise DomainError(f"{view.reference} keeps no contact-attempt log (only a "
                              "provisional package does).")
        self._require(view.tracker, team_id=team_id, actor=actor)
        _require_open_tracker(view.tracker)
        note = " ".join((note or "").split()) or None
        now = self._clock.now()
        with self._tx() as s:
            view = self._view(s, team_id=team_id, ref=ref, lock=True)
            _require_open_tracker(view.tracker)  # as it is now, not as it was read
            tq.add_contact(s, team_id=team_id, record_id=view.tracker.id, at=now,
                           actor=actor, outcome=outcome, note=note)
            queries.add_event(s, record=view.tracker, team_id=team_id, at=now, actor=actor,
                              kind="contact_attempt", field="outcome", after=outcome,
                              note=note)
            view.tracker.updated_at = now
            s.flush()
            view.contacts = tq.contacts_of(s, record_ids=[view.tracker.id])
        return TrackerChange(view, TrackerEvent(TrackerHappened.CONTACT, actor,
                                                status=outcome, text=note))

    def decide(self, *, team_id: str, ref: str, decision: str, text: str | None,
               actor: str) -> TrackerChange:
        """The decision the tracker is waiting for: a transition's commissioner decision on
        the funding start (approved-adjustment | declined | other), or a provisional
        package's at its hard deadline (funded: which program | escalated: the evidence)."""
        text = " ".join((text or "").split()) or None
        view = self.load(team_id=team_id, ref=ref)
        tpl = self.template(view.tracker.template or "")
        funding = next((st for st in view.steps if st.step_key == FUNDING_STEP
                        and st.status in tq.STEP_OPEN), None)
        if funding is not None:
            word = read_decision(decision, FUNDING_DECISIONS)
            self._require(view.tracker if actor != funding.owner_id else funding,
                          team_id=team_id, actor=actor)
        elif tpl.decision_choices:
            word = read_decision(decision, tpl.decision_choices)
            self._require(view.tracker, team_id=team_id, actor=actor)
        else:
            raise DomainError(f"{view.reference} has no decision waiting.")
        if word in DECISION_TEXT and not text:
            raise DomainError(f"Say {DECISION_TEXT[word]}: `/baton decide {view.reference} "
                              f"{word} …`.", field="text")
        _require_open_tracker(view.tracker)
        now = self._clock.now()
        pages: tuple[tuple[str, str], ...] = ()
        with self._tx() as s:
            view = self._view(s, team_id=team_id, ref=ref, lock=True)
            _require_open_tracker(view.tracker)  # as it is now, not as it was read
            if funding is not None:
                row = next(st for st in view.steps if st.id == funding.id)
                if row.status not in tq.STEP_OPEN:
                    raise DomainError(f"{row.reference} was decided a moment ago.")
                before = row.status
                row.status, row.decision, row.outcome = StepStatus.DONE.value, word, text
                row.closed_at = row.updated_at = now
                queries.cancel_work(s, record_id=row.id)
                queries.add_event(s, record=row, team_id=team_id, at=now, actor=actor,
                                  kind="funding_decided", field="decision", before=before,
                                  after=word, note=text)
                event = TrackerEvent(TrackerHappened.FUNDING_DECIDED, actor, step=row,
                                     status=word, text=text, late=now > row.due_at)
                latest = queries.latest_page(s, record_id=row.id)
            else:
                t = view.tracker
                if t.decision:
                    raise DomainError(f"{t.reference} was decided already: "
                                      f"{decision_label(t.decision)}.")
                t.decision, t.outcome = word, text
                t.status = TrackerStatus.CLOSED.value
                t.closed_at = t.updated_at = now
                # Closed: neither the package nor its steps are chased any more (a step's
                # reminder would otherwise still reach its owner).
                pages = tuple(self.end_steps(s, t, view.steps, now=now))
                queries.add_event(s, record=t, team_id=team_id, at=now, actor=actor,
                                  kind="decided", field="decision", after=word, note=text)
                event = TrackerEvent(TrackerHappened.DECIDED, actor, status=word, text=text,
                                     late=now > t.due_at)
                latest = queries.latest_page(s, record_id=t.id)
            page_at = (latest.channel_id, latest.message_ts) if latest else None
        return TrackerChange(view, event, page_at=page_at, pages=pages)

    def impact_statement(self, *, team_id: str, ref: str, actor: str,
                         statement: dict[str, str]) -> TrackerChange:
        """The written impact statement for the commissioner (staffing hours, transition
        supervision, overnight coverage, the cost of duplicated support), on the decision
        step."""
        view = self.load(team_id=team_id, ref=ref)
        step = next((st for st in view.steps if st.step_key == FUNDING_STEP), None)
        if step is None:
            raise DomainError(f"{view.reference} has no funding escalation open.")
        self._require(view.tracker, team_id=team_id, actor=actor)
        unknown = sorted(set(statement) - set(IMPACT_PARTS))
        if unknown:
            raise DomainError(f"An impact statement has {', '.join(IMPACT_PARTS)}; not "
                              f"{', '.join(unknown)}.", field=unknown[0])
        clean = {k: " ".join(v.split()) for k, v in statement.items() if v and v.strip()}
        if not clean:
            raise DomainError("Write at least one part of the impact statement.",
                              field="staffing")
        now = self._clock.now()
        with self._tx() as s:
            view = self._view(s, team_id=team_id, ref=ref, lock=True)
            _require_open_tracker(view.tracker)  # as it is now, not as it was read
            row = next(st for st in view.steps if st.id == step.id)
            details = dict(row.details or {})
            details["impact"] = clean
            row.details = details
            row.updated_at = now
            queries.add_event(s, record=row, team_id=team_id, at=now, actor=actor,
                              kind="impact_statement", field="impact", after=clean)
            latest = queries.latest_page(s, record_id=row.id)
            page_at = (latest.channel_id, latest.message_ts) if latest else None
        return TrackerChange(view, TrackerEvent(TrackerHappened.IMPACT, actor, step=row),
                             page_at=page_at)

    def set_time_field(self, *, team_id: str, ref: str, key: str, when: datetime,
                       actor: str) -> TrackerChange:
        """A time field set after the start (the funding start date confirmed later): a
        mismatch with the anchor opens the commissioner escalation then."""
        if key == "at":
            return self.move_anchor(team_id=team_id, ref=ref, when=when, actor=actor)
        view = self.load(team_id=team_id, ref=ref)
        tpl = self.template(view.tracker.template or "")
        f = tpl.field(key)
        if f is None or f.kind != "time":
            raise DomainError(f"{view.reference} has no date field `{key}:` (its fields: "
                              f"{', '.join(x.key for x in tpl.fields) or 'none'}).", field=key)
        self._require(view.tracker, team_id=team_id, actor=actor)
        _require_open_tracker(view.tracker)
        now = self._clock.now()
        escalated: list[datetime] = []
        with self._tx() as s:
            view = self._view(s, team_id=team_id, ref=ref, lock=True)
            t = view.tracker
            _require_open_tracker(t)  # as it is now, not as it was read
            details = dict(t.details or {})
            times = dict(details.get("times", {}))
            before = times.get(key)
            times[key] = when.isoformat()
            details["times"] = times
            t.details, t.updated_at = details, now
            queries.add_event(s, record=t, team_id=team_id, at=now, actor=actor,
                              kind="field_changed", field=key, before=before,
                              after=when.isoformat())
            # The same date again (a form sent twice, after the decision) is no new mismatch.
            zone = ZoneInfo(t.tz or "UTC")
            same_day = before is not None and datetime.fromisoformat(before).astimezone(
                zone).date() == when.astimezone(zone).date()
            if key == tpl.mismatch_field and not same_day:
                escalated = self._check_mismatch(s, t, tpl, when, now=now, actor=actor)
            moved = self._retime_steps(s, view, tpl, key, when, now=now, actor=actor)
            view.steps = tq.steps_of(s, tracker_id=t.id)
        what = TrackerHappened.FUNDING_ESCALATED if escalated else TrackerHappened.FIELD
        soonest = min([*escalated, *moved], default=None)
        return TrackerChange(view, TrackerEvent(what, actor, text=f"{f.label}: "
                                                f"{when.isoformat()}"),
                             next_due=soonest)

    def _retime_steps(self, s: Session, view: TrackerView, tpl: Template, key: str,
                      when: datetime, *, now: datetime, actor: str) -> list[datetime]:
        """The outstanding steps the time field `key` times (`due_field`: the service
        change's follow-up, the health change's review) move to `when`: their reminders and
        deadline planned again, a climb begun at the old time given up. The due times of
        their new work."""
        timed = {st.key for st in tpl.steps if st.due_field == key}
        soonest: list[datetime] = []
        for row in view.steps:
            if row.step_key not in timed or row.status not in tq.STEP_OPEN \
                    or row.due_at == when:
                continue
            before = row.due_at
            row.due_at, row.updated_at, row.escalation_tier = when, now, None
            queries.cancel_work(s, record_id=row.id)
            queries.add_event(s, record=row, team_id=row.team_id, at=now, actor=actor,
                              kind="field_changed", field="due_at",
                              before=before.isoformat(), after=when.isoformat(),
                              note=f"moved with the tracker's `{key}:`")
            if row.status == StepStatus.OPEN.value:
                soonest += self._plan_step(s, row, _ladder(row), now=now)
            else:  # blocked: its deadline still stands, at the new time
                queries.add_work(s, record=row, kind="deadline", due_at=max(when, now),
                                 now=now, reason="step")
                soonest.append(max(when, now))
        return soonest

    def move_anchor(self, *, team_id: str, ref: str, when: datetime,
                    actor: str) -> TrackerChange:
        """The anchor moved (the move date slipped, the discharge time corrected): every
        step still outstanding is due again its template offset from the new anchor and
        chased from now; settled steps keep their times. The sprint's end or the decision
        deadline moves with it; a funding start is checked against the new move date."""
        view = self.load(team_id=team_id, ref=ref)
        tpl = self.template(view.tracker.template or "")
        self._require(view.tracker, team_id=team_id, actor=actor)
        _require_open_tracker(view.tracker)
        now = self._clock.now()
        escalated: list[datetime] = []
        with self._tx() as s:
            view = self._view(s, team_id=team_id, ref=ref, lock=True)
            t = view.tracker
            _require_open_tracker(t)  # as it is now, not as it was read
            zone = ZoneInfo(t.tz or "UTC")
            details = dict(t.details or {})
            values = dict(details.get("values", {}))
            times = {k: datetime.fromisoformat(v) for k, v in details.get("times", {}).items()}
            planned = {p.template.key: p for p in plan_steps(tpl, anchor=when, tz=zone,
                                                             values=values, times=times)}
            before = t.anchor_at
            length = (timedelta(days=float(details["period_days"]))
                      if details.get("period_days") else None)
            t.anchor_at, t.updated_at = when, now
            t.due_at = _end_of(tpl, when, length, zone, list(planned.values()))
            queries.add_event(s, record=t, team_id=team_id, at=now, actor=actor,
                              kind="field_changed", field="anchor_at",
                              before=before.isoformat() if before else None,
                              after=when.isoformat(), note=f"the {tpl.anchor} moved")
            for st in view.steps:
                p = planned.get(st.step_key or "")
                if p is None or st.status not in tq.STEP_OPEN or st.due_at == p.due_at:
                    continue
                queries.add_event(s, record=st, team_id=team_id, at=now, actor=actor,
                                  kind="field_changed", field="due_at",
                                  before=st.due_at.isoformat(), after=p.due_at.isoformat(),
                                  note=f"the {tpl.anchor} moved")
                st.due_at, st.updated_at, st.escalation_tier = p.due_at, now, None
                queries.cancel_work(s, record_id=st.id, kinds=("reminder", "deadline", "page",
                                                                 "ack_timeout", "nudge"))
                escalated += self._plan_step(s, st, _ladder(st), now=now)
            if t.status == TrackerStatus.OPEN:
                queries.cancel_work(s, record_id=t.id, kinds=("reminder", "deadline"))
                escalated += _plan_tracker(s, t, tpl, _ladder(t), end=t.due_at, now=now)
            if tpl.mismatch_field and tpl.mismatch_field in times:
                escalated += self._check_mismatch(s, t, tpl, times[tpl.mismatch_field],
                                                  now=now, actor=actor)
            view.steps = tq.steps_of(s, tracker_id=t.id)
        return TrackerChange(view, TrackerEvent(TrackerHappened.FIELD, actor,
                                                text=f"{tpl.anchor.capitalize()}: "
                                                     f"{when.isoformat()}"),
                             next_due=min(escalated) if escalated else None)

    def cancel(self, *, team_id: str, ref: str, reason: str, actor: str) -> TrackerChange:
        reason = " ".join(reason.split())
        if not reason:
            raise DomainError("Say why the tracker is cancelled.", field="reason")
        view = self.load(team_id=team_id, ref=ref)
        self._require(view.tracker, team_id=team_id, actor=actor)
        _require_open_tracker(view.tracker)
        now = self._clock.now()
        with self._tx() as s:
            view = self._view(s, team_id=team_id, ref=ref, lock=True)
            t = view.tracker
            _require_open_tracker(t)  # as it is now: a sprint the engine closed stays closed
            before = t.status
            t.status, t.cancel_reason = TrackerStatus.CANCELLED.value, reason
            t.closed_at = t.updated_at = now
            pages = tuple(self.end_steps(s, t, view.steps, now=now))
            queries.add_event(s, record=t, team_id=team_id, at=now, actor=actor,
                              kind="cancelled", field="status", before=before,
                              after="cancelled", note=reason)
        return TrackerChange(view, TrackerEvent(TrackerHappened.CANCELLED, actor,
                                                text=reason), pages=pages)

    @staticmethod
    def end_steps(s: Session, tracker: Record, steps: list[Record], *,
                  now: datetime) -> list[tuple[str, str]]:
        """The tracker ended (its sprint closed, its decision made, it was cancelled): its
        work stops, and a step still outstanding keeps its status (open or blocked: not
        done) with the moment it stopped being chased as its `closed_at`, so its pages
        and card say so. Returns the page messages of the tracker and its steps, to be
        shown again as they now stand."""
        for row in [tracker, *steps]:
            queries.cancel_work(s, record_id=row.id)
            if row.kind == "step" and row.status in tq.STEP_OPEN:
                row.closed_at = now
        out: list[tuple[str, str]] = []
        for row in [tracker, *steps]:
            out += queries.page_messages(s, record_id=row.id)
        return out

    # --- by the time engine ---

    def close_sprint(self, s: Session, tracker: Record, *,
                     now: datetime) -> tuple[str, list[tuple[str, str]]] | None:
        """The sprint's end (in the engine's transaction): closed with what was done on
        time, late or not at all; open steps stop being chased. Returns the summary line
        and the page messages to show again, or None when the tracker was no longer open."""
        if tracker.status not in tq.TRACKER_OPEN:
            return None
        steps = tq.steps_of(s, tracker_id=tracker.id)
        summary = summarise(TrackerView(tracker, steps).views()).line()
        before = tracker.status
        tracker.status = TrackerStatus.CLOSED.value
        tracker.outcome, tracker.closed_at, tracker.updated_at = summary, now, now
        pages = self.end_steps(s, tracker, steps, now=now)
        queries.add_event(s, record=tracker, team_id=tracker.team_id, at=now, actor=BATON,
                          kind="sprint_closed", field="status", before=before,
                          after="closed", note=summary)
        return summary, pages



def _end_of(tpl: Template, anchor: datetime, length: timedelta | None, zone: ZoneInfo,
            planned: list[PlannedStep]) -> datetime:
    """When a tracker ends: a sprint's length is elapsed time (the 72 hours are 72 hours,
    whatever the clocks do; its Day 2–3 steps are due at "72h" with it); a provisional
    package's period is in days, its deadline keeping the wall-clock time; else its last
    step's due time."""
    if tpl.closes_after:
        return anchor + tpl.closes_after
    if length:
        return shift(anchor, length, zone)
    return max(p.due_at for p in planned)


def _plan_tracker(s: Session, tracker: Record, tpl: Template, ladder: Ladder, *,
                  end: datetime, now: datetime) -> list[datetime]:
    """The tracker's own due work: a sprint's end, or a provisional package's reminders and
    hard decision deadline. Returns when each falls due."""
    if tpl.closes_after:
        queries.add_work(s, record=tracker, kind="deadline", due_at=end, now=now,
                         reason="sprint_end")
        return [end]
    if tpl.period is None:
        return []
    plan = [Planned("reminder", w.due_at) for w in initial_work(
        kind=REMINDERS_THEN_DEADLINE, due_at=end, now=now, ladder=ladder,
        tz=ZoneInfo(tracker.tz or "UTC")) if w.kind == "reminder"]
    plan.append(Planned("deadline", end, reason="decision"))
    queries.add_works(s, record=tracker, planned=plan, now=now)
    return [p.due_at for p in plan]


def _got(v: str) -> str:
    return f" (got {quoted(v, 30)})"


def _require_open_tracker(tracker: Record) -> None:
    if tracker.status not in tq.TRACKER_OPEN:
        raise DomainError(f"{tracker.reference} is {tracker.status}: neither it nor its steps "
                          "can change any more. Nothing was changed.")


def _urgent_ladder(tpl: Template) -> Ladder:
    return Ladder("urgent", (Tier("Immediate risk", tpl.urgent[0], "", timedelta(0),
                                  tpl.urgent[1:]),),
                  remind_before=(), ack_timeout=timedelta(hours=1))


def _ladder(record: Record) -> Ladder:
    return snapshot_ladder(record.ladder or {})
