"""TrackerService against a real database (SQLite, and PostgreSQL where the suite reaches
one): starting a tracker from a template, refusals that write nothing, gates refusing
"proceed" (audited), who may change a step, the funding mismatch escalation, the contact log,
the 24-hour quality check, idempotent starts and workspace isolation. No Slack: the roles'
user group is answered by a fake look-up, the coordinator of the day by the real rota."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import FixedClock
from bot.domain.ladder import LadderConfig
from bot.domain.permissions import parse_roles
from bot.domain.records import DomainError
from bot.domain.tracker_config import parse_templates
from bot.domain.trackers import StepStatus
from bot.services.coordination import RotaCoordinator
from bot.services.permissions import Permissions, Refused
from bot.services.records import NotFound
from bot.services.trackers import FUNDING_STEP, TrackerService
from store import queries
from store.db import make_engine, make_session_factory, transaction
from store.models import AuditEvent, ContactAttempt, DueWork, Record
from tests.conftest import ALICE, BOB, CHANNEL, START, TEAM

NY = ZoneInfo("America/New_York")
CAROL = "U0CAROL01"  # on the coordinators list; coordinator of the day when the rota says
DAN = "U0DAN0001"  # a manager through the managers user group
EVE = "U0EVE0001"  # staff: not the step's owner
NURSE = "U0NURSE01"  # owns the falls review's named step
MANAGERS = "S0MANAGE1"
OTHER_TEAM = "T0OTHER01"

CONFIG = {
    "roles": {"admins": [BOB], "managers": [MANAGERS], "coordinators": [CAROL]},
    "agencies": {"quality": "Quality team"},
    "template": {"falls": {
        "title": "Falls review", "anchor": "fall time",
        "steps": [{"name": "Nurse review", "agency": "health-partner", "due": "4h",
                   "owner": f"<@{NURSE}>"},
                  {"name": "Quality review", "agency": "quality", "due": "2d"}]}},
}
HEALTH = {"source": "urgent care visit", "impact": "new mobility restriction",
          "instructions": "modified transfer support", "family": "informed by phone",
          "threshold": "any fall or refusal of transfer support"}


class Groups:
    """Slack's answer to usergroups.users.list, without Slack."""

    def group_members(self, group_id: str) -> frozenset[str]:
        return frozenset({DAN}) if group_id == MANAGERS else frozenset()

    def user(self, user_id: str) -> Any:
        raise AssertionError("no user look-up is needed")

    def people(self) -> list[Any]:
        return []


@dataclass
class World:
    trackers: TrackerService
    sessions: sessionmaker[Session]
    clock: FixedClock

    def count(self, model: Any, **where: Any) -> int:
        with self.sessions() as s:
            q = select(func.count()).select_from(model)
            for k, v in where.items():
                q = q.where(getattr(model, k) == v)
            return int(s.scalar(q) or 0)

    def counts(self) -> tuple[int, int, int, int]:
        return (self.count(Record), self.count(AuditEvent), self.count(DueWork),
                self.count(ContactAttempt))

    def events(self, kind: str) -> list[AuditEvent]:
        with self.sessions() as s:
            return list(s.scalars(select(AuditEvent).where(AuditEvent.kind == kind)
                                  .order_by(AuditEvent.seq)))

    def work(self, record_id: int) -> list[tuple[str, datetime, str | None]]:
        with self.sessions() as s:
            rows = s.scalars(select(DueWork).where(DueWork.record_id == record_id,
                                                   DueWork.state == "pending")
                             .order_by(DueWork.due_at, DueWork.id))
            return [(w.kind, w.due_at.astimezone(UTC), w.reason) for w in rows]

    def start(self, template: str, anchor: datetime, *, team: str = TEAM, actor: str = ALICE,
              values: dict[str, str] | None = None, times: dict[str, datetime] | None = None,
              **kw: Any):
        return self.trackers.start(
            team_id=team, channel_id=CHANNEL, actor=actor, template=template,
            person_ref="P-1042", anchor=anchor, owner_id=actor, values=values or {},
            times=times or {}, tz="America/New_York", **kw)

    def make_coordinator(self, user: str, when: datetime) -> None:
        with transaction(self.sessions) as s:
            queries.add_assignment(s, team_id=TEAM, user_id=user, kind="date", set_by=BOB,
                                   set_at=when, date_from=when.astimezone(NY).date())


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    clock = FixedClock(START)
    rota = RotaCoordinator(sessions, tz=NY)
    permissions = Permissions(Groups(), parse_roles(CONFIG), sessions=sessions, clock=clock,
                              coordinator_of=rota.coordinator, slack_admin=lambda _u: False)
    service = TrackerService(sessions, clock, parse_templates(CONFIG), LadderConfig(),
                             permissions=permissions)
    yield World(service, sessions, clock)
    engine.dispose()


