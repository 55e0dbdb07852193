"""The one narrow interface through which the use cases reach Slack.

Services decide *what* people are told and record that it was told; they never build Block
Kit, write mrkdwn or hold a WebClient. bot/slack/delivery.py implements this Protocol: it
renders (bot/slack/blocks/) and sends (chat.postMessage, chat.update, DMs, App Home).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from bot.services.escalation import Audience, PageView


class Delivery(Protocol):
    """What the use cases may ask of Slack. Sections are by surface."""

    # --- pages and reminders (escalation, the time engine) ---
    # The engine (scheduler/) sends pages and reminders itself, paced and rerouted
    # (scheduler/sending.py); escalation edits a page once it is out.

    def refresh_page(self, *, channel: str, ts: str, page: PageView) -> None:
        """Re-render the page message at (channel, ts) in place to show `page`. Slack
        refusing the edit is logged, not raised: the database holds the page."""
        ...

    def mention(self, audience: Audience) -> str:
        """Whom a message names, as Slack writes it: the people's and groups' mentions, or
        "here" when nobody is named (the whole channel)."""
        ...

    def quote(self, text: str) -> str:
        """Configured or typed words (a tier's name) made safe to show in a message."""
        ...

    # --- huddle roster, digest, nudges, App Home and systemic-pattern notices ---
