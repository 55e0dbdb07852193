"""Delivery: bot/services/delivery.py's Protocol, implemented against Slack's Web API.

Renders with the pure Block Kit builders in bot/slack/blocks/ and sends through the
workspace's client; the services never see either.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.domain.roster import Row
from bot.services.delivery import Undelivered
from bot.services.escalation import Audience, PageView
from bot.slack.blocks import pages
from bot.slack.blocks import partner_trends as notices
from bot.slack.blocks import roster as roster_blocks
from bot.slack.blocks.records import escape
from bot.slack.cards import as_dicts
from bot.slack.clients import team_scope
from store.models import Record, SystemicPattern

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
        text = pages.page_text(mention, page.tier_name, page.tier, pages.needing(page.items),
                               late=False, what=pages.page_what([r for _, r in page.items]))
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

    def post_huddle(self, *, channel_id: str, rows: Sequence[Row], total: int,
                    now: datetime, steps: Sequence[Record] = ()) -> str:
        text, block_list = roster_blocks.huddle(rows, total=total, now=now, channel=channel_id,
                                                steps=steps)
        resp = self._client.chat_postMessage(channel=channel_id, text=text,
                                             blocks=as_dicts(block_list))
        return str(resp["ts"])

    def update_huddle(self, *, channel_id: str, ts: str, rows: Sequence[Row], total: int,
                      now: datetime, steps: Sequence[Record] = ()) -> None:
        text, block_list = roster_blocks.huddle(rows, total=total, now=now, channel=channel_id,
                                                steps=steps)
        self._client.chat_update(channel=channel_id, ts=ts, text=text,
                                 blocks=as_dicts(block_list))

    def publish_home(self, *, user_id: str, mine: Sequence[Row], team: Sequence[Row],
                     team_total: int, coordinator: str | None, now: datetime,
                     my_steps: Sequence[Record] = (),
                     team_steps: Sequence[Record] = ()) -> None:
        view = roster_blocks.home_view(user_id=user_id, mine=mine, team=team,
                                       team_total=team_total, coordinator=coordinator, now=now,
                                       my_steps=my_steps, team_steps=team_steps)
        self._client.views_publish(user_id=user_id, view=view.to_dict())

    def post_digest(self, *, team_id: str, coordinator: str, rows: Sequence[Row], day: date,
                    now: datetime, late: bool = False,
                    steps: Sequence[Record] = ()) -> tuple[str, str]:
        with team_scope(team_id), _undelivered():
            text, block_list = roster_blocks.digest(rows, coordinator=coordinator, day=day,
                                                    now=now, late=late, steps=steps)
            dm = self._client.conversations_open(users=coordinator)
            resp = self._client.chat_postMessage(channel=dm["channel"]["id"], text=text,
                                                 blocks=as_dicts(block_list))
        return str(resp["channel"]), str(resp["ts"])

    def post_no_coordinator(self, *, team_id: str, channel_id: str,
                            day: date) -> tuple[str, str]:
        with team_scope(team_id), _undelivered():
            resp = self._client.chat_postMessage(channel=channel_id,
                                                 text=roster_blocks.no_coordinator_text(day))
        return str(resp["channel"]), str(resp["ts"])

    def post_notice(self, pattern: SystemicPattern) -> tuple[str, str]:
        # A notice that cannot be rendered (ValueError) waits for the next sweep too.
        with _undelivered((*_NOT_SENT, ValueError)):
            resp = self._client.chat_postMessage(
                channel=str(pattern.channel_id), text=notices.notice_text(pattern),
                blocks=as_dicts(notices.notice_blocks(pattern)), unfurl_links=False)
        return str(resp["channel"]), str(resp["ts"])

    def update_notice(self, pattern: SystemicPattern) -> None:
        text, blocks = notices.notice_text(pattern), as_dicts(notices.notice_blocks(pattern))
        with _undelivered((*_NOT_SENT, ValueError)):
            self._client.chat_update(channel=str(pattern.channel_id),
                                     ts=str(pattern.message_ts), text=text, blocks=blocks)


# What sending can raise: Slack's refusal, a client-side failure, the network.
_NOT_SENT: tuple[type[Exception], ...] = (SlackApiError, SlackClientError, OSError)


@contextmanager
def _undelivered(errors: tuple[type[Exception], ...] = _NOT_SENT) -> Iterator[None]:
    """`errors` raised inside become Undelivered (the original chained as its cause)."""
    try:
        yield
    except errors as exc:
        code = exc.response.get("error") if isinstance(exc, SlackApiError) else None
        raise Undelivered(str(exc), error=str(code or type(exc).__name__)) from exc
