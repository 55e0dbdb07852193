"""The audit trail as `/baton show` writes it in Slack: each event one line, when (a Slack
date token), who (a mention) and what they did in words (bot/domain/audit_words.py), and
Baton's note with the channels and people it names as mentions."""

from __future__ import annotations

from typing import Any

from bot.domain.audit_words import BATON, Event, Style, event_what, note_text
from bot.domain.audit_words import value_text as _value_text
from bot.slack.blocks.text import channel, escape, slack_date, user

WHEN = "{date_short} {time}"
SLACK = Style(text=escape, person=user, place=channel,
              when=lambda at: slack_date(at, WHEN), mentions=True)


def event_sentence(event: Event) -> str:
    """One audit event as a line: when, who, what they did and what changed."""
    line = f"{SLACK.when(event.at)} · {user(event.actor)} {event_what(event, SLACK)}"
    # A refusal's note is Baton's own words about who may act, whoever was refused.
    note = note_text(event.note, style=SLACK,
                     by_baton=event.actor == BATON or event.kind == "refused")
    return line + (f" _({note})_" if note else "")


def value_text(name: str | None, value: Any) -> str:
    """One stored value as Slack shows it ("—" for nothing)."""
    return _value_text(name, value, SLACK)
