"""Block Kit for pages and reminders: what the time engine sends (scheduler/engine.py,
scheduler/sending.py) to owners and escalation tiers, the page SlackDelivery re-renders in
place (bot/slack/delivery.py), their thread lines, the interim-action modal and the
`/baton ladder` view. Pure functions of records, due work and ladders."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.domain.ladder import Ladder, LadderConfig
from bot.domain.records import RecordKind, Risk
from bot.domain.times import format_duration, to_the_second
from bot.slack.blocks import tracker_pages
from bot.slack.blocks.records import (
    SECTION_LIMIT,
    clip,
    escape,
    fit,
    record_buttons,
    slack_date,
    user,
)
from bot.slack.blocks.text import late_by
from bot.slack.ids import INPUT, ActionId, ViewId
from store.models import DueWork, Record

if TYPE_CHECKING:
    from bot.services.escalation import Audience

# 50 blocks a message: a header and a footer, then two blocks a record.
PAGE_GROUP = 20

ASK = "Record the continuity risk and interim action."

REASON_TEXT = {
    "overdue": "past its response deadline with no partner acknowledgement",
    "review": "at its review time and still unresolved",
    "safeguard": "running its interim safeguard past its intended end",
}


def _risk(record: Record) -> str:
    return Risk(record.risk).label if record.risk else "not rated"


def reminder_text(record: Record, now: datetime) -> str:
    if record.tracked:
        return tracker_pages.reminder_text(record, now)
    left = (format_duration(to_the_second(record.due_at - now)) if record.due_at > now
            else "no time")
    what = ("response deadline" if record.kind == RecordKind.HANDOFF else "next review")
    return (f":alarm_clock: *{record.reference}* ({escape(record.person_ref)}, "
            f"{escape(record.partner.display_name)}): {left} left before its {what}, "
            f"{slack_date(record.due_at)}.")


def reminder_blocks(record: Record, now: datetime) -> list[Block]:
    text = SectionBlock(text=MarkdownTextObject(text=fit(reminder_text(record, now),
                                                         SECTION_LIMIT, ref=record.reference)))
    if record.tracked:  # a step or a tracker: what to type (its card has the buttons)
        return [text, ContextBlock(elements=[MarkdownTextObject(
            text=tracker_pages.reminder_hint(record))])]
    return [text, ActionsBlock(block_id=f"reminder:{record.id}",
                               elements=record_buttons(record))]


def mention(audience: Audience) -> str:
    """Whom a page names, in mrkdwn: its people's and groups' mentions, or "here" (nobody
    named: the whole channel; page_text writes it <!here>)."""
    if audience.channel:
        return "here"
    return " ".join([*(f"<@{u}>" for u in audience.users),
                     *(f"<!subteam^{g}>" for g in audience.groups)])


def target_mention(target: str) -> str:
    return "<!here>" if target == "here" else target


def settled_text(record: Record, work: DueWork) -> str | None:
    """What became of a paged record since the page went out, or None while the page's
    reason still holds: the partner acknowledged (saying how late), or it was closed."""
    if record.tracked:
        return tracker_pages.settled_text(record, work)
    overdue = (work.reason or "overdue") == "overdue"
    ack = record.acknowledged_at
    parts: list[str] = []
    if overdue and ack is not None:
        late = ack - record.due_at
        when = (f"{format_duration(late)} after the response deadline" if late.total_seconds() > 0
                else "before the response deadline")
        parts.append(f"{escape(record.partner.display_name)} acknowledged "
                     f"{slack_date(ack)}, {when}")
    if record.status in CLOSED_WORDS:
        at = f" {slack_date(record.closed_at)}" if record.closed_at else ""
        parts.append(f"{CLOSED_WORDS[record.status]}{at}")
    if not parts and overdue and record.status != "overdue":
        parts.append(f"now {record.status}")
    return "; ".join(parts) or None


CLOSED_WORDS = {"closed": "closed", "resolved": "resolved", "cancelled": "cancelled"}


def superseded(record: Record, work: DueWork) -> bool:
    """The record has climbed past this page's tier: the latest page is the one to act on."""
    return (work.tier or 1) < (record.escalation_tier or 1) and not work.acked_by


