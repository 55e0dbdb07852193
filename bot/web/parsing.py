"""Reading a request from Slack: its body (never more than BATON_MAX_BODY_BYTES of it), the
formats Slack sends, Slack's unsigned SSL check, and what a request of each kind always
carries (malformed), with the workspace it comes from (team_of)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from bot.domain.slack_ids import CHANNEL_ID as _CHANNEL_ID
from bot.domain.slack_ids import TEAM_ID as _TEAM_ID
from bot.domain.slack_ids import USER_ID as _USER_ID

_HANDLE = 200  # trigger_id, view id: they become request keys (255 characters at most)


class TooLarge(Exception):
    """The request's body is over BATON_MAX_BODY_BYTES."""


def get(body: Any, *path: str) -> Any:
    """body[path[0]][path[1]]…, or None wherever a step is missing or not a dict."""
    for key in path:
        body = body.get(key) if isinstance(body, dict) else None
    return body


def is_id(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def is_user_id(value: Any) -> bool:
    return is_id(_USER_ID, value)


def is_channel_id(value: Any) -> bool:
    return is_id(_CHANNEL_ID, value)


def _handle(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= _HANDLE


def read_body(environ: dict[str, Any], limit: int) -> bytes:
    """The body, never more than `limit` bytes of it: a declared length over the limit is
    refused before a byte is read; with no length (chunked, under a server that passes it
    through) at most limit + 1 bytes are read to tell. Raises TooLarge, or ValueError for a
    length that is not a number."""
    stream = environ.get("wsgi.input")
    declared = str(environ.get("CONTENT_LENGTH") or "").strip()
    if declared:
        if not declared.isdigit():
            raise ValueError("Content-Length is not a number")
        length = int(declared)
        if length > limit:
            raise TooLarge
        return bytes(stream.read(length)) if stream is not None and length else b""
    if stream is None or not environ.get("wsgi.input_terminated"):
        return b""  # no length and no end marked: nothing may be read (PEP 3333)
    raw = bytes(stream.read(limit + 1))
    if len(raw) > limit:
        raise TooLarge
    return raw


def ssl_check(raw: bytes) -> bool:
    """Slack's SSL check (`ssl_check=1&token=…`), which Slack sends unsigned. Only that
    form, exactly: it is answered with a 200 and never reaches a listener."""
    if len(raw) > 1024:
        return False
    try:
        form = parse_qsl(raw.decode("ascii"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return False
    keys = {k for k, _ in form}
    return dict(form).get("ssl_check") == "1" and keys <= {"ssl_check", "token"}


def parse_slack_body(text: str, content_type: str | None) -> dict[str, Any]:
    """A request body as Slack sends it: JSON (the Events API), a form with a `payload` of
    JSON (interactivity) or a plain form (slash commands). Raises ValueError otherwise."""
    try:
        if (content_type or "").split(";")[0].strip() == "application/json" or \
                text.lstrip().startswith("{"):
            body = json.loads(text) if text.strip() else {}
        else:
            form = dict(parse_qsl(text, keep_blank_values=True))
            body = json.loads(form["payload"]) if "payload" in form else form
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
    if not isinstance(body, dict):
        raise ValueError("the body is not a JSON object")
    return body


def malformed(body: dict[str, Any]) -> str | None:
    """What a signed request lacks that every request of its kind from Slack has (the IDs in
    the shape Slack gives them, so none can smuggle mrkdwn into a mention), or None."""
    if "command" in body:
        if not isinstance(body.get("command"), str):
            return "no command"
        for key, pattern in (("user_id", _USER_ID), ("team_id", _TEAM_ID),
                             ("channel_id", _CHANNEL_ID)):
            if not is_id(pattern, body.get(key)):
                return f"no valid {key}"
        if not isinstance(body.get("text", ""), str) or not _handle(body.get("trigger_id")):
            return "no text or trigger_id"
        return None
    kind = body.get("type")
    if kind in ("block_actions", "view_submission", "view_closed"):
        if not is_id(_USER_ID, get(body, "user", "id")):
            return "no valid user id"
        team = get(body, "team", "id") or get(body, "user", "team_id")
        if not is_id(_TEAM_ID, team):
            return "no valid team id"
        channel = get(body, "channel", "id")
        if channel is not None and not is_id(_CHANNEL_ID, channel):
            return "no valid channel id"
    if kind == "block_actions":
        actions = body.get("actions")
        if not (isinstance(actions, list) and actions and isinstance(actions[0], dict)
                and isinstance(actions[0].get("action_id"), str)):
            return "no action"
        if not _handle(body.get("trigger_id")):
            return "no trigger_id"
        value = actions[0].get("value")
        if value is not None and not isinstance(value, str):
            return "no button value"
    if kind in ("view_submission", "view_closed"):
        view = body.get("view")
        if not (isinstance(view, dict) and isinstance(view.get("callback_id"), str)
                and _handle(view.get("id"))
                and isinstance(view.get("private_metadata", ""), str)):
            return "no view"
    if kind == "event_callback" and not isinstance(body.get("event"), dict):
        return "no event"
    return None


def team_of(body: dict[str, Any]) -> str | None:
    """The workspace a request from Slack comes from, wherever its kind keeps it."""
    for team in (body.get("team_id"), get(body, "team", "id"), get(body, "user", "team_id"),
                 get(body, "view", "team_id")):
        if is_id(_TEAM_ID, team):
            return str(team)
    return None
