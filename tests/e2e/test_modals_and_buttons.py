"""The missing-field modal, the card's buttons, and /baton subcommands, end to end."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.slack import wire
from bot.slack.ids import ActionId
from store.models import AuditEvent, Record
from tests.conftest import ALICE, BOB, CHANNEL, blocks_of

HANDOFF = ("person: P-1042 to: Northside Home Care contact: intake desk 555-0100 "
           "due: tomorrow 5pm risk: short-term")


def _record(baton) -> Record:
    with baton.sessions() as s:
        return s.scalars(select(Record)).one()


def _events(baton) -> list[AuditEvent]:
    with baton.sessions() as s:
        return list(s.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def _opened_view(baton, index: int = -1) -> dict:
    call = baton.slack.calls_to("views.open")[index]
    view = dict(call.json_param("view"))
    view["id"] = call.response["view"]["id"]
    return view


def test_missing_fields_open_a_prefilled_modal_and_submission_creates(baton):
    baton.command("/handoff", "person: P-1042 to: Northside Home Care", trigger_id="trig-77")
    (opened,) = baton.slack.calls_to("views.open")
    assert opened.params["trigger_id"] == "trig-77"
    view = _opened_view(baton)
    assert view["callback_id"] == "create_handoff"
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs["person"]["initial_value"] == "P-1042"
    assert inputs["to"]["initial_value"] == "Northside Home Care"
    assert inputs["owner"]["initial_user"] == ALICE
    assert "`contact`" in str(view["blocks"][0]) and "`due`" in str(view["blocks"][0])
    # The modal was opened before any slow work: users.info came after, if at all.
    methods = [c.method for c in baton.slack.calls if c.method != "auth.test"]
    assert methods[0] == "views.open"

    answers = {"person": "P-1042", "to": "Northside Home Care", "contact": "",
               "due": "yesterday", "owner": ALICE, "risk": "short-term"}
    resp = baton.submit(view, answers)
    body = resp.json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {"contact", "due"}
    with baton.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Record)) == 0

    answers.update(contact="intake desk", due="2 business days")
    resp = baton.submit(view, answers)
    assert resp.status_code == 200 and resp.text == ""
    rec = _record(baton)
    assert rec.reference == "H-1" and rec.request_key == f"view:{view['id']}"
    # Monday + 2 business days = Wednesday, end of the working day in New York.
    assert rec.due_at == datetime(2026, 11, 25, 22, 0, tzinfo=UTC)
    (post,) = baton.slack.calls_to("chat.postMessage")
    assert post.params["channel"] == CHANNEL
    (eph,) = baton.slack.calls_to("chat.postEphemeral")
    assert "Logged *H-1*" in eph.params["text"] and eph.params["user"] == ALICE

    # Submitting the same view again (a retry) does not create a second record.
    baton.submit(view, answers)
    with baton.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Record)) == 1


def test_same_day_dependency_needs_a_safeguard(baton):
    baton.command("/dependency", "person: P-3 action: discharge summary partner: St Mary's "
                  "risk: same-day")
    view = _opened_view(baton)
    assert view["callback_id"] == "create_dependency"
    assert "`safeguard`" in str(view["blocks"][0])
    answers = {"person": "P-3", "action": "discharge summary", "partner": "St Mary's",
               "risk": "same-day", "owner": ALICE}
    body = baton.submit(view, answers).json()
    assert list(body["errors"]) == ["safeguard"]
    answers["safeguard"] = "nurse visit today to check medications"
    assert baton.submit(view, answers).text == ""
    rec = _record(baton)
    assert rec.reference == "D-1" and rec.interim_safeguard.startswith("nurse visit")
    # Same-day risk with no review time given: looked at again within two hours.
    assert rec.due_at == baton.clock.now().replace(hour=16)


def test_partner_acknowledged_button_updates_card_and_thread(baton):
    baton.command("/handoff", HANDOFF)
    rec = _record(baton)
    baton.click(ActionId.PARTNER_ACK, str(rec.id), message_ts=rec.card_ts)
    rec = _record(baton)
    assert rec.status == "acknowledged" and rec.acknowledged_by == ALICE
    (update,) = baton.slack.calls_to("chat.update")
    assert update.params["ts"] == rec.card_ts
    flat = str(blocks_of(update))
    assert "Acknowledged" in flat and "Partner acknowledged" not in flat
    thread = baton.slack.thread(CHANNEL, rec.card_ts)
    assert len(thread) == 1 and "acknowledged receipt" in thread[0]["text"]
    kinds = [e.kind for e in _events(baton)]
    assert kinds == ["created", "status_changed", "acknowledged"]
    ev = _events(baton)[1]
    assert (ev.before, ev.after, ev.actor) == ("pending", "acknowledged", ALICE)

    # Pressing it again is refused, ephemerally, and changes nothing.
    baton.click(ActionId.PARTNER_ACK, str(rec.id), message_ts=rec.card_ts)
    assert "is acknowledged, so it can't" in baton.last_reply()
    assert len(_events(baton)) == 3


def test_record_response_modal_requires_text_for_decline(baton):
    baton.command("/handoff", HANDOFF)
    rec = _record(baton)
    baton.click(ActionId.RECORD_RESPONSE, str(rec.id))
    view = _opened_view(baton)
    assert view["callback_id"] == "record_response"
    body = baton.submit(view, {"category": "decline_with_reason", "text": ""}).json()
    assert body["response_action"] == "errors" and "text" in body["errors"]
    assert _record(baton).status == "pending"
    assert baton.submit(view, {"category": "decline_with_reason",
                               "text": "no capacity until January"}).text == ""
    rec = _record(baton)
    # A response implies receipt: acknowledged first, then responded, both in the trail.
    assert rec.status == "responded"
    assert rec.response_category == "decline_with_reason"
    assert rec.response_text == "no capacity until January"
    statuses = [(e.before, e.after) for e in _events(baton) if e.kind == "status_changed"]
    assert statuses == [("pending", "acknowledged"), ("acknowledged", "responded")]


def test_cancel_and_resolve_buttons_through_reason_modals(baton):
    baton.command("/dependency", "person: P-9 action: unreturned clinical advice "
                  "partner: Dr Lee's clinic risk: emerging")
    rec = _record(baton)
    baton.click(ActionId.RESOLVE, str(rec.id))
    view = _opened_view(baton)
    assert view["callback_id"] == "record_resolve"
    assert baton.submit(view, {"text": ""}).json()["response_action"] == "errors"
    assert baton.submit(view, {"text": "advice received by phone"}).text == ""
    rec = _record(baton)
    assert rec.status == "resolved" and rec.outcome == "advice received by phone"
    update = baton.slack.calls_to("chat.update")[-1]
    assert not [b for b in blocks_of(update) if b["type"] == "actions"]  # no buttons when closed


def test_baton_subcommands(baton):
    baton.command("/handoff", HANDOFF)
    baton.command("/handoff", HANDOFF.replace("tomorrow 5pm", "friday noon")
                  .replace("P-1042", "P-2"), user=BOB)
    baton.command("/baton", "list")
    listing = baton.slack.calls_to("response_url")[-1]
    text = str(listing.params["blocks"])
    assert text.index("*H-1*") < text.index("*H-2*")  # soonest deadline first

    baton.command("/baton", "mine", user=BOB)
    mine = str(baton.slack.calls_to("response_url")[-1].params["blocks"])
    assert "*H-2*" in mine and "*H-1*" not in mine

    baton.command("/baton", "ack h-1")
    baton.command("/baton", "respond H-1 condition start date moves to Monday")
    baton.command("/baton", "resolve H-1 service started")
    baton.command("/baton", "cancel H-2 referral withdrawn by case manager", user=BOB)
    with baton.sessions() as s:
        recs = {r.reference: r for r in s.scalars(select(Record))}
    assert recs["H-1"].status == "closed" and recs["H-1"].response_category == \
        "accept_with_condition"
    assert recs["H-2"].status == "cancelled"
    assert recs["H-2"].cancel_reason == "referral withdrawn by case manager"

    baton.command("/baton", "ack H-2", user=BOB)
    assert "H-2 is cancelled, so it can't be marked as acknowledged" in baton.last_reply()
    baton.command("/baton", "respond H-1 maybe")
    assert "accept, condition, clarify or decline" in baton.last_reply()
    baton.command("/baton", "show H-9")
    assert "No record H-9" in baton.last_reply()
    baton.command("/baton", "frobnicate")
    assert "/baton help" in baton.last_reply()

    baton.command("/baton", "show H-1")
    shown = str(baton.slack.calls_to("response_url")[-1].params["blocks"])
    assert "Audit trail" in shown and "closed it: “" in shown
    assert "recorded the partner's response: " in shown


def test_help_lists_every_key_and_alias(baton):
    from bot.domain.grammar import DEPENDENCY_KEYS, HANDOFF_KEYS
    baton.command("/baton", "help")
    text = baton.last_reply()
    for key in (*HANDOFF_KEYS, *DEPENDENCY_KEYS):
        assert f"`{key.name}:`" in text
        for alias in key.aliases:
            assert f"{alias}:" in text


def test_every_id_in_bot_ids_has_a_listener(baton):
    """Every command, action and view Baton declares reaches its listener (a 200)."""
    import json

    from bot.slack import wire
    from bot.slack.ids import COMMANDS, ActionId, ViewId

    for command in COMMANDS:
        assert baton.command(command, "help").status_code == 200, command
    for action in ActionId:
        assert baton.click(action, "0").status_code == 200, action
    for callback in ViewId:
        view = {"id": "V1", "callback_id": callback, "type": "modal", "blocks": [],
                "private_metadata": json.dumps({"record": 0, "channel": CHANNEL})}
        body = wire.view_submission(view=view, values={}, user=ALICE, team="T0BATON")
        assert baton.post(body).status_code == 200, callback
    # A button no listener above takes (an old message's) is answered too, never a 404:
    # handlers/fallback.py.
    unknown = wire.block_actions(action_id="nobody_handles_this", value="1", user=ALICE,
                                 team="T0BATON", channel=CHANNEL, message_ts="1.0",
                                 trigger_id="t", response_url=baton.slack.response_url("u"))
    assert baton.post(unknown).status_code == 200


def _form_button(call) -> dict:
    (button,) = [e for b in blocks_of(call) if b["type"] == "actions" for e in b["elements"]]
    assert button["text"]["text"] == "Open the form"
    return button


@pytest.mark.parametrize("late", ["expired_trigger_id", "exchanged_trigger_id"])
def test_a_late_trigger_offers_a_button_that_opens_the_form_with_what_was_typed(
        baton, caplog, late):
    """views.open more than 3 s after the command (a slow moment, a request redone after a
    restart), or with a trigger_id already used: the person gets a button instead of "try
    again", and its click (with a fresh trigger_id) opens the form prefilled."""
    caplog.set_level(logging.INFO)
    typed = "person: P-1042 to: Northside Home Care note: call after 2pm"
    if late == "expired_trigger_id":
        baton.command("/handoff", typed, trigger_id=baton.slack.issue_trigger(age=5))
    else:
        baton.command("/handoff", typed, trigger_id="trig-used")
        baton.command("/handoff", typed, trigger_id="trig-used")  # the same request, redone
    refused = baton.slack.calls_to("views.open")[-1]
    assert refused.response == {"ok": False, "error": late}
    reply = [c for c in baton.slack.calls if c.method == "response_url"][-1]
    assert reply.params["response_type"] == "ephemeral"
    assert "3 seconds" in reply.params["text"] and "Nothing was saved yet" in reply.params["text"]
    button = _form_button(reply)
    assert button["action_id"] == ActionId.OPEN_FORM and len(button["value"]) <= 2000

    baton.click(button["action_id"], button["value"])
    opened = baton.slack.calls_to("views.open")[-1]
    assert opened.response["ok"] is True
    view = _opened_view(baton)
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs["person"]["initial_value"] == "P-1042"
    assert inputs["to"]["initial_value"] == "Northside Home Care"
    assert inputs["note"]["initial_value"] == "call after 2pm"
    assert inputs["owner"]["initial_user"] == ALICE
    assert "`contact`" in str(view["blocks"][0])
    resp = baton.submit(view, {"person": "P-1042", "to": "Northside Home Care",
                               "contact": "intake desk", "due": "tomorrow 5pm",
                               "owner": ALICE, "risk": "short-term", "note": "call after 2pm"})
    assert resp.status_code == 200 and resp.text == ""
    rec = _record(baton)
    assert rec.channel_id == CHANNEL and rec.person_ref == "P-1042"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_a_late_trigger_on_a_card_button_offers_the_same_button_again(baton):
    baton.command("/handoff", HANDOFF)
    rec = _record(baton)
    body = wire.block_actions(action_id=ActionId.RESOLVE, value=str(rec.id), user=ALICE,
                              team="T0BATON", channel=CHANNEL, message_ts=rec.card_ts,
                              trigger_id=baton.slack.issue_trigger(age=5),
                              response_url=baton.slack.response_url("late-click"))
    baton.post(body)
    baton.runtime.wait_idle()
    assert baton.slack.calls_to("views.open")[-1].response["error"] == "expired_trigger_id"
    button = _form_button([c for c in baton.slack.calls if c.method == "response_url"][-1])
    assert (button["action_id"], button["value"]) == (ActionId.RESOLVE, str(rec.id))
    baton.click(button["action_id"], button["value"])
    opened = baton.slack.calls_to("views.open")[-1]
    assert opened.response["ok"] is True
    assert opened.response["view"]["callback_id"] == "record_resolve"
