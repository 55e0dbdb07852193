"""Buttons on the record card."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.runtime import Baton
from bot.services.records import Change, Happened, ThreadEvent
from bot.slack.blocks import pages
from bot.slack.blocks import records as blocks
from bot.slack.cards import Cards, Replies
from bot.slack.ids import ActionId
from handlers.common import guarded, open_form, row_id


def register(app: App, baton: Baton) -> None:
    cards = Cards(baton.client, baton.records)
    replies = Replies(baton.client)

    def context(body: dict[str, Any]) -> tuple[str, str, str | None, str | None, int]:
        action = body["actions"][0]
        try:
            record_id = row_id(int(action.get("value", ""))) or -1  # past INTEGER: no row
        except (TypeError, ValueError):
            record_id = -1
        team = (body.get("team") or {}).get("id") or body["user"].get("team_id", "")
        channel = (body.get("channel") or {}).get("id")
        return body["user"]["id"], team, channel, body.get("response_url"), record_id

    def partner_ack(body: dict[str, Any], ack: Ack) -> None:
        ack()
        user, team, channel, response_url, record_id = context(body)

        @guarded(replies, user=user, channel=channel, response_url=response_url,
                 what="record the acknowledgement")
        def work() -> None:
            change = baton.records.acknowledge(team_id=team, ref=record_id, actor=user)
            cards.changed(change)

        baton.defer(work)

    def open_modal(body: dict[str, Any], ack: Ack) -> None:
        ack()
        user, team, channel, response_url, record_id = context(body)
        action_id = body["actions"][0]["action_id"]

        @guarded(replies, user=user, channel=channel, response_url=response_url)
        def work() -> None:
            # Refused before the form opens, not after someone has filled it in.
            record = baton.records.require_on_record(team_id=team, ref=record_id, actor=user)
            if action_id == ActionId.RECORD_RESPONSE:
                view = blocks.response_modal(record)
            else:
                view = blocks.reason_modal(record, resolve=action_id == ActionId.RESOLVE)
            open_form(baton.client, replies, trigger_id=body["trigger_id"], view=view.to_dict(),
                      user=user, channel=channel, response_url=response_url,
                      again=(action_id, body["actions"][0].get("value") or ""))

        baton.defer(work)

    def page_ack(body: dict[str, Any], ack: Ack) -> None:
        ack()
        user, team, channel, response_url, work_id = context(body)

        @guarded(replies, user=user, channel=channel, response_url=response_url,
                 what="acknowledge the page")
        def work() -> None:
            page = baton.escalation.acknowledge_page(team_id=team, work_id=work_id, actor=user)
            record = baton.records.get(team_id=team, ref=page.record_id)
            cards.changed(Change(record, ThreadEvent(Happened.PAGE_ACKNOWLEDGED, user,
                                                     tier=page.tier)))
            baton.poke()

        baton.defer(work)

    def interim(body: dict[str, Any], ack: Ack) -> None:
        ack()
        user, team, channel, response_url, record_id = context(body)

        @guarded(replies, user=user, channel=channel, response_url=response_url)
        def work() -> None:
            record = baton.records.get(team_id=team, ref=record_id)
            if not record.escalation_tier:  # escalated: the paged tier decides, on submit
                baton.records.require_on_record(team_id=team, ref=record_id, actor=user)
            open_form(baton.client, replies, trigger_id=body["trigger_id"],
                      view=pages.interim_modal(record).to_dict(), user=user, channel=channel,
                      response_url=response_url,
                      again=(ActionId.INTERIM, body["actions"][0].get("value") or ""))

        baton.defer(work)

    app.action(ActionId.PARTNER_ACK)(partner_ack)
    app.action(ActionId.PAGE_ACK)(page_ack)
    app.action(ActionId.INTERIM)(interim)
    for action_id in (ActionId.RECORD_RESPONSE, ActionId.RESOLVE, ActionId.CANCEL):
        app.action(action_id)(open_modal)
