"""What no other listener took: a slash command Baton does not have (or one Slack sent
in capitals), and a button Baton no longer knows. Baton answers in its own words,
ephemerally, instead of Bolt's developer hint and a 404 that Slack shows as "failed".
Registered last (bot/app.py): every other listener is tried first."""

from __future__ import annotations

import re

from slack_bolt import Ack, App, BoltContext

from bot.slack.blocks import records as blocks
from bot.slack.cards import Replies
from handlers.common import guarded
from handlers.context import services, slack

ANY = re.compile(r".*", re.DOTALL)


def unknown_command(ack: Ack, command: dict[str, object], context: BoltContext) -> None:
    ack()
    s, req = services(context), slack(context)
    typed = str(command.get("command") or "")
    replies = Replies(s.client)

    @guarded(replies, user=req.user_id, channel=req.channel_id, response_url=req.response_url)
    def work() -> None:
        replies.send(user=req.user_id, channel=req.channel_id, response_url=req.response_url,
                     text=blocks.unknown_command_text(typed),
                     block_list=blocks.unknown_command_blocks(typed))

    s.defer(work)


def unknown_action(ack: Ack, context: BoltContext) -> None:
    ack()
    s, req = services(context), slack(context)
    replies = Replies(s.client)

    @guarded(replies, user=req.user_id, channel=req.channel_id, response_url=req.response_url)
    def work() -> None:
        replies.send(user=req.user_id, channel=req.channel_id, response_url=req.response_url,
                     text=blocks.UNKNOWN_BUTTON)

    s.defer(work)


def register(app: App) -> None:
    app.command(ANY)(unknown_command)
    app.action(ANY)(unknown_action)
