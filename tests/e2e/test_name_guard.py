"""The warning before posting (bot/services/guard.py), end to end through signed requests: a
likely person name in free text, or a second open record for the same person and partner,
is asked about before anything is saved; "Post anyway" logs it as typed and audits the
choice; Edit opens the form prefilled; the partner directory is never flagged."""

from __future__ import annotations

import json
import logging

from sqlalchemy import func, select

from bot.console.emulator.blockkit import block_kit_problem
from bot.slack.ids import ActionId, GuardBlock
from store.models import AuditEvent, Record
from tests.conftest import CHANNEL, blocks_of

HANDOFF = ("person: P-1042 to: Northside Home Care contact: intake desk 555-0100 "
           "due: tomorrow 5pm risk: short-term")


def _count(baton) -> int:
    with baton.sessions() as s:
        return s.scalar(select(func.count()).select_from(Record))


def _events(baton) -> list[AuditEvent]:
    with baton.sessions() as s:
        return list(s.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def _last_warning(baton) -> tuple[str, dict[str, str]]:
    """The last reply's text and its buttons' {label: (action_id, value)}."""
    call = [c for c in baton.slack.calls if c.method in ("response_url", "chat.postEphemeral")][-1]
    buttons = {}
    for block in blocks_of(call):
        if block["type"] == "actions":
            for b in block["elements"]:
                buttons[b["text"]["text"]] = (b["action_id"], b["value"])
    return str(call.params.get("text", "")), buttons


def test_a_name_in_a_note_is_asked_about_and_post_anyway_logs_it(baton, caplog):
    caplog.set_level(logging.INFO)
    baton.command("/handoff", HANDOFF + " note: daughter Jane Smith has the key")
    assert _count(baton) == 0  # nothing saved before the choice
    assert not baton.slack.calls_to("chat.postMessage")  # nothing in the channel
    text, buttons = _last_warning(baton)
    assert "“Jane Smith”" in text and "`note`" in text
    assert "Nothing has been posted yet" in text
    assert list(buttons) == ["Edit", "Post anyway", "Cancel"]
    # The words found are never in a log line.
    assert "Jane" not in caplog.text and "Smith" not in caplog.text

    action_id, value = buttons["Post anyway"]
    assert action_id == ActionId.GUARD_PROCEED and len(value) <= 2000
    baton.click(action_id, value)
    with baton.sessions() as s:
        rec = s.scalars(select(Record)).one()
    assert rec.note == "daughter Jane Smith has the key"  # as typed
    (post,) = baton.slack.calls_to("chat.postMessage")
    assert post.params["channel"] == CHANNEL
    kinds = [e.kind for e in _events(baton)]
    assert kinds == ["created", "name_warning_overridden"]
    override = _events(baton)[-1]
    assert override.field == "note" and override.after == {"fields": ["note"]}
    assert "Jane" not in json.dumps(override.after)  # the audit names fields, not words
    assert "Jane" not in caplog.text

    # A second click on the same button (a double click) logs nothing more.
    baton.click(action_id, value)
    assert _count(baton) == 1


def test_edit_opens_the_form_prefilled_and_cancel_saves_nothing(baton):
    baton.command("/handoff", HANDOFF + " note: spoke with Mr Okafor at intake")
    text, buttons = _last_warning(baton)
    assert "“Mr Okafor”" in text
    baton.click(*buttons["Edit"])
    (opened,) = baton.slack.calls_to("views.open")
    view = opened.json_param("view")
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs["note"]["initial_value"] == "spoke with Mr Okafor at intake"
    assert inputs["person"]["initial_value"] == "P-1042"
    baton.click(*buttons["Cancel"])
    assert "nothing was posted" in baton.last_reply()
    assert _count(baton) == 0


def test_a_partner_from_the_directory_is_never_flagged(baton):
    # Partners are in the workspace's directory once a record names them.
    baton.command("/handoff", HANDOFF.replace("Northside Home Care", "Jordan Valley Clinic"))
    baton.command("/handoff", HANDOFF.replace("Northside Home Care", "Grace Lee Homecare")
                  .replace("P-1042", "P-5"))
    assert _count(baton) == 2
    baton.command("/handoff", HANDOFF.replace("P-1042", "P-7")
                  + " note: Jordan Valley Clinic and Grace Lee Homecare both called")
    assert _count(baton) == 3  # logged at once: no warning
    assert "Logged *H-3*" in baton.last_reply()
    # The same words outside the partner's name are a likely name.
    baton.command("/handoff", HANDOFF.replace("P-1042", "P-8") + " note: Grace Lee called")
    assert _count(baton) == 3
    assert "“Grace Lee”" in _last_warning(baton)[0]


def test_a_second_open_record_for_the_same_person_and_partner_warns_with_a_link(baton):
    baton.command("/handoff", HANDOFF)
    first_card = baton.slack.calls_to("chat.postMessage")[0]
    baton.command("/handoff", HANDOFF.replace("Northside Home Care", " northside home CARE ")
                  .replace("P-1042", "p-1042"))
    assert _count(baton) == 1  # nothing saved before the choice
    text, buttons = _last_warning(baton)
    assert "already has an open handoff to Northside Home Care" in text
    permalink = baton.slack.calls_to("chat.getPermalink")[-1]
    assert permalink.params["message_ts"] == first_card.response["ts"]
    assert f"<{permalink.response['permalink']}|H-1>" in text
    assert list(buttons) == ["Edit", "Log anyway", "Cancel"]
    baton.click(*buttons["Log anyway"])
    assert _count(baton) == 2
    events = [e for e in _events(baton) if e.kind == "duplicate_warning_overridden"]
    assert [e.record_ref for e in events] == ["H-2"]
    assert events[0].after == {"open_record": "H-1"}


def test_name_and_duplicate_come_in_one_warning(baton):
    baton.command("/handoff", HANDOFF)
    baton.command("/handoff", HANDOFF + " note: son Kevin Walsh will be there")
    text, buttons = _last_warning(baton)
    assert "“Kevin Walsh”" in text and "already has an open handoff" in text
    assert "Post anyway" in buttons
    baton.click(*buttons["Post anyway"])
    assert _count(baton) == 2
    kinds = [e.kind for e in _events(baton)]
    assert kinds.count("name_warning_overridden") == 1
    assert kinds.count("duplicate_warning_overridden") == 1


def test_the_form_shows_the_warning_and_a_post_anyway_tick_box(baton):
    baton.command("/dependency", "person: P-3 partner: St Mary's risk: short-term")
    call = baton.slack.calls_to("views.open")[-1]
    view = dict(call.json_param("view"))
    view["id"] = call.response["view"]["id"]
    answers = {"person": "P-3", "action": "discharge summary from Dr. Patel",
               "partner": "St Mary's", "risk": "short-term", "owner": "U0ALICE",
               "safeguard": "", "until": "", "route": "", "review": "", "manager": ""}
    answers = {k: v for k, v in answers.items() if any(
        b.get("block_id") == k for b in view["blocks"])}
    resp = baton.submit(view, answers)
    body = resp.json()
    assert body["response_action"] == "update"
    shown = body["view"]
    assert block_kit_problem(shown["blocks"], pointer="/view/blocks") is None
    assert shown["callback_id"] == view["callback_id"]
    assert shown["private_metadata"] == view["private_metadata"]
    inputs = {b["block_id"]: b["element"] for b in shown["blocks"] if b["type"] == "input"}
    assert inputs["action"]["initial_value"] == "discharge summary from Dr. Patel"
    assert inputs[GuardBlock.CONFIRM]["type"] == "checkboxes"
    assert "“Dr. Patel”" in str(shown["blocks"])
    assert _count(baton) == 0

    # Submitted again with the box ticked: logged as written, the choice audited.
    shown["id"] = view["id"]
    tick = inputs[GuardBlock.CONFIRM]["options"][0]["value"]
    # Ticked, but with a new name typed after the warning: warned again, nothing saved.
    changed = dict(answers, action="discharge summary from Dr. Okafor",
                   **{GuardBlock.CONFIRM: tick})
    again = baton.submit(shown, changed).json()
    assert again["response_action"] == "update" and "“Dr. Okafor”" in str(again["view"])
    assert _count(baton) == 0
    ticked = dict(answers, **{GuardBlock.CONFIRM: tick})
    resp = baton.submit(shown, ticked)
    assert resp.status_code == 200 and resp.text == ""
    with baton.sessions() as s:
        rec = s.scalars(select(Record)).one()
    assert rec.missing_action == "discharge summary from Dr. Patel"
    assert "name_warning_overridden" in [e.kind for e in _events(baton)]


def test_a_name_in_a_reason_is_asked_about(baton):
    baton.command("/handoff", HANDOFF)
    # Refused anyway (a pending handoff is not closed): refused at once, no warning first.
    baton.command("/baton", "resolve H-1 Ms Tran at intake confirmed the start")
    assert "can't" in baton.last_reply() and "Ms Tran" not in baton.last_reply()
    baton.command("/baton", "cancel H-1 Ms Tran at intake withdrew the referral")
    with baton.sessions() as s:
        assert s.scalars(select(Record)).one().status == "pending"
    text, buttons = _last_warning(baton)
    assert "“Ms Tran”" in text and "`reason`" in text
    assert list(buttons) == ["Edit", "Post anyway", "Cancel"]
    baton.click(*buttons["Edit"])  # the card's Cancel form, with what was typed
    view = baton.slack.calls_to("views.open")[-1].json_param("view")
    assert view["callback_id"] == "record_cancel"
    (reason,) = [b for b in view["blocks"] if b["type"] == "input"]
    assert reason["element"]["initial_value"] == "Ms Tran at intake withdrew the referral"
    baton.click(*buttons["Post anyway"])
    with baton.sessions() as s:
        rec = s.scalars(select(Record)).one()
    assert rec.status == "cancelled", baton.replies()[-1]
    assert rec.cancel_reason == "Ms Tran at intake withdrew the referral"
    override = [e for e in _events(baton) if e.kind == "name_warning_overridden"]
    assert [(e.field, e.record_ref) for e in override] == [("reason", "H-1")]


def test_the_interim_action_form_asks_too(baton):
    baton.command("/handoff", HANDOFF)
    with baton.sessions() as s:
        rec = s.scalars(select(Record)).one()
    baton.click(ActionId.INTERIM, str(rec.id))
    call = baton.slack.calls_to("views.open")[-1]
    view = dict(call.json_param("view"))
    view["id"] = call.response["view"]["id"]
    resp = baton.submit(view, {"text": "Mrs Kowalski next door checks in twice a day"})
    body = resp.json()
    assert body["response_action"] == "update"
    assert "“Mrs Kowalski”" in str(body["view"]["blocks"])
    with baton.sessions() as s:
        assert s.scalars(select(Record)).one().interim_action is None
    shown = dict(body["view"], id=view["id"])
    (tick,) = [b["element"]["options"][0]["value"] for b in shown["blocks"]
               if b.get("block_id") == GuardBlock.CONFIRM]
    resp = baton.submit(shown, {"text": "Mrs Kowalski next door checks in twice a day",
                                GuardBlock.CONFIRM: tick})
    assert resp.text == ""
    with baton.sessions() as s:
        assert s.scalars(select(Record)).one().interim_action.startswith("Mrs Kowalski")
    override = [e for e in _events(baton) if e.kind == "name_warning_overridden"]
    assert [e.field for e in override] == ["interim_action"]


def test_edit_on_a_response_opens_the_response_form_prefilled(baton):
    baton.command("/handoff", HANDOFF)
    baton.command("/baton", "respond H-1 condition Dr. Patel must sign the orders first")
    text, buttons = _last_warning(baton)
    assert "“Dr. Patel”" in text and "`response`" in text
    baton.click(*buttons["Edit"])
    view = baton.slack.calls_to("views.open")[-1].json_param("view")
    assert view["callback_id"] == "record_response"
    assert block_kit_problem(view["blocks"], pointer="/view/blocks") is None
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs["category"]["initial_option"]["value"] == "accept_with_condition"
    assert inputs["text"]["initial_value"] == "Dr. Patel must sign the orders first"
    with baton.sessions() as s:
        assert s.scalars(select(Record)).one().response_text is None  # nothing saved


def test_an_edit_with_a_name_in_its_note_is_asked_about_first(baton):
    """/baton edit's free text passes the same guard: nothing changed before the choice,
    "Post anyway" applies the edit and audits the choice by field."""
    baton.command("/handoff", HANDOFF)
    before = len(_events(baton))
    baton.command("/baton", "edit H-1 note: call Mrs Delgado after 2pm")
    with baton.sessions() as s:
        assert s.scalars(select(Record)).one().note is None  # nothing written yet
    assert len(_events(baton)) == before
    text, buttons = _last_warning(baton)
    assert "“Mrs Delgado”" in text and "`note`" in text
    assert "Post anyway" in buttons
    baton.click(*buttons["Post anyway"])
    with baton.sessions() as s:
        assert s.scalars(select(Record)).one().note == "call Mrs Delgado after 2pm"
    kinds = [(e.kind, e.field) for e in _events(baton)[before:]]
    assert kinds == [("field_changed", "note"), ("name_warning_overridden", "note")]


def test_an_edit_by_someone_not_allowed_is_refused_before_any_name_warning(
        serve_factory, database_url, tmp_path, slack):
    """The refusal comes first: nobody is asked about a name in a change they can't make."""
    cfg = tmp_path / "baton.toml"
    cfg.write_text('[roles]\nmanagers = ["U0MANAGER"]\nadmins = ["U0MANAGER"]\n')
    slack.add_user("U0CAROL01", name="carol", tz="America/New_York")
    baton = serve_factory(database_url, BATON_CONFIG=str(cfg))
    baton.command("/handoff", HANDOFF)
    baton.command("/baton", "edit H-1 note: call Mrs Delgado", user="U0CAROL01")
    text, buttons = _last_warning(baton)
    assert "Nothing was changed" in text and "Post anyway" not in buttons
    assert [e.kind for e in _events(baton)][-1] == "refused"


def test_post_anyway_on_a_sub_command_acts_once_however_often_it_is_pressed(baton):
    """The warning carries the record's version: a second click finds it changed and does
    nothing again (a response recorded twice, an edit applied twice, were possible)."""
    baton.command("/handoff", HANDOFF)
    baton.command("/baton", "respond H-1 condition start Monday if Mr Okafor confirms")
    text, buttons = _last_warning(baton)
    assert "“Mr Okafor”" in text
    baton.click(*buttons["Post anyway"])
    baton.click(*buttons["Post anyway"])
    kinds = [e.kind for e in _events(baton)]
    assert kinds.count("responded") == 1 and kinds.count("name_warning_overridden") == 1
    text, _ = _last_warning(baton)
    assert "H-1 has changed since that warning" in text and "nothing was done again" in text

    baton.command("/baton", "edit H-1 note: ring Mrs Delgado first")
    _, buttons = _last_warning(baton)
    baton.click(*buttons["Post anyway"])
    baton.click(*buttons["Post anyway"])
    notes = [e for e in _events(baton) if e.kind == "field_changed" and e.field == "note"]
    assert len(notes) == 1
