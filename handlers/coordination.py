"""The huddle roster, the coordinator's digest and the App Home: "Assign next action" buttons,
their modal, and the Home tab."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt import Ack, App

from bot.domain.grammar import read_user
from bot.domain.records import DomainError
from bot.domain.times import TimeReadError, read_time
from bot.runtime import Baton
from bot.slack.blocks import roster as roster_blocks
from bot.slack.cards import Cards, Replies
from bot.slack.ids import ActionId, ViewId
from handlers.common import field_error, guarded, open_form, row_id, state_values

log = logging.getLogger("baton.handlers")


def _team(body: dict[str, Any]) -> str:
    return (body.get("team") or {}).get("id") or body["user"].get("team_id", "")


def register(app: App, baton: Baton) -> None:
    cards = Cards(baton.client, baton.records)
    replies = Replies(baton.client)

    def assign_open(body: dict[str, Any], ack: Ack) -> None:
        ack()
        action = body["actions"][0]
        user, team = body["user"]["id"], _team(body)
        channel = (body.get("channel") or {}).get("id")
        try:
            value = json.loads(action.get("value") or "{}")
        except (ValueError, RecursionError):
            value = {}
        if not isinstance(value, dict):
            value = {}
        # From the note a late trigger_id left, the button carries the roster it came from.
        meta = {"surface": str(value.get("surface", "")),
                "channel": value.get("channel") or channel,
                "ts": value.get("ts") or (body.get("container") or {}).get("message_ts")}

        @guarded(replies, user=user, channel=channel, response_url=body.get("response_url"))
        def work() -> None:
            record_id = row_id(value.get("record"))
            if record_id is None:
                raise DomainError("That button has lost its record; use `/baton huddle` again.")
            record = baton.records.require_on_record(team_id=team, ref=record_id, actor=user)
            open_form(baton.client, replies, trigger_id=body["trigger_id"],
                      view=roster_blocks.assign_modal(record, meta=meta).to_dict(), user=user,
                      channel=channel, response_url=body.get("response_url"),
                      again=(ActionId.ASSIGN_NEXT, json.dumps({**value, **meta})))

        baton.defer(work)

    def assign_submit(body: dict[str, Any], ack: Ack) -> None:
        view = body["view"]
        user, team = body["user"]["id"], _team(body)
        values = state_values(view)
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
        except (ValueError, RecursionError):
            meta = {}
        meta = meta if isinstance(meta, dict) else {}
        errors: dict[str, str] = {}
        owner = due = None
        try:
            owner = read_user(values.get("owner", ""), caller=user, field="owner") \
                if values.get("owner") else None
        except DomainError as exc:
            errors["owner"] = str(exc)
        if owner is None and "owner" not in errors:
            errors["owner"] = "Choose who owns the next action."
        try:
            due = read_time(values.get("due", ""), now=baton.clock.now(),
                            tz=baton.directory.tz(user), calendar=baton.calendar)
        except TimeReadError as exc:
            errors["due"] = str(exc)
        change = None
        if not errors and owner is not None and due is not None:
            try:
                record_id = row_id(meta.get("record"))
                if record_id is None:
                    raise DomainError("This form lost its record; open it again.", field="text")
                change = baton.coordination.assign_next_action(
                    team_id=team, record_id=record_id, actor=user, owner=owner,
                    action=values.get("text", ""), due=due)
            except DomainError as exc:
                errors[exc.field if exc.field in ("owner", "text", "due") else "text"] = str(exc)
        if errors or change is None:
            present = set(values) or {"text"}
            ack(response_action="errors", errors={
                (k if k in present else min(present)): field_error(v, 150)
                for k, v in errors.items()})
            return
        ack()

        def after() -> None:
            cards.changed(change)
            surface, channel, ts = meta.get("surface"), meta.get("channel"), meta.get("ts")
            if surface == "huddle" and channel and ts:
                baton.coordination.refresh_huddle(team_id=team,
                                                  channel=str(channel), ts=str(ts))
            elif surface == "home":
                baton.coordination.publish_home(team_id=team, user_id=user)

        baton.defer(after)

    def home_opened(body: dict[str, Any], event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        team, user = body.get("team_id", ""), event.get("user", "")

        baton.defer(baton.coordination.publish_home, team_id=team, user_id=user)

    app.action(ActionId.ASSIGN_NEXT)(assign_open)
    app.view(ViewId.ASSIGN_NEXT)(assign_submit)
    app.event("app_home_opened")(home_opened)
