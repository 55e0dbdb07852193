"""`/baton person P-1042`: one person, one picture. Everything open for them across
handoffs, dependencies and pathway trackers, most urgent first, with who does what next:
each handoff and dependency as `/baton list` shows it, with its next action; then each open
tracker with its open steps (reference, name, owner agency, owner, due, the overdue and gate
markers). Pure functions of the service's PersonPicture, within one message's 50 blocks and
each section's 3,000 characters (what does not fit is counted: "…and N more")."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.domain.roster import Flag
from bot.domain.tracker_config import TemplateConfig
from bot.domain.trackers import STEP_OPEN
from bot.domain.words import plural
from bot.services.trackers import PersonPicture, TrackerView
from bot.slack.blocks.due_steps import is_overdue, most_urgent_first, packed, step_line
from bot.slack.blocks.records import record_line
from bot.slack.blocks.roster import next_action_line
from bot.slack.blocks.text import (
    HEADER_LIMIT,
    MESSAGE_BLOCKS,
    SECTION_LIMIT,
    clip,
    escape,
    fit,
    slack_date,
    user,
)
from store.models import Record

_TOP = 3  # the header, the summary and the first part's title
_PER_PART = 2  # a part's "…and N more" and the divider before the next part


def record_overdue(record: Record, *, now: datetime) -> bool:
    """A handoff past its response deadline, or a dependency past its review time."""
    return record.status == "overdue" or record.due_at <= now


def open_steps(view: TrackerView, *, now: datetime) -> list[Record]:
    return most_urgent_first([s for s in view.steps if s.status in STEP_OPEN], now=now)


def _tracker_key(view: TrackerView, *, now: datetime) -> tuple[bool, datetime, int]:
    """Trackers with an overdue step first, then by their soonest open step (or end)."""
    steps = open_steps(view, now=now)
    soonest = steps[0].due_at if steps else view.tracker.due_at
    return (not any(is_overdue(s, now=now) for s in steps), soonest, view.tracker.number)


def ordered(picture: PersonPicture, *,
            now: datetime) -> tuple[list[Record], list[TrackerView]]:
    """The picture most urgent first: overdue before the rest, then the soonest due."""
    records = sorted(picture.records,
                     key=lambda r: (not record_overdue(r, now=now), r.due_at, r.id))
    return records, sorted(picture.trackers, key=lambda v: _tracker_key(v, now=now))


def record_text(record: Record, *, now: datetime) -> str:
    """The record as the lists show it, then whether it is past due (a handoff overdue, a
    dependency's review due) and its next action (or that it has none)."""
    action = next_action_line(record) or (f"{Flag.NO_NEXT_ACTION.emoji} "
                                          "No next-action owner")
    if record_overdue(record, now=now):
        flag = Flag.OVERDUE if record.kind == "handoff" else Flag.REVIEW_DUE
        action = f"{flag.emoji} *{flag.label}* · {action}"
    return fit(f"{record_line(record)}\n      {action}", SECTION_LIMIT - 200,
               ref=record.reference)


def _agency(step: Record, templates: TemplateConfig) -> str | None:
    return templates.agency_label(step.agency) if step.agency else None


def tracker_text(view: TrackerView, templates: TemplateConfig, *, now: datetime) -> str:
    """A tracker's head line, then one line per open step, most urgent first."""
    t = view.tracker
    steps = open_steps(view, now=now)
    template = templates.get(t.template or "")
    anchor = f" · {escape(template.anchor)} {slack_date(t.anchor_at)}" \
        if template is not None and t.anchor_at is not None else ""
    late = sum(1 for s in steps if is_overdue(s, now=now))
    counted = plural(len(steps), "open step") + (f", {late} overdue" if late else "")
    went_ahead = " · proceeded" if t.status == "proceeded" else ""
    head = (f"*{t.reference}* {escape(t.title or t.template or '')}{went_ahead} · lead "
            f"{user(t.owner_id)}{anchor} · {counted}")
    if not steps:
        return f"{head}\nNo step is open: `/baton show {t.reference}` says what it waits on."
    lines = [f"• {step_line(s, now=now, person=False, agency=_agency(s, templates))}"
             for s in steps]
    return packed(head, lines, more=f" open steps: `/baton show {t.reference}` has them all.")


def _sections(texts: Sequence[str], room: int) -> tuple[list[Block], int]:
    """Texts packed into at most `room` sections of 3,000 characters, each text whole;
    the sections and how many texts they hold."""
    out: list[str] = []
    shown = 0
    for text in texts:
        if out and len(out[-1]) + 1 + len(text) <= SECTION_LIMIT:
            out[-1] = f"{out[-1]}\n{text}"
        elif len(out) < room:
            out.append(text)
        else:
            break
        shown += 1
    return [SectionBlock(text=MarkdownTextObject(text=t)) for t in out], shown


def _more(hidden: int, what: str) -> list[Block]:
    if hidden <= 0:
        return []
    return [ContextBlock(elements=[MarkdownTextObject(text=f"…and {hidden} more {what}.")])]


def summary_text(picture: PersonPicture, *, now: datetime) -> str:
    records, trackers = picture.records, picture.trackers
    late = (sum(1 for r in records if record_overdue(r, now=now))
            + sum(1 for v in trackers for s in open_steps(v, now=now) if is_overdue(s, now=now)))
    steps = sum(len(open_steps(v, now=now)) for v in trackers)
    cases = plural(len(records), "open handoff or dependency",
                   "open handoffs and dependencies")
    return (f"{escape(picture.person_ref)}: {cases}, {plural(len(trackers), 'open tracker')} "
            f"with {plural(steps, 'open step')}" + (f"; {late} overdue" if late else ""))


def person_blocks(picture: PersonPicture, templates: TemplateConfig, *,
                  now: datetime) -> tuple[str, list[Block]]:
    """The reply's text and blocks: a part for handoffs and dependencies, a part for
    trackers, each most urgent first."""
    text = summary_text(picture, now=now)
    records, trackers = ordered(picture, now=now)
    out: list[Block] = [
        HeaderBlock(text=clip(f"Everything open for {picture.person_ref}", HEADER_LIMIT)),
        SectionBlock(text=MarkdownTextObject(text=text + ". Most urgent first.")),
    ]
    if not records and not trackers:
        out.append(SectionBlock(text=MarkdownTextObject(
            text=f"Nothing is open for {escape(picture.person_ref)}.")))
        return text, out
    room = MESSAGE_BLOCKS - _TOP - 2 * _PER_PART
    # Each part gets at least half the room; what one leaves, the other may use.
    tracker_need = len(trackers)
    record_room = max(room // 2, room - tracker_need) if trackers else room
    out.append(SectionBlock(text=MarkdownTextObject(
        text="*Handoffs and dependencies*" if records else
        "*Handoffs and dependencies*: none open.")))
    sections, shown = _sections([record_text(r, now=now) for r in records], record_room)
    out += sections + _more(len(records) - shown, "handoffs and dependencies")
    if trackers:
        out.append(DividerBlock())
        out.append(SectionBlock(text=MarkdownTextObject(text="*Pathway trackers*")))
        left = MESSAGE_BLOCKS - len(out) - 1
        kept = trackers[:left]
        out += [SectionBlock(text=MarkdownTextObject(text=tracker_text(v, templates, now=now)))
                for v in kept]
        hidden = trackers[len(kept):]
        if hidden:
            refs = ", ".join(v.reference for v in hidden[:5])
            out += _more(len(hidden), f"trackers ({refs}{', …' if len(hidden) > 5 else ''}): "
                                      f"`/baton show {hidden[0].reference}`")
    return text, out