def utc(when: datetime) -> datetime:
    return when.astimezone(UTC)


# --- starting ---


def test_start_makes_the_steps_due_from_the_anchor_with_their_deadlines(world):
    discharge = START + timedelta(hours=2)  # Monday 11:00 in New York
    change = world.start("discharge", discharge)
    assert change.created
    t = change.view.tracker
    assert (t.reference, t.kind, t.template, t.status, t.person_ref) == \
        ("T-1", "tracker", "discharge", "open", "P-1042")
    assert t.partner_id is None  # trackers and steps have no partner
    steps = change.view.steps
    assert [s.reference for s in steps] == [f"T-1.{i}" for i in range(1, 10)]
    assert [s.step_group for s in steps] == ["Day 0"] * 3 + ["Day 1"] * 3 + ["Day 2–3"] * 3
    assert [utc(s.due_at) - discharge for s in steps] == (
        [timedelta(hours=8)] * 3 + [timedelta(days=1)] * 3 + [timedelta(hours=72)] * 3)
    assert {s.owner_id for s in steps} == {ALICE}
    assert {(s.status, s.parent_id, s.partner_id) for s in steps} == {("open", t.id, None)}
    # Every step's deadline is in the database; the sprint closes at 72 hours.
    for s in steps:
        deadlines = [w for w in world.work(s.id) if w[0] == "deadline"]
        assert deadlines == [("deadline", utc(s.due_at), "step")]
    assert ("deadline", discharge + timedelta(hours=72), "sprint_end") in world.work(t.id)
    assert change.next_due is not None and change.next_due <= discharge + timedelta(hours=8)
    (created,) = world.events("created")
    assert created.record_ref == "T-1" and created.after["template"] == "discharge"


def test_missing_required_fields_are_refused_with_nothing_written(world):
    before = world.counts()
    with pytest.raises(DomainError) as caught:
        world.start("health-change", START, values={"source": "urgent care visit"})
    said = str(caught.value)
    assert said == ("A health-change tracker needs `impact:`, `instructions:`, `family:`, "
                    "`review:`, `threshold:`.")
    assert caught.value.field == "impact"
    assert world.counts() == before


@pytest.mark.parametrize("template, values, times, kw, says", [
    ("service-change", {"trigger": "weather", "impact": "x", "action": "y", "funding": "no"},
     {}, {}, "`trigger:` is one of support need, staffing intensity"),
    ("service-change", {"trigger": "mobility", "impact": "x", "action": "y",
                        "funding": "maybe"}, {}, {}, "`funding:` is yes or no"),
    ("provisional", {}, {}, {"period": timedelta(days=21)}, "between 7 and 14 days"),
    ("discharge", {}, {}, {"period": timedelta(days=10)}, "has no period"),
    ("nursing", {}, {}, {}, "There is no tracker template “nursing”. Templates: discharge, "
                            "falls, health-change, provisional, service-change, transition."),
])
def test_a_bad_start_writes_nothing(world, template, values, times, kw, says):
    before = world.counts()
    with pytest.raises(DomainError, match=re.escape(says)):
        world.start(template, START, values=values, times=times, **kw)
    assert world.counts() == before


def test_the_same_request_key_starts_one_tracker(world):
    first = world.start("provisional", START, request_key="cmd-1")
    counts = world.counts()
    again = world.start("provisional", START, request_key="cmd-1")
    assert (first.created, again.created) == (True, False)
    assert again.view.tracker.id == first.view.tracker.id
    assert [s.id for s in again.view.steps] == [s.id for s in first.view.steps]
    assert world.counts() == counts
    other = world.start("provisional", START, request_key="cmd-2")
    assert other.view.reference == "T-2"


