"""The lines the time engine puts into a tracker card's thread (a step past due, the
decision deadline, a sprint's end). Pure functions of the records."""

from __future__ import annotations

from bot.slack.blocks.text import escape
from store.models import Record


def step_overdue_line(step: Record) -> str:
    # Its ladder says whom it pages (tier 1 need not be the owner); the page's own line
    # follows in this thread.
    return (f":alarm_clock: {step.reference} *{escape(step.title or '')}* (owner "
            f"<@{step.owner_id}>) is past its due time and still {step.status}.")


def decision_due_line(tracker: Record) -> str:
    return (f"{tracker.reference}'s hard decision deadline has passed with no decision "
            "(moved to a funded program, or escalated again with evidence): paging.")


def sprint_closed_line(summary: str) -> str:
    return f":checkered_flag: The sprint closed: {escape(summary)}."
