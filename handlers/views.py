"""Modal submissions. Validation runs before the ack so field errors show in the modal;
the record is written in the same step, and the card is posted after Slack has its answer."""

from __future__ import annotations

import json
import re
from typing import Any

from slack_bolt import Ack, App

from bot.domain.drafts import DraftErrors
from bot.domain.records import DomainError, RecordKind, read_category
from bot.domain.times import TimeReadError, read_time
from bot.runtime import Baton
from bot.services.records import Change
from bot.slack.blocks.records import clip
from bot.slack.cards import Cards, Replies
from bot.slack.ids import ViewId
from handlers.commands import _publish
from handlers.common import field_error, guarded, row_id, state_values

FIELD_ERROR_LIMIT = 150  # Slack truncates longer field errors
_CHANNEL_ID = re.compile(r"[CDG][A-Z0-9]{2,31}")


def _field_errors(errors: dict[str, str], blocks_present: set[str]) -> dict[str, str]:
    """Slack shows an error under the input whose block_id it names; an error about a field
    the form lacks goes under the first input rather than being lost."""
    out: dict[str, str] = {}
    fallback = min(blocks_present) if blocks_present else None
    for name, message in errors.items():
        block = name if name in blocks_present or fallback is None else fallback
        # Slack shows the error under its field, so "due: …" need not name the field again.
        text = field_error(message.replace("`", "").removeprefix(f"{name}: "),
                           FIELD_ERROR_LIMIT)
        out[block] = clip(f"{out[block]} {text}", FIELD_ERROR_LIMIT) if block in out else text
    return out


def register(app: App, baton: Baton) -> None:
    cards = Cards(baton.client, baton.records)
    replies = Replies(baton.client)

    def meta(view: dict[str, Any]) -> dict[str, Any]:
        try:
            data = json.loads(view.get("private_metadata") or "{}")
        except (ValueError, RecursionError):
            data = {}
        return data if isinstance(data, dict) else {}

    def create(kind: RecordKind, body: dict[str, Any], ack: Ack) -> None:
        view = body["view"]
        user, team = body["user"]["id"], body["team"]["id"] if body.get("team") else \
            body["user"]["team_id"]
        channel = meta(view).get("channel")
        values = state_values(view)
        present = set(values)
        if not (isinstance(channel, str) and _CHANNEL_ID.fullmatch(channel)):
            ack(response_action="errors", errors=_field_errors(
                {"person": "This form lost its channel; run the command again."}, present))
            return
        try:
            change = baton.create_record(kind, values, team=team, channel=channel, user=user,
                                         request_key=f"view:{view['id']}")
        except DraftErrors as exc:
            ack(response_action="errors", errors=_field_errors(exc.errors, present))
            return
        except DomainError as exc:
            ack(response_action="errors",
                errors=_field_errors({exc.field or "": str(exc)}, present))
            return
        ack()
        if change.created:
            baton.defer(guarded(replies, user=user, channel=channel, response_url=None)(
                lambda: _publish(cards, replies, change.record, user=user, response_url=None)))

    def create_handoff(body: dict[str, Any], ack: Ack) -> None:
        create(RecordKind.HANDOFF, body, ack)

    def create_dependency(body: dict[str, Any], ack: Ack) -> None:
        create(RecordKind.DEPENDENCY, body, ack)

    def about_record(body: dict[str, Any]) -> tuple[dict[str, Any], str, str,
                                                    dict[str, str], Any]:
        view = body["view"]
        team = (body.get("team") or {}).get("id") or body["user"].get("team_id", "")
        return view, body["user"]["id"], team, state_values(view), \
            row_id(meta(view).get("record"))

    def change_view(body: dict[str, Any], ack: Ack) -> None:
        view, user, team, values, record_id = about_record(body)
        callback = view["callback_id"]
        text = values.get("text", "")
        try:
            if not isinstance(record_id, int):
                raise DomainError("This form lost its record; open it again from the card.",
                                  field="text")
            change: Change
            if callback == ViewId.RESPONSE:
                change = baton.records.respond(
                    team_id=team, ref=record_id, actor=user,
                    category=read_category(values.get("category", "")), text=text)
            elif callback == ViewId.RESOLVE:
                change = baton.records.resolve(team_id=team, ref=record_id, actor=user,
                                               outcome=text)
            else:
                change = baton.records.cancel(team_id=team, ref=record_id, actor=user,
                                              reason=text)
        except DomainError as exc:
            block = exc.field if exc.field in values else "text"
            ack(response_action="errors", errors={block: field_error(str(exc), FIELD_ERROR_LIMIT)})
            return
        ack()
        baton.defer(cards.changed, change)

    def interim(body: dict[str, Any], ack: Ack) -> None:
        _, user, team, values, record_id = about_record(body)
        try:
            if not isinstance(record_id, int):
                raise DomainError("This form lost its record; open it again.", field="text")
            review = None
            if values.get("review", "").strip():
                try:
                    review = read_time(values["review"], now=baton.clock.now(),
                                       tz=baton.directory.tz(user), calendar=baton.calendar)
                except TimeReadError as exc:
                    raise DomainError(str(exc), field="review") from None
            change = baton.escalation.record_interim(team_id=team, record_id=record_id,
                                                     actor=user, text=values.get("text", ""),
                                                     next_review=review)
        except DomainError as exc:
            block = exc.field if exc.field in values else "text"
            ack(response_action="errors", errors={block: field_error(str(exc), FIELD_ERROR_LIMIT)})
            return
        ack()
        baton.poke()
        baton.defer(cards.changed, change)
        if change.page_at:  # after the ack: the page edit may wait on Slack
            channel, ts = change.page_at
            baton.defer(baton.escalation.refresh_page, channel=channel, ts=ts)

    app.view(ViewId.INTERIM)(interim)
    app.view(ViewId.CREATE_HANDOFF)(create_handoff)
    app.view(ViewId.CREATE_DEPENDENCY)(create_dependency)
    for callback in (ViewId.RESPONSE, ViewId.RESOLVE, ViewId.CANCEL):
        app.view(callback)(change_view)
