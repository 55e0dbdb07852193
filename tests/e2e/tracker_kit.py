"""Shared by the tracker Slack tests: a served Baton with roles (a manager, plain staff),
the tracker card as posted, its controls, and an overflow choice sent as Slack sends it."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from slack_sdk.models.blocks import Block
from sqlalchemy import func, select

from bot.slack import wire
from bot.slack.ids import TrackerAction
from store.models import AuditEvent, Record
from tests.conftest import ALICE, CHANNEL, TEAM, blocks_of

CAROL = "U0CAROL01"  # staff: not the owner of anything here, not a manager
DAN = "U0DAN0001"  # a manager

ROLES = f"""
channel_post_interval = 0

[roles]
managers = ["{DAN}"]
"""


def serve_with_roles(serve_factory: Any, database_url: str, tmp_path: Any, slack: Any) -> Any:
    """Baton served with a manager (Dan) and plain staff (Carol): the `baton` fixture of
    the tracker tests."""
    cfg = tmp_path / "baton.toml"
    cfg.write_text(ROLES)
    slack.add_user(CAROL, name="carol", tz="America/New_York")
    slack.add_user(DAN, name="dan", tz="America/New_York")
    return serve_factory(database_url, BATON_CONFIG=str(cfg))


def count(baton: Any, model: Any = Record, **where: Any) -> int:
    with baton.sessions() as s:
        q = select(func.count()).select_from(model)
        for key, value in where.items():
            q = q.where(getattr(model, key) == value)
        return int(s.scalar(q) or 0)


def events(baton: Any, kind: str) -> list[AuditEvent]:
    with baton.sessions() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.kind == kind)
                              .order_by(AuditEvent.seq)))


def step(baton: Any, key: str) -> Record:
    with baton.sessions() as s:
        return s.scalars(select(Record).where(Record.kind == "step",
                                              Record.step_key == key)).one()


def tracker(baton: Any) -> Record:
    with baton.sessions() as s:
        return s.scalars(select(Record).where(Record.kind == "tracker")).one()


def card(baton: Any) -> list[dict[str, Any]]:
    """The tracker card's blocks as Slack has them now (posted, then updated in place)."""
    t = tracker(baton)
    updates = [c for c in baton.slack.calls_to("chat.update") if c.params["ts"] == t.card_ts]
    post = next(c for c in baton.slack.calls_to("chat.postMessage")
                if c.response.get("ts") == t.card_ts)
    blocks = blocks_of(updates[-1] if updates else post)
    assert all(Block.parse(b) is not None for b in blocks)
    return blocks


def thread_lines(baton: Any) -> list[str]:
    t = tracker(baton)
    return [str(c.params["text"]) for c in baton.slack.calls_to("chat.postMessage")
            if c.params.get("thread_ts") == t.card_ts]


def step_block(blocks: list[dict[str, Any]], ref: str) -> dict[str, Any]:
    return next(b for b in blocks if b["type"] == "section"
                and f"`{ref}`" in b.get("text", {}).get("text", ""))


def option(blocks: list[dict[str, Any]], ref: str, label: str) -> str:
    """The value of the step's overflow option labelled `label`."""
    accessory = step_block(blocks, ref)["accessory"]
    return next(o["value"] for o in accessory["options"] if o["text"]["text"] == label)


def button(blocks: list[dict[str, Any]], action_id: str) -> str:
    for b in blocks:
        for e in b.get("elements", []) if b["type"] == "actions" else []:
            if e["action_id"] == action_id:
                return str(e["value"])
    raise AssertionError(f"no {action_id} button on the card")


def choose(baton: Any, value: str, *, user: str = ALICE) -> Any:
    """An overflow menu's choice, as Slack sends it: the option, no `value` on the action."""
    payload = wire.block_actions_payload(
        action_id=TrackerAction.STEP, value="", user=user, team=TEAM, channel=CHANNEL,
        message_ts=tracker(baton).card_ts or "1.0", trigger_id=baton.slack.issue_trigger(),
        response_url=baton.slack.response_url(f"o{len(baton.slack.calls)}"))
    action = payload["actions"][0]
    del action["value"]
    action.update(type="overflow", selected_option={
        "text": {"type": "plain_text", "text": "chosen"}, "value": value})
    resp = baton.post(urlencode({"payload": json.dumps(payload)}))
    baton.runtime.wait_idle(timeout=60)
    return resp


def opened_view(baton: Any) -> dict[str, Any]:
    call = baton.slack.calls_to("views.open")[-1]
    view = dict(call.json_param("view"))
    view["id"] = call.response["view"]["id"]
    return view
