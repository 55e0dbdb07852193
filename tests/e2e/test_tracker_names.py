"""The name guard on a tracker's free text, end to end: a likely person name typed in a
step's reason, a contact note or a start field is asked about first (nothing written);
"Post anyway" (or the form's tick box) writes it as typed and audits the choice by the
fields, never the words."""

from __future__ import annotations

import json
import logging

import pytest

from bot.slack.ids import ActionId, GuardBlock
from store.models import AuditEvent, Record
from tests.conftest import ALICE, blocks_of
from tests.e2e import tracker_kit as kit


@pytest.fixture
def baton(serve_factory, database_url, tmp_path, slack):
    return kit.serve_with_roles(serve_factory, database_url, tmp_path, slack)


def _warning(baton) -> tuple[str, dict[str, tuple[str, str]]]:
    call = [c for c in baton.slack.calls
            if c.method in ("response_url", "chat.postEphemeral")][-1]
    buttons = {e["text"]["text"]: (e["action_id"], e["value"]) for b in blocks_of(call)
               if b["type"] == "actions" for e in b["elements"]}
    return str(call.params.get("text", "")), buttons


def test_a_name_in_a_typed_reason_is_asked_about_then_post_anyway_saves_it(baton, caplog):
    caplog.set_level(logging.INFO)
    baton.command("/baton", "start discharge person: P-1042 at: now")
    baton.command("/baton", "step T-1 home-recheck refused daughter Jane Smith declined it")
    text, buttons = _warning(baton)
    assert "“Jane Smith”" in text and list(buttons) == ["Post anyway", "Cancel"]
    assert kit.step(baton, "home-recheck").status == "open"
    assert kit.events(baton, "step_changed") == [] and kit.thread_lines(baton) == []

    action_id, value = buttons["Post anyway"]
    assert action_id == ActionId.GUARD_PROCEED
    baton.click(action_id, value)
    row = kit.step(baton, "home-recheck")
    assert (row.status, row.outcome) == ("refused", "daughter Jane Smith declined it")
    (override,) = kit.events(baton, "name_warning_overridden")
    assert override.after == {"fields": ["reason"], "record": "T-1"}
    assert "Jane" not in caplog.text

    baton.click(action_id, value)  # a second click: the tracker changed, nothing again
    assert len(kit.events(baton, "step_changed")) == 1
    assert "has changed since that warning" in baton.last_reply()


def test_someone_who_may_not_change_the_step_is_refused_before_any_warning(baton):
    baton.command("/baton", "start discharge person: P-1042 at: now")
    baton.command("/baton", "step T-1 home-recheck blocked waiting on Jane Smith",
                  user=kit.CAROL)
    assert "Only" in baton.last_reply() and "Jane" not in baton.last_reply()
    assert len(kit.events(baton, "refused")) == 1


def test_a_name_in_the_reason_form_shows_the_tick_box_and_ticked_saves(baton):
    baton.command("/baton", "start discharge person: P-1042 at: now")
    kit.choose(baton, kit.option(kit.card(baton), "T-1.4", "Blocked"))
    view = kit.opened_view(baton)
    body = baton.submit(view, {"text": "Dr. Patel has not sent the letter"}).json()
    assert body["response_action"] == "update" and "“Dr. Patel”" in str(body["view"])
    assert kit.step(baton, "first-visit").status == "open"
    shown = dict(body["view"], id=view["id"])
    (tick,) = [b["element"]["options"][0]["value"] for b in shown["blocks"]
               if b.get("block_id") == GuardBlock.CONFIRM]
    resp = baton.submit(shown, {"text": "Dr. Patel has not sent the letter",
                                GuardBlock.CONFIRM: tick})
    assert resp.status_code == 200 and resp.text == ""
    assert kit.step(baton, "first-visit").status == "blocked"
    (override,) = kit.events(baton, "name_warning_overridden")
    assert override.field == "text"


def test_a_name_in_a_typed_start_field_is_asked_and_post_anyway_starts_once(baton):
    baton.command("/baton", "start service-change person: P-4004 at: now trigger: mobility "
                  "impact: needs help from Maria Lopez action: two-person support funding: no")
    text, buttons = _warning(baton)
    assert "“Maria Lopez”" in text and "`impact`" in text
    assert kit.count(baton, Record) == 0 and kit.count(baton, AuditEvent) == 0
    action_id, value = buttons["Post anyway"]
    baton.click(action_id, value)
    baton.click(action_id, value)  # a double click starts one tracker
    assert kit.count(baton, Record, kind="tracker") == 1
    assert len(baton.slack.calls_to("chat.postMessage")) == 1
    (override,) = kit.events(baton, "name_warning_overridden")
    assert "Maria" not in json.dumps(override.after) and override.actor == ALICE
