"""Pathway trackers in Slack, end to end: the transition's funding start given later (the
commissioner escalation, its impact statement form and its decision form), a provisional
package's decision, `/baton show` and `/baton cancel` for a tracker, Reopen, and the start
form a late trigger_id could not open."""

from __future__ import annotations

import pytest

from bot.slack import wire
from bot.slack.ids import TrackerAction, TrackerView
from store.models import Record
from tests.conftest import ALICE, TEAM, blocks_of
from tests.e2e import tracker_kit as kit


@pytest.fixture
def baton(serve_factory, database_url, tmp_path, slack):
    return kit.serve_with_roles(serve_factory, database_url, tmp_path, slack)


def test_a_funding_start_that_differs_from_the_move_date_opens_the_escalation_forms(baton):
    baton.command("/baton", "start transition person: P-2001 at: Dec 21 10am")
    assert TrackerAction.IMPACT not in str(kit.card(baton))
    baton.command("/baton", "set T-1 funding-start: Dec 28 9am")
    funding = kit.step(baton, "funding-decision")
    assert funding.gate and funding.details["mismatch"]["days"] == 7
    assert ":rotating_light: Funding start date:" in kit.thread_lines(baton)[-1]
    assert len(kit.events(baton, "funding_escalated")) == 1
    blocks = kit.card(baton)
    assert "Commissioner decision" in kit.step_block(blocks, funding.reference)["text"]["text"]
    assert "accessory" not in kit.step_block(blocks, funding.reference)  # Decide records it

    baton.click(TrackerAction.IMPACT, kit.button(blocks, TrackerAction.IMPACT))
    view = kit.opened_view(baton)
    assert view["callback_id"] == "tracker_impact"
    body = baton.submit(view, {}).json()
    assert body["response_action"] == "errors" and set(body["errors"]) == {"staffing"}
    baton.submit(view, {"staffing": "40 extra hours in week one",
                        "overnight": "waking night cover for 7 nights",
                        "duplicated": "two providers paid for 7 days"})
    impact = kit.step(baton, "funding-decision").details["impact"]
    assert impact["staffing"] == "40 extra hours in week one" and "supervision" not in impact
    assert "Staffing hours: 40 extra hours" in str(kit.card(baton))
    # The page the commissioner reads names every part the form asked, by its label.
    baton.runtime.engine.run_due()  # the commissioner's page goes out, as now stands
    pages = [str(c.params) for c in baton.slack.calls_to("chat.postMessage")
             if "Escalation tier" in str(c.params) and "Impact statement:" in str(c.params)]
    assert pages and "Cost of duplicated support: two providers paid for 7 days" in pages[-1]

    baton.click(TrackerAction.DECIDE, kit.button(kit.card(baton), TrackerAction.DECIDE))
    view = kit.opened_view(baton)
    options = [o["value"] for b in view["blocks"] if b.get("block_id") == "decision"
               for o in b["element"]["options"]]
    assert options == ["approved-adjustment", "declined", "other"]
    baton.submit(view, {"decision": "approved-adjustment", "text": "funding moved to Dec 21"})
    row = kit.step(baton, "funding-decision")
    assert (row.status, row.decision, row.outcome) == ("done", "approved-adjustment",
                                                       "funding moved to Dec 21")
    assert "*Approved adjustment*" in kit.thread_lines(baton)[-1]
    assert TrackerAction.IMPACT not in str(kit.card(baton))


def test_a_provisional_package_decision_needs_its_program_then_closes_it(baton):
    baton.command("/baton", "start provisional person: P-3003 at: now")
    baton.click(TrackerAction.DECIDE, kit.button(kit.card(baton), TrackerAction.DECIDE))
    view = kit.opened_view(baton)
    body = baton.submit(view, {"decision": "funded"}).json()
    assert body["response_action"] == "errors" and set(body["errors"]) == {"text"}
    assert kit.tracker(baton).status == "open"
    baton.submit(view, {"decision": "funded", "text": "Community Living Waiver"})
    t = kit.tracker(baton)
    assert (t.status, t.decision, t.outcome) == ("closed", "funded", "Community Living Waiver")
    blocks = kit.card(baton)
    assert "*Decision:* Moved to a funded program: Community Living Waiver" in str(blocks)
    assert not [b for b in blocks if b["type"] == "actions"]  # closed: no controls


def test_show_sends_the_card_to_the_caller_only_and_cancel_closes_it(baton):
    baton.command("/baton", "start discharge person: P-1042 at: now")
    baton.command("/baton", "show T-1.2")
    reply = [c for c in baton.slack.calls if c.method == "response_url"][-1]
    assert reply.params["response_type"] == "ephemeral"
    assert "T-1 · P-1042 · Post-discharge 72-hour sprint" in str(blocks_of(reply))
    baton.command("/baton", "ack T-1")
    assert "T-1 is a tracker" in baton.last_reply()

    baton.command("/baton", "cancel T-1 started for the wrong person")
    t = kit.tracker(baton)
    assert (t.status, t.cancel_reason) == ("cancelled", "started for the wrong person")
    assert "cancelled by" in kit.thread_lines(baton)[-1]
    blocks = kit.card(baton)
    assert "*Cancelled:* started for the wrong person" in str(blocks)
    assert not any("accessory" in b for b in blocks)
    baton.command("/baton", "step T-1 medication-list done")
    assert "cancelled: neither it nor its steps can change" in baton.last_reply()


