"""The lines the time engine puts into a tracker card's thread (a step past due, the
decision deadline, a sprint's end). Pure functions of the records."""

from __future__ import annotations

from bot.slack.blocks.text import escape
from store.models import Record


def step_overdue_line(step: Record) -> str:
    return (f":alarm_clock: {step.reference} *{escape(step.title or '')}* is past its due "
            f"time and still {step.status}: paging <@{step.owner_id}>.")


def decision_due_line(tracker: Record) -> str:
    return (f"{tracker.reference}'s hard decision deadline has passed with no decision "
            "(moved to a funded program, or escalated again with evidence): paging.")


def sprint_closed_line(summary: str) -> str:
    return f":checkered_flag: The sprint closed: {escape(summary)}."