def page_row(record: Record, work: DueWork, now: datetime) -> str:
    if record.tracked:  # a step or a tracker: no partner, its own words
        return fit("\n".join(tracker_pages.page_lines(record, work, now)
                             + _ack_lines(record, work, settled_text(record, work))),
                   SECTION_LIMIT, ref=record.reference)
    since = record.due_at if work.reason != "safeguard" else (record.safeguard_until or now)
    late = late_by(since, now)
    kind = "Handoff" if record.kind == RecordKind.HANDOFF else "Dependency"
    settled = settled_text(record, work)
    if settled is None:
        why = (f"{REASON_TEXT.get(work.reason or 'overdue', '')}: "
               f"{'overdue' if work.reason == 'overdue' else 'due'} {late} "
               f"(since {slack_date(since)})")
    else:
        # The page went out for a reason that no longer holds: it says what happened since.
        why = f":white_check_mark: {settled}"
    lines = [f"*{kind} {record.reference}* · {escape(record.person_ref)} · "
             f"{escape(record.partner.display_name)}",
             f"{why} · continuity risk: *{_risk(record)}* · owner {user(record.owner_id)}"]
    if record.kind == RecordKind.DEPENDENCY:
        lines.append(f"Missing: {escape(clip(record.missing_action or '', 300))}")
    if record.interim_action:
        lines.append(f"Interim action: {escape(clip(record.interim_action, 300))}")
    return fit("\n".join(lines + _ack_lines(record, work, settled)), SECTION_LIMIT,
               ref=record.reference)


def _ack_lines(record: Record, work: DueWork, settled: str | None) -> list[str]:
    """Who acknowledged this page, or that the record has climbed past it."""
    if work.acked_by and work.acked_at is not None:  # set together, on acknowledging
        return [f":white_check_mark: Acknowledged by {user(work.acked_by)} at "
                f"{slack_date(work.acked_at, '{time}')}"]
    if superseded(record, work) and settled is None:
        return [f":arrow_up: Escalated to tier {record.escalation_tier} since: "
                "acknowledge the latest page."]
    return []


def page_buttons(record: Record, work: DueWork) -> list[ButtonElement]:
    value = str(work.id)
    buttons = []
    if (not work.acked_by and settled_text(record, work) is None
            and not superseded(record, work)):  # else: nothing here to acknowledge
        buttons.append(ButtonElement(text="Acknowledge", action_id=ActionId.PAGE_ACK,
                                     value=value, style="primary"))
    if record.tracked:  # a step is settled on its tracker's card or with /baton step
        if record.status in ("open", "blocked"):
            buttons.append(ButtonElement(text="Record interim action",
                                         action_id=ActionId.INTERIM, value=str(record.id)))
        return buttons
    buttons.append(ButtonElement(text="Record interim action", action_id=ActionId.INTERIM,
                                 value=str(record.id)))
    buttons.append(ButtonElement(text="Resolve", action_id=ActionId.RESOLVE,
                                 value=str(record.id)))
    return buttons


def needing(items: Sequence[tuple[DueWork, Record]]) -> int:
    """How many of a page's records still need what it asks (not acknowledged by the
    partner since, nor closed)."""
    return sum(1 for work, record in items if settled_text(record, work) is None)


def page_what(records: Sequence[Record]) -> tuple[str, str]:
    """What a page's items are called and what it asks of whoever it names: records
    (handoffs, dependencies) or a tracker's steps."""
    if not any(r.tracked for r in records):
        return "record", ASK
    return tracker_pages.page_noun_and_ask(records)


def page_text(target: str, tier_name: str, tier: int, count: int, *, late: bool,
              what: tuple[str, str] = ("record", ASK)) -> str:
    """`what`: page_what(the page's records)."""
    if count == 0:  # a page updated after the fact: every record on it is settled
        return (f":white_check_mark: Escalation tier {tier}, {escape(tier_name)}: nothing on "
                "this page needs you any more.")
    noun, ask = what
    needs = f"{noun} needs" if count == 1 else f"{noun}s need"
    late_note = " (sent late: Baton was catching up)" if late else ""
    return (f"{target_mention(target)} :rotating_light: Escalation tier {tier}, "
            f"{escape(tier_name)}: "
            f"{count} {needs} you{late_note}. {ask}")


