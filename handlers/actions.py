"""Buttons on the record card and on the escalation page. Each acks at once; the rest runs
after, on Baton's workers."""

from __future__ import annotations

from slack_bolt import Ack, App, BoltContext

from bot.domain.records import Action, RecordKind, transition
from bot.services.records import Change, Happened, ThreadEvent
from bot.slack.blocks import pages
from bot.slack.blocks import records as blocks
from bot.slack.cards import Cards, Replies
from bot.slack.ids import ActionId
from handlers.common import guarded, open_form
from handlers.context import services, slack


def partner_ack(ack: Ack, context: BoltContext) -> None:
    ack()
    s, req = services(context), slack(context)
    record_id = req.button_ref or -1  # no row id: no record

    @guarded(Replies(s.client), user=req.user_id, channel=req.channel_id,
             response_url=req.response_url, what="record the acknowledgement")
    def work() -> None:
        change = s.records.acknowledge(team_id=req.team_id, ref=record_id, actor=req.user_id)
        Cards(s.client, s.records).changed(change)
        # Its pages say the partner acknowledged now (and how late), not "no acknowledgement".
        s.escalation.refresh_pages_of(change.record.id)

    s.defer(work)


def open_modal(ack: Ack, context: BoltContext) -> None:
    """Respond, Resolve, Cancel and Edit on the card: the form for it."""
    ack()
    s, req = services(context), slack(context)
    replies = Replies(s.client)
    record_id = req.button_ref or -1
    action_id = req.action_id

    @guarded(replies, user=req.user_id, channel=req.channel_id, response_url=req.response_url)
    def work() -> None:
        # Refused before the form opens, not after someone has filled it in.
        record = s.records.require_on_record(team_id=req.team_id, ref=record_id,
                                             actor=req.user_id)
        if action_id == ActionId.RECORD_RESPONSE:
            view = blocks.response_modal(record)
        elif action_id == ActionId.EDIT:
            # A closed record's card has no buttons; an old message's button may still.
            transition(RecordKind(record.kind), record.reference, record.status, Action.EDIT)
            view = blocks.edit_modal(record, tz=s.directory.tz(req.user_id))
        else:
            view = blocks.reason_modal(record, resolve=action_id == ActionId.RESOLVE)
        open_form(s.client, replies, trigger_id=req.trigger_id or "", view=view.to_dict(),
                  user=req.user_id, channel=req.channel_id, response_url=req.response_url,
                  again=(action_id or "", req.action_value or ""))

    s.defer(work)


def page_ack(ack: Ack, context: BoltContext) -> None:
    ack()
    s, req = services(context), slack(context)
    work_id = req.button_ref or -1
    user = req.user_id

    @guarded(Replies(s.client), user=user, channel=req.channel_id,
             response_url=req.response_url, what="acknowledge the page")
    def work() -> None:
        page = s.escalation.acknowledge_page(team_id=req.team_id, work_id=work_id, actor=user)
        record = s.records.get(team_id=req.team_id, ref=page.record_id)
        # A step's card is its tracker's (Cards.changed knows).
        Cards(s.client, s.records, s.trackers).changed(
            Change(record, ThreadEvent(Happened.PAGE_ACKNOWLEDGED, user, tier=page.tier)))
        s.poke()

    s.defer(work)


def interim(ack: Ack, context: BoltContext) -> None:
    """"Record interim safeguard" on the page: its form."""
    ack()
    s, req = services(context), slack(context)
    replies = Replies(s.client)
    record_id = req.button_ref or -1

    @guarded(replies, user=req.user_id, channel=req.channel_id, response_url=req.response_url)
    def work() -> None:
        record = s.records.get(team_id=req.team_id, ref=record_id)
        if not record.escalation_tier:  # escalated: the paged tier decides, on submit
            s.records.require_on_record(team_id=req.team_id, ref=record_id, actor=req.user_id)
        open_form(s.client, replies, trigger_id=req.trigger_id or "",
                  view=pages.interim_modal(record).to_dict(), user=req.user_id,
                  channel=req.channel_id, response_url=req.response_url,
                  again=(ActionId.INTERIM, req.action_value or ""))

    s.defer(work)


def register(app: App) -> None:
    app.action(ActionId.PARTNER_ACK)(partner_ack)
    app.action(ActionId.PAGE_ACK)(page_ack)
    app.action(ActionId.INTERIM)(interim)
    for action_id in (ActionId.RECORD_RESPONSE, ActionId.RESOLVE, ActionId.CANCEL,
                      ActionId.EDIT):
        app.action(action_id)(open_modal)
