"""Pathway trackers in Slack, end to end through `serve`: `/baton start` (typed, and its
form for what is missing), the card grouped by owner agency and updated in place with one
thread line per change, the step's overflow and its reason form, refusals."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.slack.ids import TrackerAction
from store.models import AuditEvent, ContactAttempt, Record
from tests.conftest import ALICE, CHANNEL
from tests.e2e.tracker_kit import (
    CAROL,
    button,
    card,
    choose,
    count,
    events,
    opened_view,
    option,
    serve_with_roles,
    step,
    step_block,
    thread_lines,
    tracker,
)

DISCHARGE = "start discharge person: P-1042 at: now"


@pytest.fixture
def baton(serve_factory, database_url, tmp_path, slack):
    return serve_with_roles(serve_factory, database_url, tmp_path, slack)


def test_a_discharge_sprint_started_by_command_posts_its_card_grouped_by_agency(baton):
    baton.command("/baton", DISCHARGE)
    t = tracker(baton)
    assert (t.reference, t.person_ref, t.template, t.owner_id) == ("T-1", "P-1042",
                                                                   "discharge", ALICE)
    assert count(baton, Record, kind="step") == 9
    (post,) = baton.slack.calls_to("chat.postMessage")
    assert post.params["channel"] == CHANNEL and t.card_ts == post.response["ts"]
    blocks = card(baton)
    assert blocks[0]["text"]["text"] == "T-1 · P-1042 · Post-discharge 72-hour sprint"
    texts = [b.get("text", {}).get("text", "") for b in blocks if b["type"] == "section"]
    agencies = [x for x in texts if x.startswith("*") and x.endswith("*") and "\n" not in x]
    assert agencies == ["*Health partner*", "*Pharmacy*", "*Provider*", "*Case management*",
                        "*Commissioner*"]
    # Each step under its agency: the provider's four, in order, after the Provider heading.
    at = texts.index("*Provider*")
    assert [x.split("`")[1] for x in texts[at + 1:at + 5]] == ["T-1.3", "T-1.4", "T-1.5",
                                                               "T-1.9"]
    line = step_block(blocks, "T-1.1")["text"]["text"]
    assert "Day 0" in line and "Discharge summary receipt pathway" in line
    assert f"<@{ALICE}>" in line and "<!date^" in line and "Open" in line
    labels = [o["text"]["text"] for o in step_block(blocks, "T-1.1")["accessory"]["options"]]
    assert labels == ["Done", "Blocked", "Not applicable", "Refused by the person"]
    ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(ids) == len(set(ids)) and len(blocks) <= 50
    assert "Started *T-1*" in baton.last_reply() and "9 steps" in baton.last_reply()


def test_a_missing_required_field_opens_the_form_and_submitting_it_starts(baton):
    baton.command("/baton", "start health-change person: P-1042 at: now source: GP letter",
                  trigger_id="trig-hc")
    (opened,) = baton.slack.calls_to("views.open")
    assert opened.params["trigger_id"] == "trig-hc"
    view = opened_view(baton)
    assert view["callback_id"] == "tracker_start"
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs["person"]["initial_value"] == "P-1042"
    assert inputs["source"]["initial_value"] == "GP letter"
    assert inputs["owner"]["initial_user"] == ALICE
    assert {"impact", "instructions", "family", "review", "threshold"} <= set(inputs)
    assert count(baton) == 0

    answers = {"person": "P-1042", "at": "now", "owner": ALICE, "source": "GP letter",
               "impact": "needs two-person transfers", "instructions": "",
               "family": "informed by phone", "review": "yesterday", "threshold": "any fall"}
    body = baton.submit(view, answers).json()
    assert body["response_action"] == "errors" and set(body["errors"]) == {"review"}
    assert count(baton) == 0 and count(baton, AuditEvent) == 0

    answers.update(review="friday 10am", instructions="two staff for every transfer")
    resp = baton.submit(view, answers)
    assert resp.status_code == 200 and resp.text == ""
    t = tracker(baton)
    assert t.request_key == f"view:{view['id']}"
    assert t.details["values"]["instructions"] == "two staff for every transfer"
    assert "review" in t.details["times"]
    assert len(baton.slack.calls_to("chat.postMessage")) == 1
    assert "Started *T-1*" in baton.last_reply()


def test_a_step_done_by_its_owner_updates_the_card_in_place_with_one_thread_line(baton):
    baton.command("/baton", DISCHARGE)
    ts = tracker(baton).card_ts
    choose(baton, option(card(baton), "T-1.2", "Done"))
    assert step(baton, "medication-list").status == "done"
    (update,) = baton.slack.calls_to("chat.update")
    assert update.params["ts"] == ts
    assert ":white_check_mark: Done" in step_block(card(baton), "T-1.2")["text"]["text"]
    assert step_block(card(baton), "T-1.2")["accessory"]["text"]["text"] == "Reopen"
    (line,) = thread_lines(baton)
    assert line.startswith("T-1: T-1.2 *Medication list* *done*")
    assert "T-1.2" in baton.last_reply()


def test_someone_else_is_refused_audited_and_nothing_changes(baton):
    baton.command("/baton", DISCHARGE)
    choose(baton, option(card(baton), "T-1.2", "Done"), user=CAROL)
    assert step(baton, "medication-list").status == "open"
    assert "Only" in baton.last_reply() and "Nothing was changed" in baton.last_reply()
    (refused,) = events(baton, "refused")
    assert refused.actor == CAROL
    assert events(baton, "step_changed") == []
    assert baton.slack.calls_to("chat.update") == [] and thread_lines(baton) == []


TRANSITION = "start transition person: P-2001 at: Dec 21 10am"
GATES = ("move-date", "support-plan", "medication-transfer", "emergency-contacts",
         "transportation", "staff-assignment", "environmental-check", "funding-confirmed")


def test_proceed_is_refused_naming_the_open_gates_until_every_gate_is_done(baton):
    baton.command("/baton", TRANSITION)
    baton.command("/baton", "proceed T-1")
    reply = baton.last_reply()
    assert "cannot proceed (the move goes ahead) without" in reply
    assert "Confirmed move date" in reply and "Environmental risk check" in reply
    assert "8 gates still open" in reply
    assert tracker(baton).status == "open" and len(events(baton, "proceed_refused")) == 1

    for key in GATES[:-1]:
        baton.command("/baton", f"step T-1 {key} done")
    baton.command("/baton", "proceed T-1")
    assert "Commissioner confirmation of funding start date" in baton.last_reply()
    assert "1 gate still open" in baton.last_reply() and tracker(baton).status == "open"

    baton.command("/baton", "step T-1.8 done")  # the step's own reference works too
    baton.command("/baton", "proceed T-1")
    assert tracker(baton).status == "proceeded"
    assert "proceeded (the move goes ahead)" in thread_lines(baton)[-1]
    blocks = card(baton)
    assert ":arrow_forward: Proceeded" in str(blocks)
    assert TrackerAction.PROCEED not in str(blocks)  # no second "Proceed"


def test_blocked_from_the_overflow_asks_the_reason_and_saves_it(baton):
    baton.command("/baton", DISCHARGE)
    choose(baton, option(card(baton), "T-1.4", "Blocked"))
    assert step(baton, "first-visit").status == "open"  # nothing until the form is sent
    view = opened_view(baton)
    assert view["callback_id"] == "tracker_step_reason"
    body = baton.submit(view, {"text": "  "}).json()
    assert body["response_action"] == "errors" and set(body["errors"]) == {"text"}
    assert step(baton, "first-visit").status == "open"

    resp = baton.submit(view, {"text": "no transport booked for Day 1"})
    assert resp.status_code == 200 and resp.text == ""
    row = step(baton, "first-visit")
    assert (row.status, row.outcome) == ("blocked", "no transport booked for Day 1")
    text = step_block(card(baton), "T-1.4")["text"]["text"]
    assert ":no_entry: Blocked" in text and "no transport booked for Day 1" in text
    (line,) = thread_lines(baton)
    assert "*blocked*" in line and "Reason it is blocked: no transport booked" in line


def test_refused_by_the_person_records_how_it_was_managed_from_the_keyboard(baton):
    baton.command("/baton", DISCHARGE)
    baton.command("/baton", "step T-1 home recheck refused declined the visit; family "
                  "will check the home and call back")
    row = step(baton, "home-recheck")
    assert row.status == "refused" and row.outcome.startswith("declined the visit")
    assert "How the refusal was managed" in step_block(card(baton), "T-1.5")["text"]["text"]


def test_contact_attempts_are_logged_by_command_and_by_the_button(baton):
    baton.command("/baton", "start provisional person: P-3003 at: now period: 10d")
    t = tracker(baton)
    assert t.details["period_days"] == 10
    baton.command("/baton", "contact T-1 attempted left a voicemail")
    choose_contact = button(card(baton), TrackerAction.CONTACT)
    baton.click(TrackerAction.CONTACT, choose_contact)
    view = opened_view(baton)
    assert view["callback_id"] == "tracker_contact"
    baton.submit(view, {"outcome": "reached", "note": "agreed a visit on Thursday"})
    with baton.sessions() as s:
        log = [(c.outcome, c.note) for c in s.scalars(select(ContactAttempt)
                                                      .order_by(ContactAttempt.id))]
    assert log == [("attempted", "left a voicemail"), ("reached", "agreed a visit on Thursday")]
    assert "*Contact attempts* (2)" in str(card(baton))
    assert len(thread_lines(baton)) == 2


def test_bad_inputs_are_refused_ephemerally_and_nothing_is_written(baton):
    baton.command("/baton", "start discharg person: P-1042 at: now")
    reply = baton.last_reply()
    assert "no tracker template" in reply and "discharge, health-change" in reply
    baton.command("/baton", "start")
    assert "Which template?" in baton.last_reply() and "provisional" in baton.last_reply()
    baton.command("/baton", "start discharge person: Jane Doe at: now")
    assert "never a name" in baton.last_reply()
    assert count(baton) == 0 and count(baton, AuditEvent) == 0
    assert baton.slack.calls_to("chat.postMessage") == []
    assert baton.slack.calls_to("views.open") == []

    baton.command("/baton", DISCHARGE)
    before = count(baton, AuditEvent)
    baton.command("/baton", "step T-1 medicaton-list done")
    assert "Did you mean `medication-list`?" in baton.last_reply()
    baton.command("/baton", "step T-9 medication-list done")
    assert "No tracker T-9" in baton.last_reply()
    baton.command("/baton", "step T-1 medication-list finished")
    assert "done, blocked, na or refused" in baton.last_reply()
    assert count(baton, AuditEvent) == before
    assert step(baton, "medication-list").status == "open"


def test_what_already_happened_is_recorded_when_it_happened(baton):
    """A health change yesterday afternoon: its anchor is then, and its interim control
    (staff instructions within 4 hours) is overdue from the start. Further back than two
    weeks is refused, nothing written."""
    from datetime import timedelta

    from tests.conftest import START

    baton.command("/baton", "start health-change person: P-1042 at: 30 days ago "
                            "source: GP letter impact: needs two staff to transfer "
                            "instructions: hoist for all transfers family: told "
                            "review: in 7 days threshold: any fall")
    assert "up to 14 days ago" in baton.last_reply() and count(baton) == 0
    baton.command("/baton", "start health-change person: P-1042 at: yesterday 3pm "
                            "source: GP letter impact: needs two staff to transfer "
                            "instructions: hoist for all transfers family: told "
                            "review: in 7 days threshold: any fall")
    t = tracker(baton)
    yesterday_3pm = START.replace(hour=20) - timedelta(days=1)  # 15:00 EST
    assert t.anchor_at == yesterday_3pm
    instructions = step(baton, "instructions")
    assert instructions.due_at == yesterday_3pm + timedelta(hours=4) < START
    baton.runtime.engine.run_due()  # overdue from the start: paged at once
    assert [e.record_id for e in events(baton, "step_overdue")][:1] == [instructions.id]
    # Its ladder counts from the start, not from the due time long past: tier 1 only.
    posted = [str(c.params.get("text")) for c in baton.slack.calls_to("chat.postMessage")]
    assert any("Escalation tier 1" in t for t in posted)
    assert not any("Escalation tier 2" in t or "Escalation tier 3" in t for t in posted)
