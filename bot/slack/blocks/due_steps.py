"""Tracker steps as one line each, and the "Tracker steps" section that the huddle roster,
the coordinator's digest and the App Home add below their handoffs and dependencies: the
open steps that are overdue or due today. Steps have no partner: they name their person,
their owner and (in `/baton person`) their owner agency instead. Pure functions of records."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from slack_sdk.models.blocks import Block, MarkdownTextObject, SectionBlock

from bot.domain.trackers import STEP_OPEN, StepStatus
from bot.domain.words import plural
from bot.slack.blocks.text import SECTION_LIMIT, escape, fit, slack_date, user
from store.models import Record

OVERDUE = ":red_circle: *Overdue*"
GATE = ":lock: gate: cannot proceed without it"
# Room kept at the end of a section for the line saying how many were left out.
_MORE_ROOM = 160
_LINE_LIMIT = SECTION_LIMIT - _MORE_ROOM - 200  # one step's line, at most


def is_overdue(step: Record, *, now: datetime) -> bool:
    """Open (or blocked) and past its due time."""
    return step.status in STEP_OPEN and step.due_at <= now


def most_urgent_first(steps: Sequence[Record], *, now: datetime) -> list[Record]:
    """Overdue steps first, then the soonest due; gates before other steps due at once."""
    return sorted(steps, key=lambda s: (not is_overdue(s, now=now), s.due_at, not s.gate,
                                        s.number))


def step_line(step: Record, *, now: datetime, person: bool = True,
              agency: str | None = None) -> str:
    """`*T-12.3* Medication list · P-1042 · owner @x · due …` with the overdue, blocked and
    gate markers. `person`: name the person (lists of several people's steps); `agency`:
    the owner agency's label (the person view)."""
    parts = [f"*{step.reference}* {escape(step.title or step.step_key or '')}"]
    if person:
        parts.append(escape(step.person_ref))
    if agency:
        parts.append(escape(agency))
    parts.append(f"owner {user(step.owner_id)}")
    when = slack_date(step.due_at)
    parts.append(f"{OVERDUE} since {when}" if is_overdue(step, now=now) else f"due {when}")
    if step.gate:
        parts.append(GATE)
    if step.status == StepStatus.BLOCKED:
        reason = escape(step.outcome or "")
        parts.append(":no_entry: Blocked" + (f": {reason}" if reason else ""))
    return fit(" · ".join(parts), _LINE_LIMIT, ref=step.reference)


def packed(head: str, lines: Sequence[str], *, more: str) -> str:
    """`head` and as many whole `lines` as fit in one section, then "…and N more" (with
    `more`, where to find them) for those that did not."""
    text, shown = head, 0
    for line in lines:
        if len(text) + 1 + len(line) > SECTION_LIMIT - _MORE_ROOM:
            break
        text, shown = f"{text}\n{line}", shown + 1
    if shown < len(lines):
        text += f"\n…and {len(lines) - shown} more{more}"
    return text


def steps_section(steps: Sequence[Record], *, now: datetime,
                  title: str = "Tracker steps overdue or due today") -> list[Block]:
    """One section (nothing when there are no steps): its title with the count, then a line
    per step, most urgent first, capped to one section's 3,000 characters."""
    if not steps:
        return []
    lines = [step_line(s, now=now) for s in most_urgent_first(steps, now=now)]
    overdue = sum(1 for s in steps if is_overdue(s, now=now))
    count = plural(len(steps), "step") + (f", {overdue} overdue" if overdue else "")
    text = packed(f"*{title}* ({count})", lines,
                  more=": `/baton show T-…` or `/baton person P-…` has them all.")
    return [SectionBlock(text=MarkdownTextObject(text=text))]


def steps_summary(steps: Sequence[Record], *, now: datetime) -> str:
    """"3 tracker steps due (1 overdue)", for a message's fallback text; "" for none."""
    if not steps:
        return ""
    overdue = sum(1 for s in steps if is_overdue(s, now=now))
    return (plural(len(steps), "tracker step") + " due"
            + (f" ({overdue} overdue)" if overdue else ""))
