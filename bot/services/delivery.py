"""The one narrow interface through which the use cases reach Slack.

Services decide *what* people are told and record that it was told; they never build Block
Kit or hold a WebClient, and what they hand over is facts, not mrkdwn. bot/slack/delivery.py
implements this Protocol: it renders (bot/slack/blocks/) and sends (chat.postMessage,
chat.update, DMs, App Home). One exception, by the domain's own rule: a DomainError's text
is the sentence a person sees, so a name or person it quotes goes through
bot/domain/quoting.py (escaped, named, mention) when the error is raised.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol

from bot.domain.roster import Row
from store.models import Record, SystemicPattern

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

    def post_huddle(self, *, channel_id: str, rows: Sequence[Row], total: int,
                    now: datetime, steps: Sequence[Record] = ()) -> str:
        """Post a channel's huddle roster (rows highest risk first, `total` before any limit)
        and its tracker steps overdue or due today (`steps`); the message's ts."""
        ...

    def update_huddle(self, *, channel_id: str, ts: str, rows: Sequence[Row], total: int,
                      now: datetime, steps: Sequence[Record] = ()) -> None:
        """Re-render a posted huddle roster in place."""
        ...

    def publish_home(self, *, user_id: str, mine: Sequence[Row], team: Sequence[Row],
                     team_total: int, coordinator: str | None, now: datetime,
                     my_steps: Sequence[Record] = (),
                     team_steps: Sequence[Record] = ()) -> None:
        """Publish a person's App Home: their open records and tracker steps due, then the
        team's."""
        ...

    def post_digest(self, *, team_id: str, coordinator: str, rows: Sequence[Row], day: date,
                    now: datetime, late: bool = False,
                    steps: Sequence[Record] = ()) -> tuple[str, str]:
        """DM the coordinator of the day their morning digest (in `team_id`'s workspace),
        with the tracker steps overdue or due today (`steps`);
        (channel, ts). `late`: sent well after the digest time (caught up), so it says so
        instead of greeting "Good morning". Raises Undelivered when Slack refused it or could
        not be reached."""
        ...

    def post_no_coordinator(self, *, team_id: str, channel_id: str,
                            day: date) -> tuple[str, str]:
        """Tell a channel of `team_id` nobody is coordinator of the day; (channel, ts).
        Raises Undelivered when Slack refused it or could not be reached."""
        ...

    def post_notice(self, pattern: SystemicPattern) -> tuple[str, str]:
        """Post a systemic-pattern notice to its channel (pattern.channel_id); (channel, ts).
        Raises Undelivered when it could not be posted."""
        ...

    def update_notice(self, pattern: SystemicPattern) -> None:
        """Re-render a posted notice in place (its classification). Raises Undelivered when
        it could not be updated."""
        ...


class Undelivered(Exception):
    """Slack refused a message or could not be reached. `error` is Slack's error code (e.g.
    channel_not_found) or, when Slack never answered, the failure's type name; str() is the
    failure's own message."""

    def __init__(self, message: str, *, error: str) -> None:
        super().__init__(message)
        self.error = error
