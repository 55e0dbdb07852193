"""Block Kit for the huddle roster, the coordinator's digest and nudges, the App Home, and
the replies of `/baton coordinator` (the rota)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    SectionBlock,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.domain.roster import Flag, Row
from bot.domain.rota import describe_days
from bot.services.coordination import RotaDay, RotaSet
from bot.slack.blocks import tracker_pages
from bot.slack.blocks.due_steps import steps_section, steps_summary
from bot.slack.blocks.records import STATUS_BADGE
from bot.slack.blocks.text import (
    SECTION_LIMIT,
    VIEW_BLOCKS,
    escape,
    fit,
    plural,
    slack_date,
    user,
)
from bot.slack.ids import INPUT, ActionId, ViewId
from store.models import Record

__all__ = ["escape", "slack_date"]

MESSAGE_ROWS = 20  # 2 blocks a row keeps a message inside Slack's 50 blocks
HOME_ROWS = 40  # the App Home allows 100 blocks


def _partner(record: Record) -> str:
    partner = getattr(record, "partner", None)
    return escape(partner.display_name) if partner is not None else "—"


def _who(record: Record) -> str:
    """Whose it is, in a nudge or a form: the person and the partner for a handoff or a
    dependency; the person and the step's name for a tracker's step (it has no partner)."""
    if getattr(record, "tracked", False):
        return f"{escape(record.person_ref)} · {escape(record.title or '')}"
    return f"{escape(record.person_ref)} → {_partner(record)}"


def next_action_line(record: Record) -> str | None:
    """"*Next action:* @x by …: what (set … by @y)", or None when nobody owns one."""
    if not record.next_action_owner:
        return None
    due = f" by {slack_date(record.next_action_due)}" if record.next_action_due else ""
    set_at = (f" (set {slack_date(record.next_action_set_at)} by "
              f"{user(record.next_action_set_by)})" if record.next_action_set_at else "")
    return (f"*Next action:* {user(record.next_action_owner)}{due}: "
            f"{escape(record.next_action)}{set_at}")


def row_text(row: Row, *, now: datetime) -> str:
    r = row.record
    what = "Response deadline" if r.kind == "handoff" else "Next review"
    flags = " ".join(f"{f.emoji} {f.label}" for f in row.flags if f is not Flag.NO_NEXT_ACTION)
    badge = STATUS_BADGE.get(r.status, r.status)
    head = f"*{r.reference}* {escape(r.person_ref)} → {_partner(r)} · {badge}"
    lines = [head, f"{what} {slack_date(r.due_at)} · owner {user(r.owner_id)}"
             + (f" · risk {r.risk}" if r.risk else "")]
    if flags:
        lines.append(flags)
    lines.append(next_action_line(r) or f"{Flag.NO_NEXT_ACTION.emoji} *No next-action owner*")
    return fit("\n".join(lines), SECTION_LIMIT, ref=r.reference)


def row_buttons(row: Row, *, surface: str, section: str | None = None) -> ActionsBlock:
    """The row's buttons. `section` names the list the row is in when one view holds two
    (the App Home: "mine" and "team"): a record in both must not repeat a block_id, which
    Slack refuses (the whole view is rejected)."""
    r = row.record
    value = json.dumps({"record": r.id, "surface": surface})
    buttons = [ButtonElement(text="Assign next action", action_id=ActionId.ASSIGN_NEXT,
                             value=value, style="primary")]
    if r.kind == "handoff" and r.status in ("pending", "overdue"):
        buttons.append(ButtonElement(text="Partner acknowledged",
                                     action_id=ActionId.PARTNER_ACK, value=str(r.id)))
    block_id = f"{section}:row:{r.id}" if section else f"row:{r.id}"
    return ActionsBlock(block_id=block_id, elements=buttons)


def roster_blocks(rows: Sequence[Row], *, now: datetime, surface: str, limit: int,
                  total: int | None = None, section: str | None = None) -> list[Block]:
    out: list[Block] = []
    for row in rows[:limit]:
        out.append(SectionBlock(text=MarkdownTextObject(text=row_text(row, now=now))))
        out.append(row_buttons(row, surface=surface, section=section))
    hidden = (total if total is not None else len(rows)) - min(len(rows), limit)
    if hidden > 0:
        out.append(ContextBlock(elements=[MarkdownTextObject(
            text=f"…and {hidden} more, lower on the list: `/baton list` in their channels.")]))
    return out


def summary(rows: Sequence[Row]) -> str:
    counts = Counter(f for row in rows for f in row.flags)
    parts = [f"{f.label}: {counts[f]}" for f in Flag if counts[f]]
    return " · ".join(parts) if parts else "no risk flags"


def _nothing(rows: Sequence[Row], steps: Sequence[Record], empty: str) -> list[Block]:
    """What a roster with no rows says: `empty`, or, when tracker steps are due, that no
    handoff or dependency is (the steps follow in their own section)."""
    if rows:
        return []
    text = empty if not steps else "No handoff or dependency needs you here."
    return [SectionBlock(text=MarkdownTextObject(text=text))]


def _with_steps(text: str, steps: Sequence[Record], *, now: datetime) -> str:
    due = steps_summary(steps, now=now)
    return f"{text}; {due}" if due else text


def huddle(rows: Sequence[Row], *, total: int, now: datetime, channel: str,
           steps: Sequence[Record] = ()) -> tuple[str, list[Block]]:
    """The channel's roster, then its tracker steps overdue or due today (`steps`)."""
    text = _with_steps(f"Huddle roster: {plural(len(rows), 'open record')}, highest risk "
                       "first", steps, now=now)
    out: list[Block] = [
        HeaderBlock(text="Joint caseload huddle roster"),
        SectionBlock(text=MarkdownTextObject(
            text=f"Open records in <#{channel}>, sorted by risk flags. Each needs a *next "
                 f"action owner*: who does what next, and by when.\n_{summary(rows)}_")),
        DividerBlock(),
    ]
    out += _nothing(rows, steps, "Nothing open here. :tada:")
    out += roster_blocks(rows, now=now, surface="huddle", limit=MESSAGE_ROWS, total=total)
    out += steps_section(steps, now=now)
    out.append(ContextBlock(elements=[MarkdownTextObject(
        text=f"Updated {slack_date(now)} · every assignment is kept in the audit trail")]))
    return text, out