def test_reopen_on_a_settled_step_puts_it_back_open(baton):
    baton.command("/baton", "start discharge person: P-1042 at: now")
    kit.choose(baton, kit.option(kit.card(baton), "T-1.3", "Not applicable"))
    baton.submit(kit.opened_view(baton), {"text": "no immediate risks at discharge"})
    assert kit.step(baton, "immediate-risks").status == "not_applicable"
    reopen = kit.step_block(kit.card(baton), "T-1.3")["accessory"]
    assert reopen["text"]["text"] == "Reopen"
    baton.click(TrackerAction.STEP, reopen["value"])
    row = kit.step(baton, "immediate-risks")
    assert (row.status, row.outcome) == ("open", None)
    assert "reopened" in kit.thread_lines(baton)[-1] and len(kit.thread_lines(baton)) == 2


def test_a_late_trigger_offers_the_start_form_with_what_was_typed(baton):
    typed = "start service-change person: P-4004 at: now trigger: mobility"
    baton.command("/baton", typed, trigger_id=baton.slack.issue_trigger(age=5))
    assert baton.slack.calls_to("views.open")[-1].response["ok"] is False
    reply = [c for c in baton.slack.calls if c.method == "response_url"][-1]
    (form_button,) = [e for b in blocks_of(reply) if b["type"] == "actions"
                      for e in b["elements"]]
    assert form_button["action_id"] == TrackerAction.START_FORM
    baton.click(form_button["action_id"], form_button["value"])
    view = kit.opened_view(baton)
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs["person"]["initial_value"] == "P-4004"
    assert inputs["trigger"]["initial_option"]["value"] == "mobility"
    assert kit.count(baton, Record) == 0
    baton.submit(view, {"person": "P-4004", "at": "now", "owner": ALICE, "trigger": "mobility",
                        "impact": "needs a walking frame", "action": "two-person support",
                        "funding": "yes"})
    t = kit.tracker(baton)
    assert t.details["values"]["funding"] == "yes"
    assert kit.count(baton, Record, kind="step") == 5  # the commissioner's two steps apply


def test_every_tracker_control_and_form_answers_even_one_baton_did_not_make(baton):
    """A control or form with a value Baton did not write (an old message's, a forged one)
    is answered 200 and the clicker told; nothing is written."""
    for action in TrackerAction:
        assert baton.click(action, "0").status_code == 200, action
        assert ":warning:" in baton.last_reply(), action
    for form in TrackerView:
        view = {"id": f"V{form}", "type": "modal", "callback_id": form, "blocks": [],
                "private_metadata": "{}"}
        resp = baton.post(wire.view_submission(view=view, values={}, user=ALICE,
                                               team=TEAM))
        assert resp.status_code == 200, form
    assert kit.count(baton, Record) == 0


def test_the_console_shows_a_step_menu_as_buttons_and_presses_one(tmp_path):
    """`baton console`: a step's overflow menu reads as buttons; `click Done T-1.2`."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from tests.e2e.test_console import console_run

    out = console_run(tmp_path, ["/baton start discharge person: P-1042 at: now",
                                 "click Done T-1.2", "quit"],
                      datetime(2026, 12, 8, 9, 0, tzinfo=ZoneInfo("America/New_York")))
    assert "[9] Done  [10] Blocked  [11] Not applicable  [12] Refused by the person" in out
    assert "pressed “Done” (T-1.2)" in out
    assert "T-1: T-1.2 *Medication list* *done* by @you." in out


def test_a_slipped_move_date_moves_the_open_steps_and_edit_points_there(baton):
    from datetime import timedelta

    baton.command("/baton", "start transition person: P-2001 at: Dec 21 10am")
    before = {st.step_key: st.due_at for st in
              baton.runtime.trackers.load(team_id=TEAM, ref="T-1").steps}
    baton.command("/baton", "step T-1 move-date done confirmed with the landlord")
    baton.command("/baton", "edit T-1 at: Dec 28 10am")
    assert "`/baton set T-1 at: DATE`" in baton.last_reply()
    baton.command("/baton", "set T-1 at: Dec 28 10am")
    after = {st.step_key: (st.due_at, st.status) for st in
             baton.runtime.trackers.load(team_id=TEAM, ref="T-1").steps}
    # Open steps keep their offset from the move date; the settled one keeps its time.
    assert after["support-plan"] == (before["support-plan"] + timedelta(days=7), "open")
    assert after["first-week-notes"][0] == before["first-week-notes"] + timedelta(days=7)
    assert after["move-date"] == (before["move-date"], "done")
    # The move date moved a week: first-week notes are due 7 days after the new one.
    assert kit.tracker(baton).anchor_at == after["first-week-notes"][0] - timedelta(days=7)
    assert "Move date:" in kit.thread_lines(baton)[-1]
