"""What pages, reminders and nudges say about a tracker or one of its steps (records of kind
"tracker" and "step", which have no partner): a step past its due time, the commissioner's
decision on a funding start that differs from the move date, a service change's immediate
risk, a provisional package's hard decision deadline. bot/slack/blocks/pages.py and
roster.py hand tracked records here. Pure functions of the records and due work."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any

from bot.domain.times import format_duration, to_the_second
from bot.domain.tracker_config import TemplateConfig, default_templates
from bot.domain.trackers import (
    DECISION_LABELS,
    FUNDING_DECISIONS,
    IMPACT_PARTS,
    StepStatus,
    agency_label,
    decision_label,
)
from bot.services.trackers import FUNDING_STEP
from bot.slack.blocks.text import clip, escape, late_by, slack_date, user
from store.models import DueWork, Record

SETTLED_STEP = {StepStatus.DONE.value, StepStatus.NOT_APPLICABLE.value,
                StepStatus.REFUSED.value}


@lru_cache(maxsize=1)
def _builtin() -> TemplateConfig:
    return default_templates()


def _field_label(template: str | None, key: str) -> str:
    """A tracker field's label from the built-in templates (a config's own field: its key)."""
    tpl = _builtin().get(template or "")
    found = tpl.field(key) if tpl is not None else None
    return found.label if found is not None else key.replace("-", " ").capitalize()


def _title(record: Record) -> str:
    if record.title:
        return record.title
    tpl = _builtin().get(record.template or "")
    return tpl.title if tpl is not None else "Tracker"


def _values(record: Record) -> dict[str, Any]:
    return dict((record.details or {}).get("values", {}))


def is_funding(record: Record) -> bool:
    return record.kind == "step" and record.step_key == FUNDING_STEP


def subject(record: Record) -> str:
    """"T-12.3 · P-1042 · Medication list (Pharmacy, owner <@U…>)": a step, or a tracker."""
    if record.kind == "step":
        group = f", {escape(record.step_group)}" if record.step_group else ""
        return (f"*{record.reference}* · {escape(record.person_ref)} · "
                f"{escape(record.title or '')} ({escape(agency_label(record.agency or ''))}"
                f"{group}, owner {user(record.owner_id)})")
    return (f"*{record.reference}* · {escape(record.person_ref)} · {escape(_title(record))} "
            f"(owner {user(record.owner_id)})")


def short_subject(record: Record) -> str:
    """For a nudge: "P-1042 · Medication list"."""
    return f"{escape(record.person_ref)} · {escape(_title(record))}"


def _step_state(record: Record) -> str:
    known = {s.value for s in StepStatus}
    label = StepStatus(record.status).label.lower() if record.status in known else record.status
    if record.status == StepStatus.BLOCKED and record.outcome:
        return f"{label}: {escape(clip(record.outcome, 300))}"
    return label


def settled_text(record: Record, work: DueWork) -> str | None:
    """What became of a paged step or tracker since the page went out, or None while the
    page's reason still holds."""
    if record.kind == "step":
        if record.status not in SETTLED_STEP:
            if record.closed_at is None:  # still chased
                return None
            # Its tracker ended (the sprint closed, the decision made, cancelled) first.
            return (f"not done when its tracker ended {slack_date(record.closed_at)} "
                    f"(still {record.status})")
        at = f" {slack_date(record.closed_at)}" if record.closed_at else ""
        if record.decision:
            said = f" ({escape(clip(record.outcome, 200))})" if record.outcome else ""
            return f"decided{at}: {decision_label(record.decision)}{said}"
        said = f": {escape(clip(record.outcome, 200))}" if record.outcome else ""
        return f"{StepStatus(record.status).label.lower()}{at}{said}"
    if record.status == "open":
        return None
    at = f" {slack_date(record.closed_at)}" if record.closed_at else ""
    if record.decision:
        said = f" ({escape(clip(record.outcome, 200))})" if record.outcome else ""
        return f"decided{at}: {decision_label(record.decision)}{said}"
    return f"{record.status}{at}"


def _ago(since: datetime, now: datetime) -> str:
    """"*2h ago*", or "*just now*" in the first minute."""
    late = late_by(since, now)
    return late if late == "*just now*" else f"{late.removeprefix('by ')[:-1]} ago*"