def digest(rows: Sequence[Row], *, coordinator: str, day: date, now: datetime,
           late: bool = False, steps: Sequence[Record] = ()) -> tuple[str, list[Block]]:
    """The coordinator's morning digest, then the tracker steps overdue or due today
    (`steps`). `late`: sent well after the digest time (Baton was down, or the console's
    clock jumped): it says which day it is for and when it was caught up, never "Good
    morning" in the afternoon."""
    caught_up = f" (caught up at {slack_date(now, '{time}')})" if late else ""
    text = _with_steps(f"Coordinator of the day digest, {day:%a %d %b}{caught_up}: "
                       f"{summary(rows)}", steps, now=now)
    greeting = (f"Digest for {day:%A}{caught_up}. {user(coordinator)}" if late
                else f"Good morning {user(coordinator)}")
    out: list[Block] = [
        HeaderBlock(text=f"Coordinator of the day · {day:%a %d %b}"),
        SectionBlock(text=MarkdownTextObject(
            text=f"{greeting}: you are the named coordinator of the day, "
                 "responsible for confirming next actions and closing loops. Highest risk "
                 f"first.\n_{summary(rows)}_")),
        DividerBlock(),
    ]
    out += _nothing(rows, steps, "Nothing is overdue, due today, unacknowledged or at "
                    "same-day risk. :tada:")
    out += roster_blocks(rows, now=now, surface="digest", limit=MESSAGE_ROWS)
    out += steps_section(steps, now=now)
    return text, out


def no_coordinator_text(day: date) -> str:
    return (f":warning: No coordinator of the day is named for {day:%a %d %b}: pages meant for "
            "the coordinator go to the channel instead. Name one with "
            "`/baton coordinator @someone`.")


def _about(record: Record) -> str:
    """Whom and what a nudge is about: the person and the partner, or, for a tracker's step
    (no partner), the person and the step."""
    if record.tracked:
        return tracker_pages.short_subject(record)
    return f"{escape(record.person_ref)} → {_partner(record)}"


def nudge_page(record: Record, *, tier: int, waited: str) -> str:
    owner = f", owner {user(record.owner_id)}" if record.tracked else ""
    return (f":bell: Coordinator nudge: the tier {tier} page for *{record.reference}* "
            f"({_about(record)}{owner}) has waited {waited} with no "
            "acknowledgement. Check someone has it.")


def nudge_same_day(record: Record) -> str:
    return (f":rotating_light: Coordinator nudge: a new *same-day risk* dependency "
            f"*{record.reference}* ({_who(record)}) was "
            f"logged by {user(record.created_by)}. Interim safeguard: "
            f"{escape(record.interim_safeguard) or '_none recorded_'}.")