def unreachable_reason(error: str, *, needed: str | None = None) -> str:
    """Why Slack would not take a message in a channel, in plain words."""
    if error == "not_in_channel":
        return "Baton is not in that channel"
    if error == "is_archived":
        return "the channel was archived"
    if error == "channel_not_found":
        return "the channel does not exist, or it is private and Baton was never invited"
    if error == "missing_scope":
        return f"Baton lacks the permission `{escape(needed or 'unknown')}`"
    return f"Slack answered `{escape(error)}`"


def unreachable_fix(channel: str, error: str) -> str:
    if error == "not_in_channel":
        return f"/invite @Baton in <#{channel}>"
    if error == "is_archived":
        return (f"unarchive <#{channel}>, or give the tier another channel in the ladder "
                "(BATON_CONFIG)")
    if error == "channel_not_found":
        return (f"/invite @Baton in <#{channel}> if it is private, or give the tier a channel "
                "that exists in the ladder (BATON_CONFIG)")
    if error == "missing_scope":
        return "a workspace admin reinstalls the app, granting that permission"
    return "check the channel in the ladder (BATON_CONFIG)"


def unreachable_line(channel: str, error: str, *, needed: str | None = None) -> str:
    """The line a rerouted page carries: where it could not go, why, and the fix."""
    return (f":warning: Baton could not post this page in <#{channel}>: "
            f"{unreachable_reason(error, needed=needed)}. "
            f"To fix: {unreachable_fix(channel, error)}.")


def card_unpostable_note(error: str, *, needed: str | None = None) -> str:
    """Told to whoever logged a record whose card Slack would not take in its channel: the
    record is saved, where its pages go meanwhile, and the fix."""
    fix = ("invite me with `/invite @Baton`" if error in ("not_in_channel", "channel_not_found")
           else "ask an admin to fix it")
    return (f":warning: I couldn't post its card in this channel "
            f"({unreachable_reason(error, needed=needed)}): {fix}. The record is saved and "
            "its reminders still reach its owner by DM; until then its pages go to the "
            "coordination channel, or by DM to its owner and the coordinator of the day.")


def page_blocks(*, target: str, tier_name: str, tier: int,
                items: Sequence[tuple[DueWork, Record]], now: datetime, late: bool,
                notice: str | None = None) -> list[Block]:
    """One message for every record due for this channel and tier at once. `notice`: a
    page rerouted from a channel Baton could not post in says so under its header."""
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(
        text=page_text(target, tier_name, tier, needing(items), late=late,
                       what=page_what([r for _, r in items]))))]
    if notice:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=fit(notice, SECTION_LIMIT))))
    for work, record in items:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=page_row(record, work, now))))
        buttons = page_buttons(record, work)
        if buttons and record.status not in ("closed", "cancelled", "resolved"):
            blocks.append(ActionsBlock(block_id=f"page:{work.id}", elements=buttons))
    climbing = needing(items) > 0
    blocks.append(ContextBlock(elements=[MarkdownTextObject(
        text=("Acknowledge stops the climb to the next tier. " if climbing else "")
        + "`/baton show REF` for the trail.")]))
    return blocks


_RISK_OPTIONS = [Option(value=r.value, label=r.label) for r in Risk]


def interim_modal(record: Record) -> View:
    head = (tracker_pages.subject(record) if record.tracked else
            f"*{record.reference}* {escape(record.person_ref)} → "
            f"{escape(record.partner.display_name)} · continuity risk {_risk(record)}")
    blocks: list[Block] = [
        SectionBlock(text=MarkdownTextObject(text=fit(head, SECTION_LIMIT))),
        InputBlock(block_id="text", label="Interim action / next step",
                   hint="e.g. temporary hold, alternative support, internal review, "
                        "commissioner notice; who does what next",
                   element=PlainTextInputElement(action_id=INPUT, multiline=True,
                                                 max_length=1000)),
    ]
    if record.tracked:  # a step has no continuity risk or review of its own
        return _interim_view(record, blocks)
    # The continuity risk can be re-rated here as it changes (seeds: "records the continuity
    # risk and interim action"); left as it is, nothing changes.
    current = next((o for o in _RISK_OPTIONS if o.value == record.risk), None)
    blocks.append(InputBlock(
        block_id="risk", label="Continuity risk", optional=True,
        hint="Re-rate it if it has changed. The record keeps its escalation ladder.",
        element=StaticSelectElement(action_id=INPUT, options=_RISK_OPTIONS,
                                    initial_option=current)))
    if record.kind == RecordKind.DEPENDENCY:
        blocks.append(InputBlock(
            block_id="review", label="Next review time", optional=True,
            hint="tomorrow 9am · in 2h · 2 business days",
            element=PlainTextInputElement(action_id=INPUT, max_length=200)))
    return _interim_view(record, blocks)