def _funding_lines(step: Record, work: DueWork, now: datetime) -> list[str]:
    mismatch = dict((step.details or {}).get("mismatch", {}))
    days = int(mismatch.get("days", 0))
    label = _field_label(step.template, str(mismatch.get("field", "funding-start")))
    starts = _when(mismatch.get("at"))
    anchor = _when(mismatch.get("anchor"))
    choices = " / ".join(DECISION_LABELS[c].lower() for c in FUNDING_DECISIONS)
    parent = step.reference.split(".")[0]
    lines = [f"The {label.lower()}{starts} differs from the move date{anchor} by "
             f"*{abs(days)} day{'s' if abs(days) != 1 else ''}* "
             f"({'later' if days > 0 else 'earlier'}).",
             f"Commissioner: your decision ({choices}) is needed by "
             f"{slack_date(step.due_at)}"
             + (f", {_ago(step.due_at, now)}" if work.reason == "step" else "")
             + f": `/baton decide {parent} approved-adjustment|declined|other TEXT`."]
    impact = dict((step.details or {}).get("impact") or {})
    if impact:
        parts = "; ".join(f"{IMPACT_PARTS.get(k, k.capitalize())}: {escape(clip(str(v), 200))}"
                          for k, v in impact.items())
        lines.append(f"Impact statement: {parts}")
    else:
        lines.append("Impact statement: _not recorded yet_.")
    return lines


def _when(iso: Any) -> str:
    if not isinstance(iso, str):
        return ""
    try:
        return f" ({slack_date(datetime.fromisoformat(iso), '{date_short_pretty}')})"
    except ValueError:
        return ""


def _urgent_lines(tracker: Record) -> list[str]:
    values = _values(tracker)
    tpl = _builtin().get(tracker.template or "")
    urgent_key = tpl.urgent_field if tpl is not None else "immediate-risk"
    facts = [f"{escape(_field_label(tracker.template, k))}: {escape(clip(str(v), 200))}"
             for k, v in values.items() if k != urgent_key]
    since = tracker.anchor_at or tracker.created_at
    lines = [f":rotating_light: *Immediate risk*: a service change since "
             f"{slack_date(since)} needs action now."]
    if facts:
        lines.append(" · ".join(facts))
    return lines


def _decision_lines(tracker: Record, now: datetime) -> list[str]:
    return [f":alarm_clock: The hard decision deadline passed {_ago(tracker.due_at, now)} "
            f"({slack_date(tracker.due_at)}) with no decision: moved to a funded program "
            "(which one), or escalated again with evidence.",
            f"`/baton decide {tracker.reference} funded PROGRAM` · "
            f"`/baton decide {tracker.reference} escalated EVIDENCE`"]


def page_lines(record: Record, work: DueWork, now: datetime) -> list[str]:
    """A tracked record's rows on a page (before the acknowledgement line)."""
    settled = settled_text(record, work)
    lines = [subject(record)]
    if is_funding(record):
        body = _funding_lines(record, work, now)
    elif record.kind == "step":
        body = [f":alarm_clock: Past its due time {late_by(record.due_at, now)} (due "
                f"{slack_date(record.due_at)}) · {_step_state(record)}"]
    elif work.reason == "urgent":
        body = _urgent_lines(record)
    elif work.reason == "decision":
        body = _decision_lines(record, now)
    else:
        body = [f"Due {slack_date(record.due_at)} · {escape(record.status)}"]
    if settled is not None:
        # The page went out for a reason that no longer holds: it says what happened since.
        body = [f":white_check_mark: {settled}"]
    if record.interim_action:
        body.append(f"Interim action: {escape(clip(record.interim_action, 300))}")
    return lines + body


def page_noun_and_ask(records: Iterable[Record]) -> tuple[str, str]:
    """What a page's items are ("step", "tracker", or "item" when mixed with records) and
    what it asks, for pages.page_text."""
    rows = list(records)
    if rows and all(r.kind == "step" for r in rows):
        if all(is_funding(r) for r in rows):
            return "step", "Record the commissioner's decision."
        return "step", "Do the step, or mark it blocked with the reason."
    if rows and all(r.kind == "tracker" for r in rows):
        return "tracker", "Act now, and record what was done."
    return "item", "Act on each one below."


def reminder_text(record: Record, now: datetime) -> str:
    left = (format_duration(to_the_second(record.due_at - now)) if record.due_at > now
            else "no time")
    if record.kind == "step":
        return (f":alarm_clock: {subject(record)}: {left} left before its due time, "
                f"{slack_date(record.due_at)}.")
    return (f":alarm_clock: {subject(record)}: {left} left before its hard decision "
            f"deadline, {slack_date(record.due_at)}: moved to a funded program (which one), "
            "or escalated again with evidence.")


def reminder_hint(record: Record) -> str:
    if record.kind == "step":
        parent = record.reference.split(".")[0]
        return (f"`/baton step {parent} {record.step_key} done` when it is done; blocked, na "
                f"or refused with the reason. `/baton show {parent}` for the tracker.")
    return (f"`/baton decide {record.reference} funded PROGRAM` or "
            f"`/baton decide {record.reference} escalated EVIDENCE`.")


def reminder_line(record: Record, left: str) -> str:
    """The tracker card thread's line for a reminder: it names the step (the thread is the
    tracker's, not the step's own)."""
    what = f"{record.reference} {escape(record.title or '')}" if record.kind == "step" \
        else record.reference
    return f"Reminder sent to {user(record.owner_id)} for {what}: {left} left."
