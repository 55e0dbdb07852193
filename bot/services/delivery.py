"""The one narrow interface through which the use cases reach Slack.

Services decide *what* people are told and record that it was told; they never build Block
Kit, write mrkdwn or hold a WebClient. bot/slack/delivery.py implements this Protocol: it
renders (bot/slack/blocks/) and sends (chat.postMessage, chat.update, DMs, App Home).
"""

from __future__ import annotations

from typing import Protocol


class Delivery(Protocol):
    """What the use cases may ask of Slack. Sections are by surface."""

    # --- pages and reminders (escalation, the time engine) ---

    # --- huddle roster, digest, nudges, App Home and systemic-pattern notices ---