def _interim_view(record: Record, blocks: list[Block]) -> View:
    return View(type="modal", callback_id=ViewId.INTERIM, title="Interim action",
                submit="Record", close="Back", blocks=blocks,
                private_metadata=json.dumps({"record": record.id}))


def paged_line(tier: int, tier_name: str, where: str, *,
               unreachable: tuple[str, str] | None = None) -> str:
    """The thread line for a page that went out `where` ("in <#C…>", "by DM to <@U…>");
    `unreachable`: the channel it could not be posted in, and why."""
    line = f"escalation tier {tier} ({escape(tier_name)}) paged {where}"
    if unreachable is not None:
        line += f" (Baton could not post in <#{unreachable[0]}>: {unreachable[1]})"
    return line + "."


def reminder_line(record: Record, left: str) -> str:
    """The card thread's line for a reminder sent to the owner, `left` before its time."""
    if record.tracked:
        return tracker_pages.reminder_line(record, left)
    return f"Reminder sent to <@{record.owner_id}>: {left} left."


def overdue_line(record: Record) -> str:
    return "The response deadline passed with no partner acknowledgement: marked overdue."


# Who may change a channel's ladder: admins only (bot/domain/permissions.py,
# Act.CHANGE_LADDER; tests/unit/test_words.py holds the two together).
LADDER_CHANGE = ("Only admins (`[roles] admins` in the config file; Slack workspace admins "
                 "while none is listed) may change it: `/baton ladder use NAME`, "
                 "`/baton ladder reset`.")


def ladder_blocks(config: LadderConfig, *, chosen: str | None) -> list[Block]:
    """`/baton ladder`: the ladder new records in this channel start with, and the others."""
    def describe(ladder: Ladder) -> str:
        lines = [f"*{ladder.name}* · reminders "
                 + (", ".join(_short_duration(d) for d in ladder.remind_before) or "none")
                 + f" before the deadline · an acknowledged page climbs again after "
                   f"{_short_duration(ladder.ack_timeout)} with no interim action"]
        for n, tier in enumerate(ladder.tiers, 1):
            where = f"<#{tier.channel}>" if tier.channel else "the record's channel"
            when = ("at the deadline" if n == 1 and not tier.after else
                    f"{_short_duration(tier.after)} after "
                    + ("the deadline" if n == 1 else "the previous page"))
            target = " and ".join(t.wire() if t.kind in ("user", "usergroup") else
                                  f"the {t.kind}" for t in tier.targets)
            lines.append(f"{n}. {escape(tier.name)}: pages {target} in {where}, {when}")
        return "\n".join(lines)

    if chosen:
        head = f"This channel uses the *{chosen}* ladder for new records."
    else:
        by_risk = ", ".join(f"{Risk(r).label} risk → {n}" for r, n in config.for_risk.items())
        head = "This channel uses the *default* ladder" + (f" ({by_risk})" if by_risk else "") \
            + " for new records."
    out: list[Block] = [SectionBlock(text=MarkdownTextObject(text=head))]
    for ladder in config.ladders.values():
        out.append(SectionBlock(text=MarkdownTextObject(text=fit(describe(ladder),
                                                                 SECTION_LIMIT))))
    out.append(ContextBlock(elements=[MarkdownTextObject(
        text=f"A record keeps the ladder it started with. {LADDER_CHANGE}")]))
    return out


def _short_duration(td: timedelta) -> str:
    return format_duration(td)
