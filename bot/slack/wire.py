"""Slack's request wire formats, signed as Slack signs them. The console speaks them to the
in-process app; the tests and benchmarks speak them over HTTP to `serve`. The `*_payload`
builders give the same requests as dicts: what a Socket Mode envelope carries."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier


def signed_headers(body: str, secret: str, *, timestamp: int | None = None,
                   content_type: str = "application/x-www-form-urlencoded") -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    if signature is None:  # slack_sdk gives None only without a timestamp or a body
        raise ValueError("cannot sign a request without a timestamp and a body")
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }


def slash_command(command: str, text: str, *, user: str, channel: str, team: str,
                  trigger_id: str, response_url: str, user_name: str = "user",
                  channel_name: str = "care-coordination") -> str:
    return urlencode(slash_command_payload(
        command, text, user=user, channel=channel, team=team, trigger_id=trigger_id,
        response_url=response_url, user_name=user_name, channel_name=channel_name))


def slash_command_payload(command: str, text: str, *, user: str, channel: str, team: str,
                          trigger_id: str, response_url: str, user_name: str = "user",
                          channel_name: str = "care-coordination") -> dict[str, str]:
    return {
        "token": "deprecated-verification-token",
        "team_id": team,
        "team_domain": "baton",
        "channel_id": channel,
        "channel_name": channel_name,
        "user_id": user,
        "user_name": user_name,
        "command": command,
        "text": text,
        "api_app_id": "A0BATON",
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def _payload(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def block_actions(*, action_id: str, value: str, user: str, team: str, channel: str,
                  message_ts: str, trigger_id: str, response_url: str,
                  block_id: str = "actions", message: dict[str, Any] | None = None) -> str:
    return _payload(block_actions_payload(
        action_id=action_id, value=value, user=user, team=team, channel=channel,
        message_ts=message_ts, trigger_id=trigger_id, response_url=response_url,
        block_id=block_id, message=message))


def block_actions_payload(*, action_id: str, value: str, user: str, team: str, channel: str,
                          message_ts: str, trigger_id: str, response_url: str,
                          block_id: str = "actions",
                          message: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": user, "username": "user", "name": "user", "team_id": team},
        "api_app_id": "A0BATON",
        "token": "deprecated-verification-token",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel,
                      "is_ephemeral": False},
        "trigger_id": trigger_id,
        "team": {"id": team, "domain": "baton"},
        "channel": {"id": channel, "name": "care-coordination"},
        "message": message or {"ts": message_ts, "type": "message"},
        "response_url": response_url,
        "actions": [{"action_id": action_id, "block_id": block_id, "value": value,
                     "type": "button", "action_ts": f"{time.time():.6f}"}],
    }


def view_submission(*, view: dict[str, Any], values: dict[str, dict[str, Any]], user: str,
                    team: str) -> str:
    """`values` is view.state.values as Slack sends it: {block_id: {action_id: element}}."""
    return _payload(view_submission_payload(view=view, values=values, user=user, team=team))


def view_submission_payload(*, view: dict[str, Any], values: dict[str, dict[str, Any]],
                            user: str, team: str) -> dict[str, Any]:
    submitted = dict(view)
    submitted["state"] = {"values": values}
    submitted.setdefault("team_id", team)
    return {
        "type": "view_submission",
        "team": {"id": team, "domain": "baton"},
        "user": {"id": user, "username": "user", "name": "user", "team_id": team},
        "api_app_id": "A0BATON",
        "token": "deprecated-verification-token",
        "trigger_id": f"{int(time.time())}.view",
        "view": submitted,
        "response_urls": [],
    }


def chosen_option(element: dict[str, Any], answer: str) -> dict[str, Any] | None:
    """The select option a typed answer means, as a person picking from the list would:
    its label or value (any case), else the one option whose label has the typed words
    ("condition" is "Accept with a condition"); None when it means none, or several."""
    options = element.get("options", [])
    typed = " ".join(answer.lower().replace("_", " ").split())
    if not typed:
        return None
    for o in options:
        if typed in (o["value"].lower().replace("_", " "), o["text"]["text"].lower()):
            return dict(o)
    found = [o for o in options if typed in o["text"]["text"].lower()]
    return dict(found[0]) if len(found) == 1 else None


def state_for(view: dict[str, Any], answers: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Build view.state.values for a Baton modal from {block_id: text answer}."""
    values: dict[str, dict[str, Any]] = {}
    for block in view.get("blocks", []):
        if block.get("type") != "input":
            continue
        element = block["element"]
        kind, action_id, block_id = element["type"], element["action_id"], block["block_id"]
        answer = answers.get(block_id, "")
        if kind == "users_select":
            state = {"type": kind, "selected_user": answer or None}
        elif kind == "datepicker":
            state = {"type": kind, "selected_date": answer or None}
        elif kind == "static_select":
            state = {"type": kind, "selected_option": chosen_option(element, answer)}
        elif kind == "checkboxes":  # ticked: the answer names the option (value or label)
            state = {"type": kind, "selected_options": [
                o for o in element.get("options", []) if answer and answer.lower() in (
                    o["value"].lower(), o["text"]["text"].lower(), "yes", "x")]}
        else:
            state = {"type": kind, "value": answer or None}
        values[block_id] = {action_id: state}
    return values


def event_callback(event: dict[str, Any], *, team: str) -> str:
    """An Events API delivery (JSON body), e.g. app_home_opened."""
    return json.dumps(event_callback_payload(event, team=team))


def event_callback_payload(event: dict[str, Any], *, team: str) -> dict[str, Any]:
    return {
        "token": "deprecated-verification-token", "team_id": team, "api_app_id": "A0BATON",
        "event": {**event, "event_ts": f"{time.time():.6f}"}, "type": "event_callback",
        "event_id": f"Ev{int(time.time() * 1000)}", "event_time": int(time.time()),
    }
