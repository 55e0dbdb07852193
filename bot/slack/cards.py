"""Putting records in front of people: the card in the channel, its thread, and replies
only the caller sees."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.webhook import WebhookClient

from bot.services.records import Change, RecordService
from bot.services.trackers import TrackerChange, TrackerService, TrackerView
from bot.slack.blocks import records as blocks
from bot.slack.blocks import tracker_lines
from bot.slack.blocks import trackers as tracker_blocks
from store.models import Record

log = logging.getLogger("baton.cards")

CARD_EVENT = "baton_record_card"  # the event_type of a card's Slack message metadata
CLOCK_SKEW = timedelta(minutes=5)  # Slack's clock against ours, when reading its history
HISTORY_PAGE = 200  # messages a conversations.history page (Slack advises at most 200)
HISTORY_PAGES = 10


def card_metadata(record: Record) -> dict[str, Any]:
    """Slack message metadata naming the card's record: how a redone request finds a card
    its first attempt posted but did not live to save."""
    return {"event_type": CARD_EVENT, "event_payload": {
        "team": record.team_id, "record_id": record.id, "record": record.reference}}


def is_card_of(message: dict[str, Any], record: Record, *, bot_id: str | None = None) -> bool:
    """A bot's message (Baton's own, given its ``bot_id``: another app in the channel could
    post the same metadata) whose metadata names this record (of this workspace)."""
    meta = message.get("metadata")
    if not isinstance(meta, dict) or meta.get("event_type") != CARD_EVENT:
        return False
    payload = meta.get("event_payload")
    return (isinstance(payload, dict) and bool(message.get("bot_id"))
            and str(payload.get("record_id")) == str(record.id)
            and payload.get("team") == record.team_id
            and (bot_id is None or message.get("bot_id") == bot_id)
            and message.get("thread_ts") in (None, message.get("ts")))  # not in a thread


def as_dicts(items: list[Block]) -> list[dict[str, Any]]:
    return [b.to_dict() for b in items]


class Cards:
    def __init__(self, client: WebClient, records: RecordService,
                 trackers: TrackerService | None = None) -> None:
        self._client = client
        self._records = records
        self._trackers = trackers

    def post_tracker(self, view: TrackerView) -> str:
        """Post a new tracker's card in its channel and remember where it is (its steps'
        thread lines go into the card's thread)."""
        if self._trackers is None:
            raise RuntimeError("Cards was made without the tracker service")
        t = view.tracker
        resp = self._client.chat_postMessage(
            channel=t.channel_id, text=tracker_blocks.card_text(view),
            blocks=as_dicts(tracker_blocks.tracker_card(view, self._trackers.templates)),
            metadata=card_metadata(t), unfurl_links=False)
        ts, channel = str(resp["ts"]), str(resp["channel"])
        self._trackers.set_card(tracker_id=t.id, channel=channel, ts=ts)
        t.card_channel, t.card_ts = channel, ts
        return ts

    def tracker_changed(self, *, team_id: str, tracker_id: int, line: str | None = None,
                        change: TrackerChange | None = None) -> None:
        """Re-render a tracker's card in place from the database (a step changed, the
        sprint closed); `line`, if given, goes into its thread, or the one line `change`
        says (bot/slack/blocks/tracker_lines.py's change_line)."""
        if self._trackers is None:
            return
        if change is not None and line is None:
            line = tracker_lines.change_line(change) or None
        try:
            view = self._trackers.by_id(team_id=team_id, tracker_id=tracker_id)
            t = view.tracker
            if not t.card_ts or not t.card_channel:
                return
            self._client.chat_update(
                channel=t.card_channel, ts=t.card_ts, text=tracker_blocks.card_text(view),
                blocks=as_dicts(tracker_blocks.tracker_card(view, self._trackers.templates)))
            if line:
                self._client.chat_postMessage(
                    channel=t.card_channel, thread_ts=t.card_ts,
                    text=blocks.fit(line, blocks.SECTION_LIMIT, ref=t.reference))
        except Exception as exc:  # noqa: BLE001 - the card is a view; the database has it all
            log.warning("could not update the card of tracker %s: %s", tracker_id, exc)

    def post(self, record: Record, *, adopt: bool = False) -> str | None:
        """Post the record card in its channel and remember where it is.

        adopt: a request redone after its process died, whose first attempt may have got
        the card to Slack and died before saving its ts (the record's card_ts is empty
        either way). The card carries its record in Slack's message metadata, so the
        channel's history since the record was made says which: a card Slack has is
        adopted, and only a card Slack lacks is posted."""
        if adopt:
            found = self.find_posted(record)
            if found is not None:
                channel, ts = found
                log.warning("%s: its card was already in Slack (%s %s), posted by an attempt "
                            "that died before saving it: adopted, not posted again",
                            record.reference, channel, ts)
                self._remember(record, channel, ts)
                return ts
        resp = self._client.chat_postMessage(
            channel=record.channel_id,
            text=blocks.card_text(record),
            blocks=as_dicts(blocks.record_card(record)),
            metadata=card_metadata(record),
            unfurl_links=False,
        )
        ts = str(resp["ts"])
        self._remember(record, str(resp["channel"]), ts)
        return ts

    def _remember(self, record: Record, channel: str, ts: str) -> None:
        self._records.set_card(record_id=record.id, channel=channel, ts=ts)
        record.card_channel, record.card_ts = channel, ts

    def find_posted(self, record: Record) -> tuple[str, str] | None:
        """(channel, ts) of the record's card if Slack has it: the bot's message carrying
        the record's metadata, among the channel's messages since the record was made.
        None when Slack has none, or Baton may not read the channel (no channels:history /
        groups:history scope, or not a member): then it is posted, and logged."""
        oldest = record.created_at - CLOCK_SKEW
        try:  # Baton's own bot in this workspace: only its messages count
            own = str(self._client.auth_test().get("bot_id") or "") or None
        except SlackApiError as exc:
            log.warning("%s: could not ask Slack who Baton is (%s): posting its card, so it "
                        "may appear twice", record.reference, exc.response.get("error"))
            return None
        cursor: str | None = None
        for _ in range(HISTORY_PAGES):
            try:
                resp = self._client.conversations_history(
                    channel=record.channel_id, oldest=f"{oldest.timestamp():.6f}",
                    include_all_metadata=True, limit=HISTORY_PAGE, cursor=cursor)
            except SlackApiError as exc:
                log.warning("%s: could not look in %s for a card an earlier attempt may have "
                            "posted (%s; it needs channels:history or groups:history, and "
                            "Baton in the channel): posting it, so it may appear twice",
                            record.reference, record.channel_id, exc.response.get("error"))
                return None
            for msg in resp.get("messages") or []:
                if is_card_of(msg, record, bot_id=own):
                    return str(record.channel_id), str(msg["ts"])
            cursor = (resp.get("response_metadata") or {}).get("next_cursor") or None
            if not resp.get("has_more") or not cursor:
                return None
        log.warning("%s: looked through %d messages of %s for its card without reaching "
                    "the record's start: posting it", record.reference,
                    HISTORY_PAGES * HISTORY_PAGE, record.channel_id)
        return None

    def changed(self, change: Change) -> None:
        """Edit the card in place and add one line to its thread. A tracker's step (or the
        tracker) has its tracker's card: that is re-rendered, the line naming the step."""
        record = change.record
        if record.tracked:
            line = blocks.change_line(change)
            self.tracker_changed(team_id=record.team_id,
                                 tracker_id=record.parent_id or record.id,
                                 line=f"{record.reference}: {line}" if line else None)
            return
        if not record.card_ts or not record.card_channel:
            return
        try:
            self._client.chat_update(
                channel=record.card_channel, ts=record.card_ts,
                text=blocks.card_text(record), blocks=as_dicts(blocks.record_card(record)),
            )
            line = blocks.change_line(change)
            if line:
                self._client.chat_postMessage(
                    channel=record.card_channel, thread_ts=record.card_ts,
                    text=blocks.fit(f"{record.reference}: {line}", blocks.SECTION_LIMIT,
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