def nudge_section(text: str, record: Record) -> SectionBlock:
    section = MarkdownTextObject(text=fit(text, SECTION_LIMIT, ref=record.reference))
    if record.tracked:  # a step's next action is the step itself: its tracker card
        return SectionBlock(text=section)
    return SectionBlock(text=section,
                        accessory=ButtonElement(
                            text="Assign next action", action_id=ActionId.ASSIGN_NEXT,
                            value=json.dumps({"record": record.id, "surface": "nudge"})))


def home_view(*, user_id: str, mine: Sequence[Row], team: Sequence[Row], team_total: int,
              coordinator: str | None, now: datetime, my_steps: Sequence[Record] = (),
              team_steps: Sequence[Record] = ()) -> View:
    """Your open records and tracker steps due (`my_steps`), then the team's roster and
    its tracker steps overdue or due today (`team_steps`)."""
    out: list[Block] = [
        HeaderBlock(text="Baton"),
        SectionBlock(text=MarkdownTextObject(
            text=f"Coordinator of the day: {user(coordinator) if coordinator else '_nobody named_'}"
                 f" · updated {slack_date(now)}")),
        HeaderBlock(text=f"Your open records ({len(mine)})"),
    ]
    if not mine:
        out.append(SectionBlock(text=MarkdownTextObject(text="Nothing open is yours.")))
    out += roster_blocks(mine, now=now, surface="home", limit=12, section="mine")
    out += steps_section(my_steps, now=now, title="Your tracker steps overdue or due today")
    out.append(DividerBlock())
    out.append(HeaderBlock(text="Team roster, highest risk first"))
    out.append(SectionBlock(text=MarkdownTextObject(text=f"_{summary(team)}_")))
    out += roster_blocks(team, now=now, surface="home", limit=HOME_ROWS - len(mine[:12]),
                         total=team_total, section="team")
    out += steps_section(team_steps, now=now, title="Team tracker steps overdue or due today")
    return View(type="home", blocks=out[:VIEW_BLOCKS])


def rota_set_line(change: RotaSet) -> str:
    """The reply to `/baton coordinator …`: who is now coordinator of the day, and when."""
    who = f"<@{change.user_id}>"
    if change.weekdays:
        return f"{who} is coordinator of the day every {describe_days(change.weekdays)}."
    if change.day is not None and change.until is not None:
        return (f"{who} covers as coordinator of the day from {change.day:%a %d %b} to "
                f"{change.until:%a %d %b %Y}.")
    return f"{who} is coordinator of the day on {change.day:%a %d %b %Y}."


def rota_week(days: Sequence[RotaDay]) -> str:
    """`/baton coordinator`: who it is today, and the next seven days."""
    lines = []
    for d in days:
        chosen = d.assignment
        who = (f"<@{chosen.user_id}>" + (" (cover)" if chosen.kind == "cover" else "")
               if chosen else (f"<@{d.fallback}> (configured)" if d.fallback else "_nobody_"))
        closed = "" if d.working else " · not a working day"
        label = "Today" if d.today else f"{d.day:%a %d %b}"
        star = "*" if d.today else ""
        lines.append(f"{star}{label}{star}: {who}{closed}")
    return "*Coordinator of the day*\n" + "\n".join(lines)


def assign_modal(record: Record, *, meta: dict[str, Any]) -> View:
    current = record.next_action_owner
    return View(
        type="modal", callback_id=ViewId.ASSIGN_NEXT, title="Assign next action",
        submit="Assign", close="Back",
        private_metadata=json.dumps({**meta, "record": record.id}),
        blocks=[
            SectionBlock(text=MarkdownTextObject(
                text=fit(f"*{record.reference}* {_who(record)}", SECTION_LIMIT))),
            InputBlock(block_id="owner", label="Next action owner",
                       element=UserSelectElement(action_id=INPUT,
                                                 initial_user=current or None)),
            InputBlock(block_id="text", label="Next action",
                       hint="What was decided, e.g. call the intake desk, chase the signature",
                       element=PlainTextInputElement(action_id=INPUT, max_length=500,
                                                     initial_value=record.next_action or None)),
            InputBlock(block_id="due", label="Due",
                       hint="today 3pm · tomorrow 9am · in 2h · 2 business days",
                       element=PlainTextInputElement(action_id=INPUT, max_length=200)),
        ])
