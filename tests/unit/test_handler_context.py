"""What the middleware reads of each request (handlers/context.py): once, into a frozen
model, and one clear error for a payload it can't read."""

from __future__ import annotations

import json

import pydantic
import pytest

from handlers.common import MalformedPayload
from handlers.context import read_request


def test_a_slash_command():
    req = read_request({"command": "/baton", "team_id": "T0CARE001", "user_id": "U0ALICE01",
                        "channel_id": "C0CARE001", "text": "list", "trigger_id": "1.2.abc",
                        "response_url": "https://hooks.example/1"})
    assert (req.kind, req.team_id, req.user_id, req.channel_id) == \
        ("command", "T0CARE001", "U0ALICE01", "C0CARE001")
    assert (req.text, req.trigger_id, req.response_url) == \
        ("list", "1.2.abc", "https://hooks.example/1")
    with pytest.raises(pydantic.ValidationError):
        req.user_id = "U0MALLORY"  # type: ignore[misc]  # frozen


def test_a_button_carries_its_row_or_its_json():
    body = {"type": "block_actions", "user": {"id": "U0ALICE01", "team_id": "T0CARE001"},
            "channel": {"id": "C0CARE001"}, "trigger_id": "1.2.abc",
            "container": {"message_ts": "1700000000.000100"},
            "actions": [{"action_id": "partner_ack", "value": "42"}]}
    req = read_request(body)
    assert (req.team_id, req.user_id, req.channel_id) == ("T0CARE001", "U0ALICE01", "C0CARE001")
    assert (req.action_id, req.action_value, req.button_ref) == ("partner_ack", "42", 42)
    assert req.message_ts == "1700000000.000100" and req.button_data == {}
    body["team"] = {"id": "T0OTHER01"}  # the payload's team wins over the user's
    body["actions"] = [{"action_id": "assign_next", "value": json.dumps({"record": 7})}]
    req = read_request(body)
    assert req.team_id == "T0OTHER01"
    assert req.button_ref is None and req.button_data == {"record": 7}
    for value in ("0", "-3", str(2**31), "true", None, "{"):
        body["actions"] = [{"action_id": "partner_ack", "value": value}]
        assert read_request(body).button_ref is None, value


def test_a_form_is_flattened_and_its_metadata_read():
    view = {"id": "V1", "callback_id": "resolve", "private_metadata": json.dumps({"record": 5}),
            "state": {"values": {
                "text": {"a": {"type": "plain_text_input", "value": "Seen\x00 today"}},
                "owner": {"a": {"type": "users_select", "selected_user": "<@U1>"}},
                "category": {"a": {"type": "static_select",
                                   "selected_option": {"value": "accept"}}},
                "due": {"a": {"type": "datepicker", "selected_date": "2026-12-03"}}}}}
    req = read_request({"type": "view_submission", "team": {"id": "T0CARE001"},
                        "user": {"id": "U0ALICE01"}, "view": view})
    assert req.form == {"text": "Seen today", "owner": "", "category": "accept",
                        "due": "2026-12-03"}
    assert (req.view_id, req.callback_id) == ("V1", "resolve")
    assert req.form_ref("record") == 5 and req.form_ref("pattern") is None
    view["private_metadata"] = "[1, 2]"
    assert read_request({"type": "view_submission", "team": {"id": "T0CARE001"},
                         "user": {"id": "U0ALICE01"}, "view": view}).metadata == {}


def test_an_event_and_anything_else():
    req = read_request({"type": "event_callback", "team_id": "T0CARE001",
                        "event": {"type": "app_home_opened", "user": "U0ALICE01"}})
    assert (req.kind, req.team_id, req.user_id) == ("event_callback", "T0CARE001", "U0ALICE01")
    assert read_request({"type": "shortcut"}).kind == "shortcut"


def test_a_payload_it_cannot_read_is_one_clear_error():
    with pytest.raises(MalformedPayload, match="command request"):
        read_request({"command": "/baton", "team_id": "T0CARE001"})
    with pytest.raises(MalformedPayload, match="block_actions"):
        read_request({"type": "block_actions", "user": {"id": 7}, "actions": [{}]})
    with pytest.raises(MalformedPayload, match="view_submission"):
        read_request({"type": "view_submission", "user": {"id": "U0ALICE01"}})
