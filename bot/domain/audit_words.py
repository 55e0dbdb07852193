"""The audit trail in people's words: each event one sentence ("risk: short-term → same-day;
due: Tue 1 Dec 17:00 → Wed 2 Dec 12:00"), never the JSON it is stored as: ratings and
categories as their labels, a value that was not set "—". How times, people, channels and
free text are written depends on where it is read (a Style): Slack's (date tokens,
mentions, mrkdwn) is bot/slack/blocks/audit.py's, the evidence report's is HTML
(bot/report/page.py). Pure functions of stored events."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bot.domain.records import ResponseCategory, Risk
from bot.domain.slack_ids import BARE_USER_ID, USER_MENTION

BATON = "baton"  # the actor of what Baton did by itself (bot/services/escalation.py)
NOTHING = "—"  # a value that was not set

# What each kind of event says, as a phrase after who did it.
KIND_WORDS = {
    "created": "logged the record",
    "status_changed": "changed the status",
    "acknowledged": "recorded the partner's acknowledgement",
    "responded": "recorded the partner's response",
    "resolved": "resolved it",
    "closed": "closed it",
    "cancelled": "cancelled it",
    "interim_action": "recorded an interim action",
    "field_changed": "changed",
    "edited": "edited",
    "next_action_assigned": "set the next action",
    "paged": "paged",
    "page_acknowledged": "acknowledged the page",
    "page_undeliverable": "could not deliver a page",
    "escalation_resumed": "resumed the escalation",
    "coordinator_nudged": "nudged the coordinator of the day",
    "reminded": "sent a reminder",
    "dm_undeliverable": "could not send a direct message",
    "refused": "was refused",
    "review_due": "reached the next review time",
    "safeguard_due": "reached the interim safeguard's end",
    "overdue_due": "reached the response deadline",
    # Pathway trackers (bot/services/trackers.py) and the engine's part in them.
    "step_changed": "changed the step",
    "step_overdue": "found the step past its due time",
    "proceed_refused": "was refused “proceed”: gates still open",
    "proceeded": "recorded that it proceeds",
    "contact_attempt": "logged a contact attempt",
    "decided": "recorded the decision",
    "decision_due": "reached the hard decision deadline",
    "funding_escalated": "opened the commissioner escalation",
    "funding_decided": "recorded the commissioner's decision",
    "impact_statement": "recorded the impact statement",
    "sprint_closed": "closed the sprint",
    "urgent_planned": "planned the immediate-risk page to its contacts, together",
}

# Field names as people say them.
FIELD_WORDS = {
    "status": "status",
    "risk": "risk",
    "due_at": "due",
    "due": "due",
    "next_review_at": "next review",
    "response_deadline": "response deadline",
    "review": "next review",
    "owner_id": "owner",
    "owner": "owner",
    "manager_id": "manager",
    "manager": "manager",
    "receiving_contact": "contact",
    "contact": "contact",
    "interim_action": "interim action",
    "interim_safeguard": "safeguard",
    "safeguard": "safeguard",
    "safeguard_until": "safeguard ends",
    "until": "safeguard ends",
    "missing_action": "missing action",
    "action": "action",
    "cancel_reason": "reason",
    "outcome": "outcome",
    "response": "response",
    "category": "response",
    "text": "text",
    "tier": "escalation tier",
    "route": "route",
    "note": "note",
    "next_action": "next action",
    "channel": "channel",
    "acknowledged_at": "acknowledged",
    "person_ref": "person",
    "partner": "partner",
    "decision": "decision",
    "impact": "impact statement",
    "anchor_at": "anchor",
    "template": "template",
}

_PEOPLE = {"owner", "owner_id", "manager", "manager_id", "user", "acknowledged_by", "actor"}
_CHANNELS = {"channel", "channel_id"}
_RISKS = {"risk"}
_CATEGORIES = {"category"}
_TIMES = {"due", "due_at", "next_review_at", "response_deadline", "review", "safeguard_until",
          "until", "acknowledged_at", "closed_at", "from", "to", "anchor_at"}
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
# Channel and user IDs Baton wrote into its own notes, bare or as tokens.
_NOTE_CHANNEL = re.compile(r"\b(channel|in|to) ((?=[A-Z0-9]*\d)[CG][A-Z0-9]{6,31})\b")
_NOTE_TOKEN = re.compile(r"&lt;([@#])([UWCG][A-Z0-9]{2,31})&gt;")



class Event(Protocol):
    """What a sentence reads of an audit event (store.models.AuditEvent)."""

    at: datetime
    actor: str
    kind: str
    field: str | None
    before: Any
    after: Any
    note: str | None


@dataclass(frozen=True)
class Style:
    """How a sentence writes what it names, for where it is read."""

    text: Callable[[str], str]  # free text, made safe
    person: Callable[[str], str]  # a user ID
    place: Callable[[str], str]  # a channel ID
    when: Callable[[datetime], str]
    mentions: bool  # the IDs in Baton's own notes shown as mentions (<@U…>, <#C…>)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def field_word(name: str | None) -> str:
    if not name:
        return ""
    return FIELD_WORDS.get(name, name.replace("_", " "))


def value_text(name: str | None, value: Any, style: Style) -> str:
    """One stored value as a reader sees it, written in `style`: "—" for nothing."""
    if value is None or value == "" or value == {} or value == []:
        return NOTHING
    key = name or ""
    if isinstance(value, str):
        if key in _PEOPLE and (BARE_USER_ID.fullmatch(value) or USER_MENTION.fullmatch(value)):
            return style.person(value.strip("<@>").split("|")[0])
        if key in _CHANNELS:
            return style.place(value)
        if key in _RISKS:
            try:
                return Risk(value).label
            except ValueError:
                pass
        if key in _CATEGORIES:
            try:
                return ResponseCategory(value).label
            except ValueError:
                pass
        if key in _TIMES or _ISO.match(value):
            try:
                when = datetime.fromisoformat(value)
            except ValueError:
                pass
            else:
                if when.tzinfo is not None:
                    return style.when(when)
                return style.text(value)
        return style.text(clip(value.replace("_", " ") if key == "status" else value, 200))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, Mapping):
        return "; ".join(f"{field_word(k)}: {value_text(k, v, style)}"
                         for k, v in value.items() if v not in (None, "", {}, [])) or NOTHING
    if isinstance(value, list):
        return ", ".join(value_text(key, v, style) for v in value) or NOTHING
    return style.text(clip(str(value), 200))


def changes(field: str | None, before: Any, after: Any, style: Style) -> list[str]:
    """"risk: Short-term → Same-day" for each value that changed; a dict of fields is read
    field by field (what stayed the same is left out)."""
    if isinstance(before, Mapping) or isinstance(after, Mapping):
        old = before if isinstance(before, Mapping) else {}
        new = after if isinstance(after, Mapping) else {}
        out = []
        for key in list(dict.fromkeys([*old, *new])):
            a, b = old.get(key), new.get(key)
            if a == b or (a in (None, "") and b in (None, "")):
                continue
            out.append(_one(key, a, b, style))
        return out
    if before in (None, "") and after in (None, ""):
        return []
    return [_one(field, before, after, style)]


def _one(name: str | None, before: Any, after: Any, style: Style) -> str:
    label = field_word(name)
    head = f"{label}: " if label else ""
    if before in (None, "", {}, []):
        return f"{head}{value_text(name, after, style)}"
    return f"{head}{value_text(name, before, style)} → {value_text(name, after, style)}"


def note_text(note: str | None, *, style: Style, by_baton: bool = False) -> str:
    """An event's note, escaped. The channel IDs a note names ("in channel C…") are shown
    as <#C…>; the mentions in a note Baton wrote itself (`by_baton`: no one's typing in
    it) as mentions again. Anyone else's note stays as typed: it never becomes a mention."""
    if not note:
        return ""
    text = style.text(note)
    if not style.mentions:
        return text
    if by_baton:
        text = _NOTE_TOKEN.sub(lambda m: f"<{m.group(1)}{m.group(2)}>", text)
    def one(m: re.Match[str]) -> str:
        word, mention = m.group(1), f"<#{m.group(2)}>"
        return mention if word == "channel" else f"{word} {mention}"

    return _NOTE_CHANNEL.sub(one, text)


