"""The grammar of `/baton` sub-commands: splitting the text, reading each sub-command's
arguments, and the usage lines a refusal quotes. Pure: the listeners (handlers/commands.py)
call these, then the services. Every refusal is a DomainError whose text a person sees."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain.grammar import read_user
from bot.domain.records import DomainError, ResponseCategory, read_category
from bot.domain.rota import read_weekdays
from bot.domain.times import TimeReadError, WorkingCalendar, read_report_day, read_time

USAGE = {
    "show": "`/baton show H-3`",
    "ack": "`/baton ack H-3`",
    "respond": "`/baton respond H-3 accept|condition|clarify|decline TEXT`",
    "resolve": "`/baton resolve D-2 OUTCOME`",
    "cancel": "`/baton cancel H-3 REASON`",
    "edit": "`/baton edit H-3 key: value …` (e.g. `/baton edit H-3 due: friday 5pm risk: "
            "same-day`)",
}
LADDER_USAGE = "Try `/baton ladder`, `/baton ladder use NAME` or `/baton ladder reset`."
REPORT_USAGE = ("Try `/baton report` (the last 30 days) or "
                "`/baton report from 2026-11-01 to 2026-11-30`.")
COVER_USAGE = "`/baton coordinator cover @someone from DATE to DATE`"
REPORT_DAYS = 30  # the default report: the last 30 days, today included

# The sub-commands about one record, and the word each one's usage line is under.
RECORD_SUBCOMMANDS = ("show", "ack", "respond", "resolve", "close", "cancel")


@dataclass(frozen=True)
class Command:
    """`/baton WORD REST`: the sub-command word (lower case, "" for none) and the rest."""

    word: str
    rest: str


def split_command(text: str) -> Command:
    """The sub-command and its arguments, as typed after `/baton` (already unescaped)."""
    word, _, rest = text.strip().partition(" ")
    return Command(word.lower(), rest.strip())


# --- /baton ladder ---

@dataclass(frozen=True)
class LadderRequest:
    """`/baton ladder` shows; `use NAME` chooses a ladder for the channel (name as typed:
    the service checks it); `reset` goes back to the default."""

    change: bool
    name: str | None = None


def read_ladder(rest: str) -> LadderRequest:
    word, _, name = rest.partition(" ")
    if word.lower() in ("use", "set"):
        return LadderRequest(change=True, name=name.strip())
    if word.lower() == "reset":
        return LadderRequest(change=True, name=None)
    if word:
        raise DomainError(LADDER_USAGE)
    return LadderRequest(change=False)


# --- /baton report ---

def read_report_range(rest: str, *, today: date) -> tuple[date, date]:
    """The first and last day of the evidence report: `from DAY to DAY`, or by default the
    last 30 days up to today."""
    if rest:
        m = re.fullmatch(r"from\s+(.+?)\s+to\s+(.+)", rest, re.IGNORECASE)
        if not m:
            raise DomainError(REPORT_USAGE)
        try:
            first, last = (read_report_day(m.group(i), today=today) for i in (1, 2))
        except ValueError as exc:
            raise DomainError(str(exc)) from None
    else:
        last = today
        first = last - timedelta(days=REPORT_DAYS - 1)
    if last < first:
        raise DomainError(f"The report ends ({last}) before it starts ({first}).")
    return first, last


# --- /baton coordinator ---

@dataclass(frozen=True)
class CoordinatorRequest:
    """What `/baton coordinator …` asks: `describe` (no arguments), `day` (someone is the
    coordinator today), `weekly` (someone on these weekdays) or `cover` (someone covers from
    one day to another: the days still to be read, against the clock, by read_rota_day)."""

    kind: str
    user_id: str | None = None
    weekdays: tuple[int, ...] = ()
    cover_from: str = ""
    cover_to: str = ""


def read_coordinator(rest: str, *, caller: str) -> CoordinatorRequest:
    if not rest:
        return CoordinatorRequest("describe")
    words = rest.split()
    if words[0].lower() == "cover":
        return read_cover(words[1:], caller=caller)
    who = read_user(words[0], caller=caller, field="coordinator")
    tail = " ".join(words[1:])
    if not tail or tail.lower() == "today":
        return CoordinatorRequest("day", user_id=who)
    return CoordinatorRequest("weekly", user_id=who, weekdays=tuple(read_weekdays(tail)))


def read_cover(words: list[str], *, caller: str) -> CoordinatorRequest:
    text = " ".join(words)
    m = re.fullmatch(r"(\S+)\s+from\s+(.+?)\s+(?:to|until|till)\s+(.+)", text, re.IGNORECASE)
    if not m:
        raise DomainError(f"Say who covers and when: {COVER_USAGE}.")
    who = read_user(m.group(1), caller=caller, field="coordinator")
    return CoordinatorRequest("cover", user_id=who, cover_from=m.group(2), cover_to=m.group(3))


def read_rota_day(text: str, *, now: datetime, tz: ZoneInfo,
                  calendar: WorkingCalendar) -> date:
    """A day for the rota: today, tomorrow, friday, 2026-12-01 ..."""
    if text.strip().lower() == "today":
        return now.astimezone(tz).date()
    try:
        when = read_time(text, now=now, tz=tz, calendar=calendar)
    except TimeReadError as exc:
        if exc.reason == TimeReadError.PAST:  # today's date, typed: still today
            day = now.astimezone(tz).date()
            if text.strip() in (day.isoformat(), f"{day:%Y-%m-%d}"):
                return day
        raise DomainError(str(exc)) from None
    return when.astimezone(tz).date()


# --- /baton show|ack|respond|resolve|close|cancel|edit REF … ---

def read_record_command(word: str, rest: str) -> tuple[str, str]:
    """The record reference and what follows it."""
    parts = rest.split(maxsplit=1)
    if not parts:
        raise DomainError(f"Which record? {USAGE['resolve' if word == 'close' else word]}")
    return parts[0], (parts[1] if len(parts) > 1 else "")


def read_response(tail: str) -> tuple[ResponseCategory, str]:
    """`accept|condition|clarify|decline TEXT` after the reference."""
    word, _, answer = tail.partition(" ")
    if not word:
        raise DomainError(f"Give the response category. {USAGE['respond']}")
    return read_category(word), answer
