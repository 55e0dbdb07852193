"""The huddle roster, the coordinator's digest and the App Home: "Assign next action" buttons,
their modal, and the Home tab."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.domain.grammar import read_user
from bot.domain.records import DomainError
from bot.domain.times import TimeReadError, read_deadline
from bot.services.guard import NeedsConfirmation
from bot.services.records import Change
from bot.slack.blocks import roster as roster_blocks
from bot.slack.blocks.guard import confirmed_in_form, form_with_warning
from bot.slack.cards import Cards, Replies
from bot.slack.ids import ActionId, ViewId
from handlers.common import field_error, guarded, open_form, row_id
from handlers.context import Services, SlackRequest, services, slack

log = logging.getLogger("baton.handlers")


def assign_open(ack: Ack, context: BoltContext) -> None:
    ack()
    s, req = services(context), slack(context)
    replies = Replies(s.client)
    value = req.button_data
    # From the note a late trigger_id left, the button carries the roster it came from.
    meta = {"surface": str(value.get("surface", "")),
            "channel": value.get("channel") or req.channel_id,
            "ts": value.get("ts") or req.message_ts}

    @guarded(replies, user=req.user_id, channel=req.channel_id, response_url=req.response_url)
    def work() -> None:
        record_id = row_id(value.get("record"))
        if record_id is None:
            raise DomainError("That button has lost its record; use `/baton huddle` again.")
        record = s.records.require_on_record(team_id=req.team_id, ref=record_id,
                                             actor=req.user_id)
        open_form(s.client, replies, trigger_id=req.trigger_id or "",
                  view=roster_blocks.assign_modal(record, meta=meta).to_dict(),
                  user=req.user_id, channel=req.channel_id, response_url=req.response_url,
                  again=(ActionId.ASSIGN_NEXT, json.dumps({**value, **meta})))

    s.defer(work)


def _read_assignment(s: Services, req: SlackRequest,
                     errors: dict[str, str]) -> tuple[str | None, datetime | None, str]:
    """The form's owner and due time, and how the time was read (the working-day rule's
    note, or ""); what is wrong with them goes into `errors`."""
    values, user = req.form, req.user_id
    owner = due = None
    note = ""
    try:
        owner = read_user(values.get("owner", ""), caller=user, field="owner") \
            if values.get("owner") else None
    except DomainError as exc:
        errors["owner"] = str(exc)
    if owner is None and "owner" not in errors:
        errors["owner"] = "Choose who owns the next action."
    try:
        reading = read_deadline(values.get("due", ""), now=s.clock.now(),
                                tz=s.directory.tz(user), calendar=s.calendar)
        due, note = reading.when, reading.note
    except TimeReadError as exc:
        errors["due"] = str(exc)
    return owner, due, note


def assign_submit(ack: Ack, context: BoltContext) -> None:
    s, req = services(context), slack(context)
    values, meta, team, user = req.form, req.metadata, req.team_id, req.user_id
    errors: dict[str, str] = {}
    owner, due, note = _read_assignment(s, req, errors)
    change = None
    if not errors and owner is not None and due is not None:
        try:
            record_id = req.form_ref("record")
            if record_id is None:
                raise DomainError("This form lost its record; open it again.", field="text")
            # Who may act is checked before any name warning (nothing asked in vain).
            s.records.require_on_record(team_id=team, ref=record_id, actor=user)
            found = s.guard.check(team, {"next_action": values.get("text", "")},
                                  confirmed=confirmed_in_form(values))
            change = s.coordination.assign_next_action(
                team_id=team, record_id=record_id, actor=user, owner=owner,
                action=values.get("text", ""), due=due, overrides=found)
        except NeedsConfirmation as exc:
            log.info("asked %s in a form before posting: %s", user, exc.findings.describe())
            ack(response_action="update", view=form_with_warning(req.view, values,
                                                                 exc.findings))
            return
        except DomainError as exc:
            errors[exc.field if exc.field in ("owner", "text", "due") else "text"] = str(exc)
    if errors or change is None:
        present = set(values) or {"text"}
        ack(response_action="errors", errors={
            (k if k in present else min(present)): field_error(v) for k, v in errors.items()})
        return
    ack()
    s.defer(_after_assign, s, change, team=team, user=user, meta=meta)
    if note:  # how the due time was read (a weekend day moved): told to the person
        replies, channel = Replies(s.client), change.record.channel_id
        s.defer(guarded(replies, user=user, channel=channel, response_url=None)(
            lambda: replies.send(user=user, channel=channel, text=f"`due`: {note}")))


def _after_assign(s: Services, change: Change, *, team: str, user: str,
                  meta: dict[str, Any]) -> None:
    """The card, and the roster or Home tab the form came from, as they are now."""
    Cards(s.client, s.records).changed(change)
    surface, channel, ts = meta.get("surface"), meta.get("channel"), meta.get("ts")
    if surface == "huddle" and channel and ts:
        s.coordination.refresh_huddle(team_id=team, channel=str(channel), ts=str(ts))
    elif surface == "home":
        s.coordination.publish_home(team_id=team, user_id=user)


def home_opened(event: dict[str, Any], context: BoltContext) -> None:
    if event.get("tab", "home") != "home":
        return
    s, req = services(context), slack(context)
    s.defer(s.coordination.publish_home, team_id=req.team_id, user_id=event.get("user", ""))


def register(app: App) -> None:
    app.action(ActionId.ASSIGN_NEXT)(assign_open)
    app.view(ViewId.ASSIGN_NEXT)(assign_submit)
    app.event("app_home_opened")(home_opened)
