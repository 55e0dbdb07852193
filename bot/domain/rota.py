"""Coordinator of the day: who it is on a given date, from a one-day assignment, a weekly
rota and absence cover. Pure: the store keeps the rows, this decides."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from bot.domain.quoting import quoted
from bot.domain.records import DomainError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_ABBREVIATIONS = {"mon": 0, "tue": 1, "tues": 1, "wed": 2, "thu": 3, "thur": 3, "thurs": 3,
                  "fri": 4, "sat": 5, "sun": 6}
_SPECIFICITY = {"cover": 0, "date": 1, "weekday": 2}  # lower wins


@dataclass(frozen=True)
class Assignment:
    user_id: str
    kind: str  # date | weekday | cover
    set_at: datetime
    weekday: int | None = None
    date_from: date | None = None
    date_to: date | None = None

    def covers(self, day: date) -> bool:
        if self.kind == "weekday":
            return self.weekday == day.weekday()
        if self.kind == "date":
            return self.date_from == day
        return (self.date_from is not None and self.date_to is not None
                and self.date_from <= day <= self.date_to)


def coordinator_on(day: date, assignments: Iterable[Assignment]) -> Assignment | None:
    """Absence cover beats a one-day assignment, which beats the weekly rota; within one
    kind, the latest set wins (the rows are never edited, so history stays auditable)."""
    matching = [a for a in assignments if a.covers(day)]
    if not matching:
        return None
    return min(matching, key=lambda a: (_SPECIFICITY[a.kind], -a.set_at.timestamp()))


def read_weekdays(text: str) -> list[int]:
    """`monday,wednesday`, `mon wed fri`, `Tue, Thu` -> [0, 2] ... in week order."""
    words = [w for w in re.split(r"[\s,;/&]+|\band\b", text.lower()) if w]
    if not words:
        raise DomainError("Name the rota's days, e.g. `monday,wednesday`.")
    days: set[int] = set()
    for word in words:
        word = word.rstrip(".")
        if word in WEEKDAYS:
            days.add(WEEKDAYS.index(word))
        elif word.rstrip("s") in WEEKDAYS:  # "mondays"
            days.add(WEEKDAYS.index(word.rstrip("s")))
        elif word in _ABBREVIATIONS:
            days.add(_ABBREVIATIONS[word])
        else:
            raise DomainError(f"{quoted(word, 20)} is not a day of the week: use names like "
                              "`monday,wednesday`.")
    return sorted(days)


def describe_days(days: Iterable[int]) -> str:
    return ", ".join(WEEKDAYS[d].capitalize() for d in sorted(days))
