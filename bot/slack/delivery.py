"""Delivery: bot/services/delivery.py's Protocol, implemented against Slack's Web API.

Renders with the pure Block Kit builders in bot/slack/blocks/ and sends through the
workspace's client; the services never see either.
"""

from __future__ import annotations


class SlackDelivery:
    """Delivery over a WebClient. Sections match bot/services/delivery.py's."""

    # --- pages and reminders (escalation, the time engine) ---

    # --- huddle roster, digest, nudges, App Home and systemic-pattern notices ---