# --- proceed and its gates ---


def test_proceed_is_refused_and_audited_while_a_gate_is_open(world):
    move = START + timedelta(days=21)
    ref = world.start("transition", move).view.reference
    for attempt in (1, 2):
        with pytest.raises(DomainError) as caught:
            world.trackers.proceed(team_id=TEAM, ref=ref, actor=ALICE)
        assert "T-1 cannot proceed (the move goes ahead) without: Confirmed move date (open)" \
            in str(caught.value)
        assert "8 gates still open" in str(caught.value)
        refused = world.events("proceed_refused")
        assert len(refused) == attempt
        assert refused[-1].record_ref == "T-1" and refused[-1].actor == ALICE
        assert refused[-1].note == str(caught.value)
    gates = [s for s in world.trackers.load(team_id=TEAM, ref=ref).steps
             if s.gate and s.step_key != "environmental-check"]
    assert len(gates) == 7
    for s in gates:
        world.trackers.set_step(team_id=TEAM, ref=ref, step=s.step_key, status=StepStatus.DONE,
                                text=None, actor=ALICE)
    world.trackers.set_step(team_id=TEAM, ref=ref, step="environmental", actor=ALICE,
                            status=StepStatus.BLOCKED, text="landlord has not given a key")
    with pytest.raises(DomainError, match=r"without: Environmental risk check \(blocked\)\. "
                                          r"1 gate still open\.$"):
        world.trackers.proceed(team_id=TEAM, ref=ref, actor=ALICE)
    world.trackers.set_step(team_id=TEAM, ref=ref, step="environmental-check", actor=ALICE,
                            status=StepStatus.NOT_APPLICABLE, text="same building, same flat")
    # The provider's own actions are still open: they do not hold the move.
    done = world.trackers.proceed(team_id=TEAM, ref=ref, actor=ALICE)
    assert done.view.tracker.status == "proceeded"
    assert len(world.events("proceeded")) == 1 and len(world.events("proceed_refused")) == 3


# --- steps and who may change them ---


def test_a_step_is_changed_by_its_owner_a_manager_or_todays_coordinator(world):
    ref = world.start("discharge", START).view.reference

    def mark(user: str, step: str) -> str:
        return world.trackers.set_step(team_id=TEAM, ref=ref, step=step,
                                       status=StepStatus.DONE, text=None,
                                       actor=user).view.steps[0].status

    with pytest.raises(Refused) as caught:
        mark(EVE, "medication-list")
    assert str(caught.value) == ("T-1.2: Only <@U0ALICE01> (the record's people), a manager or "
                                 "today's coordinator can change this record. Nothing was "
                                 "changed.")
    (refused,) = world.events("refused")
    assert (refused.actor, refused.record_ref, refused.field) == (EVE, "T-1.2", "act_on_record")
    assert world.count(AuditEvent, kind="step_changed") == 0
    # Carol is on the coordinators list but not today's coordinator: refused too.
    with pytest.raises(Refused):
        mark(CAROL, "medication-list")
    world.make_coordinator(CAROL, world.clock.now())
    mark(CAROL, "medication-list")
    mark(DAN, "immediate-risks")  # a manager, through the user group
    mark(ALICE, "discharge-summary")  # the owner
    changed = world.events("step_changed")
    assert [(e.actor, e.record_ref, e.after) for e in changed] == [
        (CAROL, "T-1.2", "done"), (DAN, "T-1.3", "done"), (ALICE, "T-1.1", "done")]
    # Tomorrow Carol is staff again.
    world.clock.advance(timedelta(days=1))
    with pytest.raises(Refused):
        mark(CAROL, "first-visit")
    assert len(world.events("refused")) == 3


def test_a_step_with_a_named_owner_is_theirs_not_the_trackers_owner(world):
    view = world.start("falls", START).view
    nurse, quality = view.steps
    assert (nurse.owner_id, quality.owner_id) == (NURSE, ALICE)
    assert (nurse.agency, quality.agency) == ("health-partner", "quality")
    with pytest.raises(Refused, match="Only <@U0NURSE01>"):
        world.trackers.set_step(team_id=TEAM, ref="T-1", step="nurse", actor=ALICE,
                                status=StepStatus.DONE, text=None)
    world.trackers.set_step(team_id=TEAM, ref="T-1", step="nurse", actor=NURSE,
                            status=StepStatus.DONE, text="seen at home")
    assert world.trackers.load(team_id=TEAM, ref="T-1").steps[0].status == "done"


