"""The huddle's single shared roster: open records sorted by risk flags (seed 004: "a single
shared roster view: participants are sorted by risk flags"), each with its next-action owner.
Pure: callers hand in the facts, this decides the flags and the order."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any


class Flag(IntEnum):
    """Risk flags, most urgent first (the value is the sort weight's order)."""

    OVERDUE = 0
    SAME_DAY_RISK = 1
    UNACKNOWLEDGED_PAGE = 2
    SAFEGUARD_EXPIRING = 3
    REVIEW_DUE = 4
    DUE_TODAY = 5
    NO_NEXT_ACTION = 6

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def emoji(self) -> str:
        return _EMOJI[self]


_LABELS = {
    Flag.OVERDUE: "Overdue",
    Flag.SAME_DAY_RISK: "Same-day risk",
    Flag.UNACKNOWLEDGED_PAGE: "Unacknowledged page",
    Flag.SAFEGUARD_EXPIRING: "Safeguard expiring",
    Flag.REVIEW_DUE: "Review due",
    Flag.DUE_TODAY: "Due today",
    Flag.NO_NEXT_ACTION: "No next-action owner",
}
_EMOJI = {
    Flag.OVERDUE: ":red_circle:",
    Flag.SAME_DAY_RISK: ":rotating_light:",
    Flag.UNACKNOWLEDGED_PAGE: ":bell:",
    Flag.SAFEGUARD_EXPIRING: ":shield:",
    Flag.REVIEW_DUE: ":mag:",
    Flag.DUE_TODAY: ":date:",
    Flag.NO_NEXT_ACTION: ":grey_question:",
}
_RISK_ORDER = {"same-day": 0, "short-term": 1, "emerging": 2}
SAFEGUARD_WINDOW = timedelta(hours=24)  # "about to run out"


@dataclass(frozen=True)
class Row:
    record: Any  # a record (reference, kind, status, risk, due_at, safeguard_until, ...)
    flags: tuple[Flag, ...]

    @property
    def next_owner(self) -> str | None:
        return getattr(self.record, "next_action_owner", None)


def flags_for(record: Any, *, now: datetime, day_end: datetime,
              unacknowledged_page: bool) -> tuple[Flag, ...]:
    """The flags of one open record. `day_end` is the end of the viewer's working day, for
    "due today"; a record whose deadline has passed is overdue (a handoff) or has its review
    due (a dependency)."""
    out: list[Flag] = []
    past_due = record.due_at <= now
    if record.kind == "handoff":
        if record.status == "overdue" or (past_due and record.status == "pending"):
            out.append(Flag.OVERDUE)
    elif past_due:
        out.append(Flag.REVIEW_DUE)
    if record.risk == "same-day":
        out.append(Flag.SAME_DAY_RISK)
    if unacknowledged_page:
        out.append(Flag.UNACKNOWLEDGED_PAGE)
    until = getattr(record, "safeguard_until", None)
    if until is not None and until <= now + SAFEGUARD_WINDOW:
        out.append(Flag.SAFEGUARD_EXPIRING)
    if not past_due and record.due_at <= day_end:
        out.append(Flag.DUE_TODAY)
    if not getattr(record, "next_action_owner", None):
        out.append(Flag.NO_NEXT_ACTION)
    return tuple(sorted(out))


def sort_rows(rows: Iterable[Row]) -> list[Row]:
    """Highest risk first: the most urgent flag, then how many flags, then the risk rating,
    then the soonest deadline."""
    def key(row: Row) -> tuple[Any, ...]:
        urgent = [f for f in row.flags if f is not Flag.NO_NEXT_ACTION]
        return (min(urgent) if urgent else len(Flag), -len(urgent),
                _RISK_ORDER.get(row.record.risk or "", 3), row.record.due_at, row.record.id)

    return sorted(rows, key=key)
