"""Trackers through the time engine, end to end: a step past due climbing its escalation
ladder and acknowledged from the page, the commissioner escalation of a funding start that
differs from the move date, a service change's immediate risk paging every urgent target in
one message, and one workspace's tracker out of another's reach. Trackers are started
through TrackerService (runtime.trackers), time is moved on the injected clock and the
engine swept; what Slack received is read from the emulator, buttons pressed with signed
requests."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.domain.records import DomainError
from bot.domain.trackers import StepStatus
from bot.services.records import NotFound
from bot.slack.ids import ActionId
from store.models import DueWork
from tests.conftest import ALICE, BOB, CHANNEL, START, TEAM, blocks_of
from tests.fakes.trackers import (
    CAROL,
    COMMISSIONER,
    COMMISSIONERS,
    EXECUTIVE,
    EXECUTIVES,
    MANAGER,
    OPERATIONS,
    SUPERVISOR,
    ack,
    dms,
    events,
    last_edit,
    page_work_ids,
    pages,
    pending,
    rows,
    serve_trackers,
    start,
    step_of,
    sweep_at,
    thread,
)

DAY0 = START + timedelta(hours=8)  # a discharge at START: its Day 0 steps are due 8h later


@pytest.fixture
def baton(serve_factory, database_url, tmp_path, slack):
    return serve_trackers(serve_factory, database_url, tmp_path, slack)


def settle(baton, view, key: str, status: StepStatus = StepStatus.DONE, text: str | None = None,
           *, team: str = TEAM):
    return baton.runtime.trackers.set_step(team_id=team, ref=view.reference, step=key,
                                           status=status, text=text, actor=ALICE)


def test_a_step_past_due_climbs_its_ladder_is_acknowledged_and_done_stops_it(baton):
    baton.command("/baton", f"coordinator <@{MANAGER}>", user=MANAGER)
    view = start(baton, "discharge", anchor=START)
    settle(baton, view, "discharge-summary")
    settle(baton, view, "immediate-risks")
    meds = step_of(view, "medication-list")
    assert sweep_at(baton, DAY0 - timedelta(seconds=1)) > 0  # the 2h reminder only
    assert pages(baton) == []
    sweep_at(baton, DAY0)
    (tier1,) = pages(baton)
    # Tier 1 names the step's owner, and the row says which step, whose, and since when.
    assert tier1.params["text"].startswith(f"<@{ALICE}> :rotating_light: Escalation tier 1, "
                                           "Step owner: 1 step needs you.")
    (row,) = rows(tier1)
    assert row.startswith(f"*{meds.reference}* · P-1042 · Medication list (Pharmacy, Day 0, "
                          f"owner <@{ALICE}>)")
    assert "Past its due time *just now*" in row and row.endswith("· open")
    assert "partner" not in str(blocks_of(tier1)).lower()
    (overdue,) = events(baton, "step_overdue")
    assert overdue.record_id == meds.id and overdue.actor == "baton"
    assert any(line.startswith(f":alarm_clock: {meds.reference} *Medication list*")
               for line in thread(baton, view))

    # Nobody acknowledges: the coordinator of the day is nudged halfway to tier 2, then
    # tier 2 pages four hours later, in the same channel, naming Bob.
    sweep_at(baton, DAY0 + timedelta(hours=2))
    sweep_at(baton, DAY0 + timedelta(hours=3, minutes=59))
    assert len(pages(baton)) == 1
    (nudge,) = [c for c in dms(baton) if "Coordinator nudge" in c.params["text"]]
    assert nudge.params["text"] == (
        f":bell: Coordinator nudge: the tier 1 page for *{meds.reference}* (P-1042 · "
        f"Medication list, owner <@{ALICE}>) has waited 2h with no acknowledgement. Check "
        "someone has it.")
    sweep_at(baton, DAY0 + timedelta(hours=4))
    tier2 = pages(baton)[-1]
    assert tier2.params["text"].startswith(f"<@{BOB}> :rotating_light: Escalation tier 2, "
                                           "Service Manager")
    assert "Past its due time by *4h*" in rows(tier2)[0]
    assert [e.after for e in events(baton, "paged", record_id=meds.id)] == [1, 2]
    assert (f"{meds.reference}: escalation tier 2 (Service Manager) paged in <#{CHANNEL}>."
            in thread(baton, view))

    # Tier 2 is Bob's: the owner and a bystander are refused; Bob's click stops the climb.
    baton.clock.advance(timedelta(minutes=10))
    for stranger in (CAROL, ALICE):
        ack(baton, tier2, stranger)
        assert "acknowledge tier 2" in baton.last_reply()
    assert events(baton, "page_acknowledged") == []
    ack(baton, tier2, BOB)
    (acked,) = events(baton, "page_acknowledged")
    assert acked.actor == BOB and acked.record_id == meds.id and acked.after == 2
    assert f"Acknowledged by <@{BOB}>" in str(blocks_of(last_edit(baton, tier2)))
    # The climb stops (no page planned); the ladder resumes only if nothing follows.
    assert [k for k, _ in pending(baton, meds.id) if k in ("page", "ack_timeout")] == [
        "ack_timeout"]
    assert any(f"{meds.reference}: Escalation tier 2 acknowledged by <@{BOB}>" in line
               for line in thread(baton, view))

    # Done: nothing more is planned for the step, and its page says so when refreshed.
    baton.clock.advance(timedelta(minutes=20))
    change = settle(baton, view, "medication-list", text="list reconciled with the pharmacy")
    assert pending(baton, meds.id) == []
    channel, ts = change.page_at
    baton.runtime.escalation.refresh_page(channel=channel, ts=ts)
    edited = last_edit(baton, tier2)
    assert "nothing on this page needs you any more" in edited.params["text"]
    assert ":white_check_mark: done" in rows(edited)[0] and page_work_ids(edited) == []
    sweep_at(baton, START + timedelta(days=1))  # Day 1's due time
    assert len(pages(baton)) == 2 + 1  # Day 1's three steps, in one page; nothing for meds
    assert meds.reference not in str(blocks_of(pages(baton)[-1]))
    assert events(baton, "escalation_resumed") == []


def test_funding_start_differing_from_the_move_date_pages_the_commissioner_contact(baton):
    move = START + timedelta(days=30)
    view = start(baton, "transition", anchor=move,
                 times={"funding-start": move + timedelta(days=3)})
    funding = step_of(view, "funding-decision")
    assert funding.gate and funding.status == "open"
    (escalated,) = events(baton, "funding_escalated")
    assert escalated.record_id == funding.id
    sweep_at(baton, START)
    (page,) = pages(baton)
    assert page.params["text"].startswith(f"<!subteam^{COMMISSIONERS}> :rotating_light: "
                                          "Escalation tier 1, Commissioner")
    (row,) = rows(page)
    assert "differs from the move date" in row and "by *3 days* (later)" in row
    assert "approved adjustment / declined / other" in row
    assert "`/baton decide T-1 approved-adjustment|declined|other TEXT`" in row
    assert "Impact statement: _not recorded yet_" in row

    # The impact statement shows on the page once written.
    change = baton.runtime.trackers.impact_statement(
        team_id=TEAM, ref="T-1", actor=ALICE,
        statement={"staffing": "32 extra hours in week one", "overnight": "waking night x3"})
    baton.runtime.escalation.refresh_page(channel=change.page_at[0], ts=change.page_at[1])
    row = rows(last_edit(baton, page))[0]
    assert ("Impact statement: Staffing hours: 32 extra hours in week one; Overnight "
            "coverage: waking night x3") in row

    # A member of the commissioner contact acknowledges, as on any page.
    ack(baton, page, CAROL)
    assert events(baton, "page_acknowledged") == []
    ack(baton, page, COMMISSIONER)
    assert [e.actor for e in events(baton, "page_acknowledged")] == [COMMISSIONER]

    # Every other gate closed: "proceed" is still refused while the decision is open.
    for step in view.steps:
        if step.gate and step.id != funding.id:
            settle(baton, view, step.step_key)
    with pytest.raises(DomainError) as refused:
        baton.runtime.trackers.proceed(team_id=TEAM, ref="T-1", actor=ALICE)
    assert "Commissioner decision" in str(refused.value)
    assert "Confirmed move date" not in str(refused.value)
    (audit,) = events(baton, "proceed_refused")
    assert "Commissioner decision" in (audit.note or "")
    assert ("deadline", "step") in pending(baton, funding.id)

    # The decision stops the escalation; then the move may go ahead.
    baton.clock.advance(timedelta(hours=5))
    change = baton.runtime.trackers.decide(
        team_id=TEAM, ref="T-1", decision="approved-adjustment",
        text="funding moved to the move date", actor=ALICE)
    assert pending(baton, funding.id) == []
    baton.runtime.escalation.refresh_page(channel=change.page_at[0], ts=change.page_at[1])
    assert ": Approved adjustment (funding moved to the move date)" in rows(
        last_edit(baton, page))[0]
    (decided,) = events(baton, "funding_decided")
    assert decided.after == "approved-adjustment"
    sweep_at(baton, START + timedelta(days=3))  # past the decision's deadline (2 days)
    assert len(pages(baton)) == 1
    assert baton.runtime.trackers.proceed(team_id=TEAM, ref="T-1", actor=ALICE) \
        .view.tracker.status == "proceeded"


def test_an_immediate_risk_pages_every_urgent_target_in_one_message(baton):
    values = {"trigger": "risk profile", "impact": "falls risk up after a new medication",
              "action": "two-person transfers from today", "funding": "no"}
    start(baton, "service-change", anchor=START, values={**values, "immediate-risk": "no"})
    start(baton, "service-change", anchor=START, values={**values, "immediate-risk": "yes"})
    sweep_at(baton, START)
    (page,) = pages(baton)  # one message, only for the immediate risk (T-2)
    text = page.params["text"]
    assert text.startswith(f"<@{SUPERVISOR}> <@{OPERATIONS}> <!subteam^{EXECUTIVES}> "
                           ":rotating_light: Escalation tier 1, Immediate risk: 1 tracker")
    (row,) = rows(page)
    assert row.startswith("*T-2* · P-1042 · Service change notification")
    assert ":rotating_light: *Immediate risk*" in row
    for said in ("Change trigger: risk profile", "Person impact: falls risk up after a new "
                 "medication", "Provider action: two-person transfers from today"):
        assert said in row
    (urgent,) = events(baton, "urgent_planned")
    assert urgent.record_ref == "T-2"
    # Any of the three may acknowledge it; someone else may not.
    ack(baton, page, CAROL)
    assert "acknowledge tier 1" in baton.last_reply()
    ack(baton, page, EXECUTIVE)
    assert [e.actor for e in events(baton, "page_acknowledged")] == [EXECUTIVE]

    # As on a record's page: what is done meanwhile is recorded from the page, and the
    # ladder stays stopped past its acknowledgement timeout (1 hour).
    tracker = baton.runtime.trackers.load(team_id=TEAM, ref="T-2").tracker
    baton.click(ActionId.INTERIM, str(tracker.id), user=SUPERVISOR)
    call = baton.slack.calls_to("views.open")[-1]
    view = dict(call.json_param("view"))
    view["id"] = call.response["view"]["id"]
    assert [b.get("block_id") for b in view["blocks"][1:]] == ["text"]
    assert baton.submit(view, {"text": "second carer on every shift from tonight"},
                        user=SUPERVISOR).text == ""
    (interim,) = events(baton, "interim_action")
    assert interim.actor == SUPERVISOR and interim.record_ref == "T-2"
    assert ("T-2: Interim action recorded by <@U0SUPERV1>: second carer on every shift from "
            "tonight") in [m["text"] for m in baton.slack.thread(CHANNEL, tracker.card_ts)]
    sweep_at(baton, START + timedelta(hours=3))
    assert len(pages(baton)) == 1 and events(baton, "escalation_resumed") == []


def test_a_tracker_is_out_of_another_workspaces_reach(baton):
    other = "T0OTHER01"
    mine = start(baton, "discharge", anchor=START)
    theirs = start(baton, "discharge", anchor=START, team=other, card=False)
    assert mine.reference == theirs.reference == "T-1"  # numbered per workspace
    trackers = baton.runtime.trackers
    with pytest.raises(NotFound):
        trackers.load(team_id=other, ref="T-2")
    with pytest.raises(NotFound):
        trackers.set_step(team_id=other, ref="T-1", step="", status=StepStatus.DONE,
                          text=None, actor=ALICE, step_id=step_of(mine, "medication-list").id)
    with pytest.raises(NotFound):
        trackers.by_id(team_id=other, tracker_id=mine.tracker.id)
    # B's change touches only B's step of the same name.
    settle(baton, theirs, "medication-list", team=other)
    assert step_of(trackers.load(team_id=TEAM, ref="T-1"), "medication-list").status == "open"
    # Both trackers' Day 0 steps fall due together: a page each, never one mixing them.
    sweep_at(baton, DAY0)
    by_team = {frozenset(_record_ids(baton, p)) for p in pages(baton)}
    assert by_team == {frozenset(s.id for s in mine.steps if s.step_group == "Day 0"),
                       frozenset(s.id for s in theirs.steps if s.step_group == "Day 0"
                                 and s.step_key != "medication-list")}
    assert {e.team_id for e in events(baton, "paged") if e.record_id in
            {s.id for s in mine.steps}} == {TEAM}


def _record_ids(baton, page) -> set[int]:
    ids = page_work_ids(page)
    with baton.sessions() as s:
        return set(s.scalars(select(DueWork.record_id).where(DueWork.id.in_(ids))))


def test_a_step_reopened_after_climbing_to_tier_2_is_paged_afresh_and_its_tier_1_acknowledged(
        baton):
    view = start(baton, "discharge", anchor=START)
    settle(baton, view, "discharge-summary")
    settle(baton, view, "immediate-risks")
    meds = step_of(view, "medication-list")
    sweep_at(baton, DAY0)
    sweep_at(baton, DAY0 + timedelta(hours=4))
    assert [e.after for e in events(baton, "paged", record_id=meds.id)] == [1, 2]
    baton.clock.advance(timedelta(minutes=5))
    settle(baton, view, "medication-list")
    # Reopened past due: chased again from now, from tier 1, as a fresh climb.
    settle(baton, view, "medication-list", StepStatus.OPEN)
    sweep_at(baton, baton.clock.now())
    fresh = pages(baton)[-1]
    assert fresh.params["text"].startswith(f"<@{ALICE}> :rotating_light: Escalation tier 1")
    ack(baton, fresh, ALICE)  # before the fix: "has since been escalated to tier 2"
    assert [e.after for e in events(baton, "page_acknowledged", record_id=meds.id)] == [1]


def test_a_step_blocked_after_its_page_stops_the_climb_and_the_coordinators_nudge(baton):
    baton.command("/baton", f"coordinator <@{MANAGER}>", user=MANAGER)
    view = start(baton, "discharge", anchor=START)
    settle(baton, view, "discharge-summary")
    settle(baton, view, "immediate-risks")
    meds = step_of(view, "medication-list")
    sweep_at(baton, DAY0)
    assert len(pages(baton)) == 1
    baton.clock.set(DAY0 + timedelta(hours=1))
    settle(baton, view, "medication-list", StepStatus.BLOCKED, "pharmacy closed until 9am")
    # The reason is the answer: no tier 2, and the coordinator is not told the page waits.
    sweep_at(baton, DAY0 + timedelta(hours=2))
    sweep_at(baton, DAY0 + timedelta(hours=4))
    assert len(pages(baton)) == 1
    assert [c for c in dms(baton) if "Coordinator nudge" in c.params["text"]] == []
    assert events(baton, "coordinator_nudged", record_id=meds.id) == []