def test_refused_blocked_and_reopened_steps_keep_their_text_and_deadlines(world):
    ref = world.start("discharge", START).view.reference
    before = world.counts()
    with pytest.raises(DomainError, match=r"T-1\.4: refused by the person needs its text: "
                                          r"how the refusal was managed"):
        world.trackers.set_step(team_id=TEAM, ref=ref, step="first-visit", actor=ALICE,
                                status=StepStatus.REFUSED, text="  ")
    assert world.counts() == before
    world.clock.advance(timedelta(hours=1))
    change = world.trackers.set_step(
        team_id=TEAM, ref=ref, step="first-visit", actor=ALICE, status=StepStatus.REFUSED,
        text="declined the visit; phoned daughter, visit moved to tomorrow")
    step = next(s for s in change.view.steps if s.step_key == "first-visit")
    assert (step.status, step.outcome) == (
        "refused", "declined the visit; phoned daughter, visit moved to tomorrow")
    assert utc(step.closed_at) == world.clock.now()
    assert world.work(step.id) == []  # settled: nothing more is chased
    with pytest.raises(DomainError, match="reopen it first"):
        world.trackers.set_step(team_id=TEAM, ref=ref, step="first-visit", actor=ALICE,
                                status=StepStatus.DONE, text=None)
    # Blocked: the reason is recorded, the deadline still stands.
    blocked = world.trackers.set_step(team_id=TEAM, ref=ref, step="equipment", actor=ALICE,
                                      status=StepStatus.BLOCKED, text="hoist not delivered")
    row = next(s for s in blocked.view.steps if s.step_key == "equipment")
    assert (row.status, row.outcome) == ("blocked", "hoist not delivered")
    assert ("deadline", utc(row.due_at), "step") in world.work(row.id)
    reopened = world.trackers.set_step(team_id=TEAM, ref=ref, step="first-visit",
                                       actor=ALICE, status=StepStatus.OPEN, text=None)
    assert reopened.next_due is not None
    row = next(s for s in reopened.view.steps if s.step_key == "first-visit")
    assert (row.status, row.outcome, row.closed_at) == ("open", None, None)
    assert "deadline" in [w[0] for w in world.work(row.id)]


# --- the funding mismatch ---


def funding_steps(world: World, ref: str = "T-1") -> list[Record]:
    return [s for s in world.trackers.load(team_id=TEAM, ref=ref).steps
            if s.step_key == FUNDING_STEP]


def test_a_funding_start_on_the_move_date_opens_nothing(world):
    move = START + timedelta(days=21)
    world.start("transition", move, times={"funding-start": move + timedelta(hours=3)})
    assert funding_steps(world) == []
    assert world.events("funding_escalated") == []