def event_what(event: Event, style: Style) -> str:
    """What the event's actor did and what changed, without when or who or the note:
    "changed risk: Short-term → Same-day"."""
    kind, what = event.kind, KIND_WORDS.get(event.kind, event.kind.replace("_", " "))
    detail: list[str] = []
    if kind == "created":
        pass  # the record itself is shown above the trail
    elif kind == "paged":
        what = f"paged escalation tier {event.after}" if event.after is not None else what
    elif kind == "page_acknowledged":
        what = (f"acknowledged the escalation tier {event.after} page"
                if event.after is not None else what)
    elif kind == "escalation_resumed":
        what = (f"resumed the escalation at tier {event.after}" if event.after is not None
                else what)
    elif kind == "acknowledged":
        pass  # the time is the event's own
    elif kind in ("name_warning_overridden", "duplicate_warning_overridden"):
        # The name guard's and the duplicate check's "post anyway" (the other branches').
        after = event.after if isinstance(event.after, Mapping) else {}
        if kind == "name_warning_overridden":
            where = value_text("fields", after.get("fields"), style)
            what = "posted anyway after a likely-name warning" + (
                f" (in {where})" if where != NOTHING else "")
        else:
            ref = value_text("open_record", after.get("open_record"), style)
            what = "logged it anyway beside the open record" + (
                f" {ref}" if ref != NOTHING else "")
    elif kind in ("step_changed", "funding_decided", "decided", "contact_attempt"):
        # A step's status, a decision or a contact's outcome (the text typed with it is
        # the event's note, shown after the sentence).
        detail.extend(changes("status" if kind == "step_changed" else event.field,
                              event.before if kind == "step_changed" else None, event.after,
                              style))
    elif kind in ("resolved", "closed", "cancelled", "interim_action"):
        if event.after not in (None, ""):
            detail.append(f"“{value_text(None, event.after, style)}”")
    elif kind in ("field_changed", "edited", "status_changed"):
        what = "changed" if kind != "edited" else what
        detail.extend(changes(event.field, event.before, event.after, style))
    elif kind == "responded":
        if isinstance(event.after, Mapping):
            category = value_text("category", event.after.get("category"), style)
            said = event.after.get("text")
            detail.append(category + (f": “{value_text(None, said, style)}”" if said else ""))
        elif event.after not in (None, ""):
            detail.append(value_text(None, event.after, style))
    elif kind in ("page_undeliverable", "dm_undeliverable", "refused", "reminded",
                  "coordinator_nudged") or kind.endswith("_due"):
        pass  # the note says it
    else:
        detail.extend(changes(event.field, event.before, event.after, style))
    if detail:
        what += ("" if kind in ("field_changed", "edited", "status_changed") else ":") \
            + " " + "; ".join(detail)
    return what
