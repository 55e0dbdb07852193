"""Trackers' timed behaviours through the time engine, end to end: the post-discharge
sprint's Day 0 / Day 1 / Day 2–3 across a daylight-saving change and its close with a
summary; a provisional package's hard decision deadline (reminder, page, or none once
decided) and its contact log; the health change's quality lead check 24 hours after, a step
of its own. Started through TrackerService, time moved on the injected clock, the engine
swept, and what Slack received read from the emulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.trackers import StepStatus
from tests.conftest import ALICE, BOB, CHANNEL, START, TEAM, blocks_of
from tests.fakes import trackers as fx

NY = ZoneInfo("America/New_York")
# Discharge on Friday 2027-03-12 at 10:00 in New York (EST); clocks go forward on Sunday.
DISCHARGE = datetime(2027, 3, 12, 15, 0, tzinfo=UTC)


@pytest.fixture
def baton(serve_factory, database_url, tmp_path, slack):
    return fx.serve_trackers(serve_factory, database_url, tmp_path, slack)


def settle(baton, ref: str, key: str, status: StepStatus = StepStatus.DONE,
           text: str | None = None):
    return baton.runtime.trackers.set_step(team_id=TEAM, ref=ref, step=key, status=status,
                                           text=text, actor=ALICE)


def overdue_at(baton, step_id: int) -> list[datetime]:
    return [e.at for e in fx.events(baton, "step_overdue", record_id=step_id)]


def test_the_discharge_sprint_keeps_its_days_across_dst_and_closes_with_its_summary(baton):
    baton.clock.set(DISCHARGE - timedelta(hours=1))
    view = fx.start(baton, "discharge", anchor=DISCHARGE)
    due = {s.step_key: s.due_at for s in view.steps}
    day0, day1, day23 = (DISCHARGE + timedelta(hours=8),  # Friday 18:00 EST
                         datetime(2027, 3, 13, 15, 0, tzinfo=UTC),  # Saturday 10:00 EST
                         DISCHARGE + timedelta(hours=72))  # Monday 11:00 EDT: 72 hours
    assert {due[k] for k in ("discharge-summary", "medication-list", "immediate-risks")} == {day0}
    assert {due[k] for k in ("first-visit", "home-recheck", "equipment")} == {day1}
    assert {due[k] for k in ("services-active", "authorizations", "plan-understood")} == {day23}
    assert [d.astimezone(NY).strftime("%a %H:%M %Z") for d in (day1, day23)] == [
        "Sat 10:00 EST", "Mon 11:00 EDT"]
    # "Day 1" keeps the wall clock; the sprint is 72 hours, elapsed: it closes when its
    # Day 2–3 steps fall due, an hour later on the clock than it started.
    assert view.tracker.due_at == day23

    # Day 0: one done on time, one refused by the person (how it was managed), one late.
    baton.clock.set(DISCHARGE + timedelta(hours=5))
    settle(baton, "T-1", "discharge-summary")
    settle(baton, "T-1", "medication-list", StepStatus.REFUSED,
           "declined the pharmacy visit; the pharmacist reconciled the list by phone")
    fx.sweep_at(baton, day0)
    immediate = fx.step_of(view, "immediate-risks")
    assert overdue_at(baton, immediate.id) == [day0]
    baton.clock.set(day0 + timedelta(hours=2))
    settle(baton, "T-1", "immediate-risks")
    # Day 1: on time, not applicable, and one left open: it pages at Saturday 10:00 EST.
    baton.clock.set(day1 - timedelta(hours=1))
    settle(baton, "T-1", "first-visit")
    settle(baton, "T-1", "home-recheck", StepStatus.NOT_APPLICABLE, "home unchanged")
    fx.sweep_at(baton, day1 - timedelta(seconds=1))
    assert overdue_at(baton, fx.step_of(view, "equipment").id) == []
    fx.sweep_at(baton, day1)
    assert overdue_at(baton, fx.step_of(view, "equipment").id) == [day1]
    assert "Equipment and assistive needs" in fx.rows(fx.pages(baton)[-1])[0]
    # Day 2–3: one done on time; two left open, not done when the sprint closes.
    baton.clock.set(day23 - timedelta(hours=3))
    settle(baton, "T-1", "services-active")
    # The sprint's end: closed by the engine with what was done on time, late, not at all.
    fx.sweep_at(baton, day23 - timedelta(seconds=1))
    assert baton.runtime.trackers.load(team_id=TEAM, ref="T-1").tracker.status == "open"
    paged = len(fx.pages(baton))
    fx.sweep_at(baton, day23)
    closed = baton.runtime.trackers.load(team_id=TEAM, ref="T-1").tracker
    summary = ("on time 3; late 1 (Immediate risks); not done 3 (Equipment and assistive "
               "needs, Cross-agency check: authorizations in place, The participant "
               "understands the plan); refused by the person 1 (Medication list); "
               "not applicable 1 (Home environment re-check)")
    assert closed.status == "closed" and closed.outcome == summary
    assert closed.closed_at == day23
    (audit,) = fx.events(baton, "sprint_closed")
    assert audit.actor == "baton" and audit.note == summary and audit.after == "closed"
    assert f"T-1: :checkered_flag: The sprint closed: {summary}." in fx.thread(baton, view)
    card = [c for c in baton.slack.calls_to("chat.update")
            if c.params["ts"] == closed.card_ts]
    assert card, "the tracker's card is re-rendered when the sprint closes"
    # The steps left open are chased no more: not paged at the close, nor after it.
    assert overdue_at(baton, fx.step_of(view, "authorizations").id) == []
    for step in view.steps:
        assert [k for k, _ in fx.pending(baton, step.id) if k != "thread_line"] == []
    # An old page of a step left open says the step is no longer chased; acknowledging it
    # after the close is refused and starts nothing again.
    (old,) = [p for p in fx.pages(baton) if "tier 2" in p.params["text"]]
    shown = [c for c in baton.slack.calls_to("chat.update") if c.params["ts"] == old.response["ts"]]
    assert shown and "not done when its tracker ended" in str(shown[-1].params["blocks"])
    baton.clock.set(day23 + timedelta(hours=1))
    fx.ack(baton, old, BOB)
    assert fx.events(baton, "page_acknowledged") == []
    fx.sweep_at(baton, day23 + timedelta(days=2))
    assert len(fx.pages(baton)) == paged
    assert fx.events(baton, "escalation_resumed") == []


def test_a_provisional_package_reminds_then_pages_at_its_hard_decision_deadline(baton):
    undecided = fx.start(baton, "provisional", anchor=START, period=timedelta(days=7))
    decided = fx.start(baton, "provisional", anchor=START, period=timedelta(days=7))
    deadline = START + timedelta(days=7)
    assert undecided.tracker.due_at == deadline
    trackers = baton.runtime.trackers
    # T-2 is decided at once: nothing more is sent for it, nor for its steps.
    trackers.decide(team_id=TEAM, ref="T-2", decision="funded", text="HCBS waiver program",
                    actor=ALICE)
    for row in (decided.tracker, *decided.steps):
        assert fx.pending(baton, row.id) == []

    # Every contact attempt is logged with its time and who made it.
    baton.clock.set(START + timedelta(hours=1))
    trackers.contact(team_id=TEAM, ref="T-1", outcome="attempted", note="no answer at home",
                     actor=ALICE)
    # Its contents are delivered on time (a step past due would page like any other).
    baton.clock.set(START + timedelta(hours=12))
    for step in undecided.steps:
        settle(baton, "T-1", step.step_key)
    baton.clock.set(START + timedelta(hours=26))
    trackers.contact(team_id=TEAM, ref="T-1", outcome="reached", note="visit booked Thursday",
                     actor=ALICE)
    log = trackers.load(team_id=TEAM, ref="T-1").contacts
    assert [(c.at, c.outcome, c.note, c.actor) for c in log] == [
        (START + timedelta(hours=1), "attempted", "no answer at home", ALICE),
        (START + timedelta(hours=26), "reached", "visit booked Thursday", ALICE)]
    assert [e.after for e in fx.events(baton, "contact_attempt")] == ["attempted", "reached"]

    fx.sweep_at(baton, deadline - timedelta(hours=2))
    assert not any("T-2" in c.params["text"] for c in fx.dms(baton))
    (reminder,) = fx.dms(baton)
    assert reminder.params["text"].startswith(":alarm_clock: *T-1* · P-1042 · Provisional ")
    assert "left before its hard decision deadline" in reminder.params["text"]
    assert "2h left" in reminder.params["text"]
    assert fx.pages(baton) == []
    fx.sweep_at(baton, deadline)
    (page,) = fx.pages(baton)
    assert page.params["text"].startswith(f"<@{ALICE}> :rotating_light: Escalation tier 1")
    (row,) = fx.rows(page)
    assert row.startswith("*T-1* · P-1042 · Provisional support package")
    assert "hard decision deadline passed" in row
    assert "`/baton decide T-1 funded PROGRAM`" in row
    assert "T-2" not in str(blocks_of(page))
    (due,) = fx.events(baton, "decision_due")
    assert due.record_id == undecided.tracker.id and due.at == deadline
    assert any("hard decision deadline has passed" in line for line in fx.thread(baton, undecided))

    # Decided after the page: the climb stops there.
    baton.clock.set(deadline + timedelta(hours=1))
    trackers.decide(team_id=TEAM, ref="T-1", decision="escalated",
                    text="no funded place yet: evidence sent to the commissioner", actor=ALICE)
    assert [k for k, _ in fx.pending(baton, undecided.tracker.id) if k != "thread_line"] == []
    fx.sweep_at(baton, deadline + timedelta(days=1))
    assert len(fx.pages(baton)) == 1


def test_the_quality_lead_check_is_its_own_step_due_24_hours_after(baton):
    values = {"source": "hospital discharge letter", "impact": "needs two-person transfers",
              "instructions": "two staff for every transfer; no bath until review",
              "family": "daughter informed by phone", "threshold": "any fall or new pain"}
    view = fx.start(baton, "health-change", anchor=START, values=values,
                 times={"review": START + timedelta(days=7)})
    check = fx.step_of(view, "quality-check")
    acknowledged = fx.step_of(view, "case-manager")
    assert check.id != acknowledged.id and check.reference == "T-1.4"
    assert check.title == "Quality lead check: instructions clear, case manager acknowledged"
    assert check.due_at == START + timedelta(hours=24)
    for key in ("instructions", "case-manager", "family"):
        settle(baton, "T-1", key)
    fx.sweep_at(baton, START + timedelta(hours=24) - timedelta(seconds=1))
    assert fx.pages(baton) == []
    fx.sweep_at(baton, START + timedelta(hours=24))
    (page,) = fx.pages(baton)
    (row,) = fx.rows(page)
    assert row.startswith("*T-1.4* · P-1042 · Quality lead check: instructions clear, case "
                          f"manager acknowledged (Provider, owner <@{ALICE}>)")
    assert page.params["channel"] == CHANNEL
    assert overdue_at(baton, check.id) == [START + timedelta(hours=24)]
    # Done late, it says so in the audit trail.
    baton.clock.advance(timedelta(hours=1))
    settle(baton, "T-1", "quality-check", text="instructions read back by both staff")
    (changed,) = [e for e in fx.events(baton, "step_changed", record_id=check.id)]
    assert changed.after == "done" and changed.at == START + timedelta(hours=25)