def test_the_funding_mismatch_opens_exactly_one_commissioner_decision(world):
    move = START + timedelta(days=21)
    world.start("transition", move)
    assert len(world.trackers.load(team_id=TEAM, ref="T-1").steps) == 13
    world.clock.advance(timedelta(hours=1))
    later = move + timedelta(days=5)
    change = world.trackers.set_time_field(team_id=TEAM, ref="T-1", key="funding-start",
                                           when=later, actor=ALICE)
    assert change.next_due == world.clock.now()
    (step,) = funding_steps(world)
    assert (step.reference, step.agency, step.gate, step.status) == \
        ("T-1.14", "commissioner", True, "open")
    assert step.details["mismatch"]["days"] == 5
    assert "differs from the move date" in (step.title or "")
    assert utc(step.due_at) == world.clock.now() + timedelta(days=2)  # decide_within
    assert world.work(step.id) == [("page", world.clock.now(), "funding"),
                                   ("deadline", world.clock.now() + timedelta(days=2), "step")]
    (escalated,) = world.events("funding_escalated")
    assert escalated.record_ref == "T-1.14" and "by +5 days" in (escalated.note or "")
    # The same mismatch again, or another date while undecided: still one decision.
    for when in (later, later + timedelta(days=1)):
        world.trackers.set_time_field(team_id=TEAM, ref="T-1", key="funding-start", when=when,
                                      actor=ALICE)
    assert len(funding_steps(world)) == 1 and len(world.events("funding_escalated")) == 1
    # ...but the decision pending is now about the latest date: its page and card say so.
    (step,) = funding_steps(world)
    assert step.details["mismatch"]["days"] == 6
    # The decision is a gate: "proceed" names it.
    with pytest.raises(DomainError, match="Commissioner decision: funding start date differs"):
        world.trackers.proceed(team_id=TEAM, ref="T-1", actor=ALICE)
    with pytest.raises(DomainError, match="record it with `/baton decide T-1"):
        world.trackers.set_step(team_id=TEAM, ref="T-1", step=FUNDING_STEP, actor=ALICE,
                                status=StepStatus.DONE, text=None)
    with pytest.raises(DomainError, match="not overtime"):  # only the seed's four parts
        world.trackers.impact_statement(team_id=TEAM, ref="T-1", actor=ALICE,
                                        statement={"overtime": "lots"})
    world.trackers.impact_statement(team_id=TEAM, ref="T-1", actor=ALICE, statement={
        "staffing": "two extra shifts", "overnight": "waking night for 5 days",
        "supervision": " "})
    decided = world.trackers.decide(team_id=TEAM, ref="T-1", decision="approved adjustment",
                                    text="short transition funding adjustment", actor=DAN)
    row = next(s for s in decided.view.steps if s.step_key == FUNDING_STEP)
    assert (row.status, row.decision, row.outcome) == (
        "done", "approved-adjustment", "short transition funding adjustment")
    assert row.details["impact"] == {"staffing": "two extra shifts",
                                     "overnight": "waking night for 5 days"}
    assert world.work(row.id) == []
    # The same date set again after the decision does not reopen the escalation.
    world.trackers.set_time_field(team_id=TEAM, ref="T-1", key="funding-start",
                                  when=later + timedelta(days=1), actor=ALICE)
    assert len(funding_steps(world)) == 1


def test_a_declined_funding_decision_holds_the_move_until_the_dates_agree(world):
    move = START + timedelta(days=21)
    world.start("transition", move, times={"funding-start": move + timedelta(days=7)})
    for st in world.trackers.load(team_id=TEAM, ref="T-1").steps:
        if st.gate and st.step_key != FUNDING_STEP:
            world.trackers.set_step(team_id=TEAM, ref="T-1", step=st.step_key or "",
                                    status=StepStatus.DONE, text=None, actor=ALICE)
    # Only a decision settles it: not applicable or refused would open the gate undecided.
    for status in (StepStatus.NOT_APPLICABLE, StepStatus.REFUSED, StepStatus.DONE):
        with pytest.raises(DomainError, match="is the commissioner's decision"):
            world.trackers.set_step(team_id=TEAM, ref="T-1", step=FUNDING_STEP,
                                    status=status, text="not needed", actor=DAN)
    world.trackers.decide(team_id=TEAM, ref="T-1", decision="declined",
                          text="no funding before the 7th", actor=DAN)
    with pytest.raises(DomainError, match=r"differs from the move date \(declined\)"):
        world.trackers.proceed(team_id=TEAM, ref="T-1", actor=ALICE)
    # A new funding start, still not the move date: a new decision, paged again.
    world.clock.advance(timedelta(hours=1))
    world.trackers.set_time_field(team_id=TEAM, ref="T-1", key="funding-start",
                                  when=move + timedelta(days=3), actor=ALICE)
    (step,) = funding_steps(world)
    assert (step.status, step.decision, step.details["mismatch"]["days"]) == ("open", None, 3)
    assert ("page", world.clock.now(), "funding") in world.work(step.id)
    assert len(world.events("funding_escalated")) == 2
    # The funding start moved to the move date: no decision is needed; the move may go.
    world.trackers.set_time_field(team_id=TEAM, ref="T-1", key="funding-start", when=move,
                                  actor=ALICE)
    (step,) = funding_steps(world)
    assert step.status == "not_applicable" and "now matches the move date" in step.outcome
    assert world.work(step.id) == []
    assert world.trackers.proceed(team_id=TEAM, ref="T-1", actor=ALICE).view.tracker.status \
        == "proceeded"


