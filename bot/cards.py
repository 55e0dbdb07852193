"""Putting records in front of people: the card in the channel, its thread, and replies
only the caller sees."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.webhook import WebhookClient

from bot import blocks
from bot.services import Change, RecordService

log = logging.getLogger("baton.cards")


def as_dicts(items: list[Block]) -> list[dict[str, Any]]:
    return [b.to_dict() for b in items]


class Cards:
    def __init__(self, client: WebClient, records: RecordService) -> None:
        self._client = client
        self._records = records

    def post(self, record: Any) -> str | None:
        """Post the record card in its channel and remember where it is."""
        resp = self._client.chat_postMessage(
            channel=record.channel_id,
            text=blocks.card_text(record),
            blocks=as_dicts(blocks.record_card(record)),
            unfurl_links=False,
        )
        ts = str(resp["ts"])
        self._records.set_card(record_id=record.id, channel=str(resp["channel"]), ts=ts)
        record.card_channel, record.card_ts = str(resp["channel"]), ts
        return ts

    def changed(self, change: Change) -> None:
        """Edit the card in place and add one line to its thread."""
        record = change.record
        if not record.card_ts or not record.card_channel:
            return
        try:
            self._client.chat_update(
                channel=record.card_channel, ts=record.card_ts,
                text=blocks.card_text(record), blocks=as_dicts(blocks.record_card(record)),
            )
            if change.line:
                self._client.chat_postMessage(
                    channel=record.card_channel, thread_ts=record.card_ts,
                    text=blocks.fit(f"{record.reference}: {change.line}", blocks.SECTION_LIMIT,
                                    ref=record.reference),
                )
        except Exception as exc:  # noqa: BLE001 - the card is a view; the database has it all
            log.warning("could not update the card of %s: %s", record.reference, exc)


class Replies:
    """Ephemeral replies to one person: through the response_url when Slack gave one (works
    in any conversation), else chat.postEphemeral, else a DM."""

    def __init__(self, client: WebClient) -> None:
        self._client = client

    def send(self, *, user: str, channel: str | None, text: str,
             response_url: str | None = None, block_list: list[Block] | None = None) -> None:
        payload_blocks = as_dicts(block_list) if block_list else None
        # A reply may quote what someone typed at length (an outcome, a reason): Slack
        # refuses a message over 40,000 characters, and nobody reads past a screenful.
        text = blocks.fit(text, blocks.REPLY_TEXT_LIMIT)
        if response_url:
            resp = WebhookClient(response_url).send(
                text=text, blocks=payload_blocks, response_type="ephemeral",
                replace_original=False,
            )
            if resp.status_code == 200:
                return
            log.warning("response_url answered %s; falling back", resp.status_code)
        if channel:
            try:
                self._client.chat_postEphemeral(channel=channel, user=user, text=text,
                                                blocks=payload_blocks)
                return
            except SlackApiError as exc:
                log.info("postEphemeral failed (%s); sending a DM", exc.response.get("error"))
        dm = self._client.conversations_open(users=user)
        self._client.chat_postMessage(channel=dm["channel"]["id"], text=text,
                                      blocks=payload_blocks)
