"""Delivery: bot/services/delivery.py's Protocol, implemented against Slack's Web API.

Renders with the pure Block Kit builders in bot/slack/blocks/ and sends through the
workspace's client; the services never see either.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.services.escalation import Audience, PageView
from bot.slack.blocks import pages
from bot.slack.blocks.records import escape
from bot.slack.cards import as_dicts

page_log = logging.getLogger("baton.escalation")  # as when escalation edited pages itself


class SlackDelivery:
    """Delivery over a WebClient. Sections match bot/services/delivery.py's."""

    def __init__(self, client: WebClient) -> None:
        self._client = client

    # --- pages and reminders (escalation, the time engine) ---

    def refresh_page(self, *, channel: str, ts: str, page: PageView) -> None:
        mention = pages.mention(page.audience)
        blocks = pages.page_blocks(target=mention, tier_name=page.tier_name, tier=page.tier,
                                   items=page.items, now=page.now, late=False,
                                   notice=page.notice)
        text = pages.page_text(mention, page.tier_name, page.tier, len(page.items), late=False)
        try:
            self._client.chat_update(channel=channel, ts=ts, text=text, blocks=as_dicts(blocks))
        except SlackApiError as exc:
            page_log.warning("could not update page %s/%s: %s", channel, ts,
                        exc.response.get("error"))

    def mention(self, audience: Audience) -> str:
        return pages.mention(audience)

    def quote(self, text: str) -> str:
        return escape(text)

    # --- huddle roster, digest, nudges, App Home and systemic-pattern notices ---