def test_a_funding_start_given_at_the_start_escalates_at_once(world):
    move = START + timedelta(days=21)
    change = world.start("transition", move, times={"funding-start": move - timedelta(days=2)})
    assert change.next_due == START
    (step,) = funding_steps(world)
    assert step.details["mismatch"]["days"] == -2


# --- the contact log, the quality check, the person, the workspace ---


def test_the_contact_log_records_each_attempt_with_its_time(world):
    world.start("provisional", START, period=timedelta(days=10))
    first = START + timedelta(hours=3)
    world.clock.set(first)
    world.trackers.contact(team_id=TEAM, ref="T-1", outcome="attempted",
                           note="  no answer,   left voicemail ", actor=ALICE)
    world.clock.advance(timedelta(hours=2))
    change = world.trackers.contact(team_id=TEAM, ref="T-1", outcome="reached", note=None,
                                    actor=ALICE)
    assert [(utc(c.at), c.outcome, c.note, c.actor) for c in change.view.contacts] == [
        (first, "attempted", "no answer, left voicemail", ALICE),
        (first + timedelta(hours=2), "reached", None, ALICE)]
    assert [e.after for e in world.events("contact_attempt")] == ["attempted", "reached"]
    with pytest.raises(Refused):
        world.trackers.contact(team_id=TEAM, ref="T-1", outcome="attempted", note=None,
                               actor=EVE)
    assert world.count(ContactAttempt) == 2
    world.start("discharge", START)
    with pytest.raises(DomainError, match="T-2 keeps no contact-attempt log"):
        world.trackers.contact(team_id=TEAM, ref="T-2", outcome="reached", note=None,
                               actor=ALICE)
    # The package's hard decision deadline is at the end of its period.
    t = world.trackers.load(team_id=TEAM, ref="T-1").tracker
    assert utc(t.due_at) == START + timedelta(days=10)
    assert ("deadline", START + timedelta(days=10), "decision") in world.work(t.id)
    with pytest.raises(DomainError, match="Say which funded program"):
        world.trackers.decide(team_id=TEAM, ref="T-1", decision="funded", text=None,
                              actor=ALICE)
    done = world.trackers.decide(team_id=TEAM, ref="T-1", decision="funded",
                                 text="community waiver program", actor=ALICE)
    assert (done.view.tracker.status, done.view.tracker.decision) == ("closed", "funded")


def test_the_quality_check_is_due_24_hours_after_the_health_change(world):
    # Saturday 10:00 in New York, the night before the clocks fall back.
    change_at = datetime(2026, 10, 31, 14, 0, tzinfo=UTC)
    world.clock.set(change_at)
    review = change_at + timedelta(days=7)
    view = world.start("health-change", change_at, values=HEALTH,
                       times={"review": review}).view
    check = next(s for s in view.steps if s.step_key == "quality-check")
    assert utc(check.due_at) == change_at + timedelta(hours=24)
    assert ("deadline", change_at + timedelta(hours=24), "step") in world.work(check.id)
    assert "Quality lead check" in (check.title or "")
    review_step = next(s for s in view.steps if s.step_key == "review")
    assert utc(review_step.due_at) == review  # the review date as given
    assert view.tracker.details["values"]["threshold"] == HEALTH["threshold"]


def test_the_person_view_and_another_workspace(world):
    world.start("discharge", START)
    world.start("provisional", START)
    picture = world.trackers.person(team_id=TEAM, person_ref="P-1042")
    assert [v.reference for v in picture.trackers] == ["T-1", "T-2"]
    assert world.trackers.person(team_id=OTHER_TEAM, person_ref="P-1042").trackers == []
    with pytest.raises(NotFound, match="No tracker T-1 in this workspace"):
        world.trackers.load(team_id=OTHER_TEAM, ref="T-1")
    other = world.start("discharge", START, team=OTHER_TEAM)
    assert other.view.reference == "T-1"  # numbered per workspace
    with pytest.raises(NotFound):
        world.trackers.set_step(team_id=OTHER_TEAM, ref="T-2", step="medication-list",
                                status=StepStatus.DONE, text=None, actor=ALICE)


# --- a click that read the tracker a moment before another change ---


def test_a_change_that_read_the_tracker_before_another_one_ended_it_changes_nothing(
        world, monkeypatch):
    """Each change reads the tracker, checks it, then writes in its own transaction: what it
    read may be stale by then (a double click on Proceed, a cancel as the engine closes the
    sprint). The tracker as it is inside the write transaction decides."""
    move = START + timedelta(days=30)
    ref = world.start("transition", move).view.reference
    for st in world.trackers.load(team_id=TEAM, ref=ref).steps:
        if st.gate:
            world.trackers.set_step(team_id=TEAM, ref=ref, step=st.step_key, actor=ALICE,
                                    status=StepStatus.DONE, text=None)
    stale = world.trackers.load(team_id=TEAM, ref=ref)
    world.trackers.proceed(team_id=TEAM, ref=ref, actor=ALICE)
    world.trackers.cancel(team_id=TEAM, ref=ref, reason="move called off", actor=ALICE)
    monkeypatch.setattr(world.trackers, "load", lambda **_kw: stale)
    before = world.counts()
    with pytest.raises(DomainError, match="cancelled"):
        world.trackers.proceed(team_id=TEAM, ref=ref, actor=ALICE)
    with pytest.raises(DomainError, match="cancelled"):
        world.trackers.set_time_field(team_id=TEAM, ref=ref, key="funding-start",
                                      when=move + timedelta(days=2), actor=ALICE)
    with pytest.raises(DomainError, match="cancelled"):  # the anchor: `/baton set T-1 at:`
        world.trackers.set_time_field(team_id=TEAM, ref=ref, key="at",
                                      when=move + timedelta(days=2), actor=ALICE)
    assert world.counts() == before
    monkeypatch.undo()
    t = world.trackers.load(team_id=TEAM, ref=ref).tracker
    assert (t.status, t.cancel_reason) == ("cancelled", "move called off")
    assert len(world.events("proceeded")) == 1


def test_a_contact_attempt_or_cancel_on_a_package_decided_meanwhile_changes_nothing(
        world, monkeypatch):
    ref = world.start("provisional", START).view.reference
    stale = world.trackers.load(team_id=TEAM, ref=ref)
    world.trackers.decide(team_id=TEAM, ref=ref, decision="funded",
                          text="Community Waiver", actor=ALICE)
    monkeypatch.setattr(world.trackers, "load", lambda **_kw: stale)
    before = world.counts()
    with pytest.raises(DomainError, match="closed"):
        world.trackers.contact(team_id=TEAM, ref=ref, outcome="attempted", note=None,
                               actor=ALICE)
    with pytest.raises(DomainError, match="closed"):
        world.trackers.cancel(team_id=TEAM, ref=ref, reason="no longer needed", actor=ALICE)
    assert world.counts() == before
    monkeypatch.undo()
    assert world.trackers.load(team_id=TEAM, ref=ref).tracker.status == "closed"


def test_a_date_set_later_moves_the_step_it_times(world):
    """The service change's follow-up step is due on the follow-up date (else 14 days):
    a follow-up date given or changed with /baton set moves the step and its deadline."""
    values = {"trigger": "mobility", "impact": "needs a hoist", "action": "two carers",
              "funding": "no"}
    ref = world.start("service-change", START, values=values).view.reference
    follow = next(s for s in world.trackers.load(team_id=TEAM, ref=ref).steps
                  if s.step_key == "follow-up")
    assert utc(follow.due_at) == START + timedelta(days=14)
    world.clock.advance(timedelta(hours=1))
    when = START + timedelta(days=3)
    change = world.trackers.set_time_field(team_id=TEAM, ref=ref, key="follow-up", when=when,
                                           actor=ALICE)
    follow = next(s for s in change.view.steps if s.step_key == "follow-up")
    assert utc(follow.due_at) == when
    assert ("deadline", when, "step") in world.work(follow.id)
    assert all(due <= when for _, due, _ in world.work(follow.id))
    assert change.next_due is not None and change.next_due <= when
