"""Reading deadlines that people type, counting business days, and short durations.

Pure domain code: no Slack, no database, and no wall clock. Every reading is relative to the
`now` it is handed, so the same text and `now` always give the same instant.

Rules a reader of this module should know (each has a test in tests/unit/test_times.py):

* Everything a person types is read in *their* time zone `tz`; the result is aware UTC.
* A day without a time ("tomorrow", "friday", "2026-12-01", "Dec 3") means the working
  calendar's end of day (17:00 by default) on that day.
* A bare weekday never means today: "friday" typed on a Friday is next week's Friday, with or
  without a time ("friday 9am" on Friday at 08:00 is also next week). People who mean today
  say "today", "EOD" or "this friday" (which dateparser reads as today).
* A year-less date that names today ("Dec 3" on 3 December) means today, not next year.
* "midnight" is the end of a day: "midnight" is tonight's, "friday midnight" is the
  midnight at the end of Friday (00:00 Saturday).
* "in 2h" / "in 90 minutes" count elapsed time; "in 3 days" / "in 2 weeks" / "in 1 month"
  keep the local wall-clock time, so they do not drift by an hour across a DST change.
* A local time that does not exist (spring forward gap) or happens twice (fall back) is
  resolved with fold=0: a gap time is read with the offset in force before the change
  (02:30 on 8 March 2026 in New York becomes 03:30 EDT), a repeated time is the first one.
* An explicit offset or zone in the text ("2026-12-01T14:00+02:00", "5pm EST") is honoured.
* Shorthand is read: "tmrw", "tmr", "tomorow" (tomorrow); "3p", "fri 3p" (3pm).
* "end of week" / "eow" is the end of day of this week's last working day (Friday, or
  earlier when Friday is a holiday; weeks run Monday to Sunday); once that has passed it is
  refused as past. "end of next week" is next week's.
* "next monday", "next tue 9am" name a day of next week (Monday to Sunday): "next friday"
  on a Wednesday is nine days away, not two; on a Sunday "next monday" is tomorrow.
* "first thing tomorrow" (or "first thing monday", "monday first thing") is the start of
  the working day, WorkingCalendar.start_of_day (09:00); under the working-day rule, on a
  day that is not a working day it is the start of the next working day, with a note.
* The working-day rule (read_deadline; read_time leaves days as they are): a day without a
  time, other than today, that is not a working day (a weekend or a configured holiday)
  moves to the end of the working day before, and the Reading's note says so: "Sat 5 Dec is
  not a working day: read as Fri 4 Dec 17:00 (the working day before)". If that has passed
  too, the text is refused with that reason. A day with a time ("saturday 10am") is kept.
"""

from __future__ import annotations

import re
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import ClassVar, cast
from zoneinfo import ZoneInfo

from dateparser.date import DateData, DateDataParser

from bot.domain.quoting import quoted as _quoted

__all__ = [
    "Reading",
    "TimeReadError",
    "WorkingCalendar",
    "add_business_days",
    "format_duration",
    "parse_duration",
    "read_deadline",
    "read_time",
    "time_examples",
    "to_the_second",
]

# Examples that are in the future whatever the clock says (a bare weekday never means today,
# noon rolls over to tomorrow): for a hint with no clock to hand. With one, time_examples().
EXAMPLES = "tomorrow 5pm, friday 9am, next monday 9am, noon, in 2h, 2 business days"

# Longer than any deadline anyone types; keeps dateparser away from pasted paragraphs.
_MAX_TEXT = 200
_MAX_BUSINESS_DAYS = 1000  # about four years

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class TimeReadError(ValueError):
    """Raised for an unreadable or past time.

    str(err) is a complete user-facing sentence that quotes the text that failed, says why and
    gives examples. `reason` is one of UNREADABLE, PAST or AMBIGUOUS, for callers that branch.
    """

    UNREADABLE: ClassVar[str] = "unreadable"
    PAST: ClassVar[str] = "past"
    AMBIGUOUS: ClassVar[str] = "ambiguous"
    NOT_WORKING: ClassVar[str] = "not a working day"  # and the working day before has passed

    text: str
    reason: str
    detail: str
    examples: str

    def __init__(self, text: str, reason: str, detail: str = "",
                 examples: str = EXAMPLES) -> None:
        self.text = text
        self.reason = reason
        self.detail = detail
        self.examples = examples
        super().__init__(self._sentence())

    def __reduce__(self) -> tuple[type[TimeReadError], tuple[str, str, str, str]]:
        # ValueError would pickle only the message; keep the fields (errors cross threads).
        return (type(self), (self.text, self.reason, self.detail, self.examples))

    def _sentence(self) -> str:
        quoted = _quoted(self.text, 60)
        if self.reason == self.PAST:
            read_as = f" (it reads as {self.detail})" if self.detail else ""
            return (f"The time {quoted} is in the past{read_as}. "
                    f"Give a later one, e.g. {self.examples}.")
        if self.reason == self.NOT_WORKING:
            return f"The time {quoted} can't be used: {self.detail}. Try: {self.examples}."
        if self.reason == self.AMBIGUOUS:
            why = f": {self.detail}" if self.detail else ""
            return f"The time {quoted} is ambiguous{why}. Try: {self.examples}."
        why = f": {self.detail}" if self.detail else ""
        return f"Couldn't read the time {quoted}{why}. Try: {self.examples}."


def _clip(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class WorkingCalendar:
    end_of_day: time = time(17, 0)  # a date with no time means this time on that day
    start_of_day: time = time(9, 0)  # "first thing tomorrow"
    holidays: frozenset[date] = frozenset()  # skipped when counting business days
    workdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})  # Monday=0

    def __post_init__(self) -> None:
        # Accept any iterable from config, but store frozensets so the calendar stays hashable.
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "workdays", frozenset(self.workdays))
        if self.end_of_day.tzinfo is not None or self.start_of_day.tzinfo is not None:
            raise ValueError("end_of_day is a local wall-clock time; give it without a tzinfo")
        if not self.workdays <= set(range(7)):
            raise ValueError(
                f"workdays must be weekday numbers 0-6 (Monday=0), got {self.workdays}"
            )

    def is_working_day(self, d: date) -> bool:
        return d.weekday() in self.workdays and d not in self.holidays


def add_business_days(start: date, n: int, calendar: WorkingCalendar) -> date:
    """The n-th working day after `start` (n >= 1); weekends and holidays skipped."""
    if n < 1:
        raise ValueError(f"add_business_days needs n >= 1, got {n}")
    if not calendar.workdays:
        raise ValueError("the working calendar has no workdays")  # would loop forever
    day = start
    while n:
        day += timedelta(days=1)
        if calendar.is_working_day(day):
            n -= 1
    return day


# --- reading deadlines -------------------------------------------------------------------

_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip
_WORD_NUMBER = "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))

_BUSINESS_DAYS = re.compile(
    rf"(?:(?:in|within)\s+)?(?P<n>\d+|{_WORD_NUMBER})\s+(?:business|working|work)\s+days?"
)

# "EOD" and friends, optionally with a day before or after: "by eod", "today cob", "eod friday".
_EOD_WORDS = (
    r"(?:eod|cob|eob|close\s+of\s+(?:business|play)|end\s+of\s+business"
    r"|end\s+of\s+(?:the\s+)?(?:business\s+|work(?:ing)?\s+)?day)"
)
# The optional day before the marker is lazy (??) so "at midnight" / "by eod" never take
# "at" or "by" as the day.
_EOD = re.compile(rf"(?:(?P<before>.+?)\s+)??(?:(?:by|at)\s+)?{_EOD_WORDS}(?:\s+(?P<after>.+))?")
_MIDNIGHT = re.compile(r"(?:(?P<before>.+?)\s+)??(?:at\s+)?midnight(?:\s+(?P<after>.+))?")

# Relative offsets: "in 2h", "30 minutes", "in 1 hour and 30 minutes", "3 days from now".
_OFFSET_UNITS = {
    "seconds": ("s", "sec", "secs", "second", "seconds"),
    "minutes": ("m", "min", "mins", "minute", "minutes"),
    "hours": ("h", "hr", "hrs", "hour", "hours"),
    "days": ("d", "day", "days"),
    "weeks": ("w", "wk", "wks", "week", "weeks"),
    "months": ("mo", "mos", "month", "months"),
}
_UNIT_OF = {alias: unit for unit, aliases in _OFFSET_UNITS.items() for alias in aliases}
_UNIT = "|".join(sorted(_UNIT_OF, key=len, reverse=True))
# Digits may touch their unit ("2h", "1h30m"); a number word needs a space ("an hour", never
# "am"). The lookahead stops a unit matching the start of a longer word ("2 dayz").
_OFFSET_PART = (
    rf"(?:(?P<num>\d+(?:\.\d+)?)\s*|(?P<word>{_WORD_NUMBER})\s+)(?P<unit>{_UNIT})(?![a-z])"
)
_OFFSET_PART_RE = re.compile(_OFFSET_PART)
_ANY_PART = re.sub(r"\(\?P<\w+>", "(?:", _OFFSET_PART)  # same pattern, repeatable (no names)
_OFFSET = re.compile(
    rf"(?:in\s+)?(?P<parts>{_ANY_PART}(?:\s*(?:and\s*)?{_ANY_PART})*)(?:\s+from\s+now)?"
)

_ISO = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})"
    r"(?:(?:t|\s+)(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,6}))?)?"
    r"\s*(?P<off>z|utc|[+-]\d{2}(?::?\d{2})?)?)?"
)

# A 1-2 digit number must say what it is: a day next to a month ("dec 3"), an hour with
# am/pm ("9 am"), or a count with a unit ("3 days"). dateparser otherwise guesses: "5" is May,
# "17" the 17th (maybe past), "tomorrow at 3" silently drops the 3, "3 5pm" is 29 March.
_MONTH_WORDS = frozenset(
    {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec"}
    | {"january", "february", "march", "april", "june", "july", "august", "september"}
    | {"october", "november", "december"}
)
# Offsets in weeks or months were read already; left for dateparser, these are vague:
# "next week 5pm" (dateparser: 7 days from now), "end of the month".
_VAGUE_WORDS = re.compile(r"\b(?:weeks?|months?|years?)\b")
_NUMBER_PARTNERS = _MONTH_WORDS | frozenset(_UNIT_OF) | {"am", "pm", "a.m.", "p.m."}
_LEADING_NOISE = re.compile(r"\A(?:due\s+)?(?:by\s+)?(?:on\s+)?")

# Shorthand people type, rewritten before reading: "tmrw 5pm", "fri 3p".
_TOMORROW = re.compile(r"\b(?:tmrw|tmr|tmrow|tmro|tomo|tomorow|tommorow|tommorrow|tomorrrow"
                       r"|2moro|2morrow)\b")
_SHORT_MERIDIEM = re.compile(r"(?<![\w:.])(\d{1,2}(?::\d{2})?)([ap])(?![\w.])")

_WEEKDAY_WORDS = {
    "mon": 0, "monday": 0, "tue": 1, "tues": 1, "tuesday": 1, "wed": 2, "weds": 2,
    "wednesday": 2, "thu": 3, "thur": 3, "thurs": 3, "thursday": 3, "fri": 4, "friday": 4,
    "sat": 5, "saturday": 5, "sun": 6, "sunday": 6,
}  # fmt: skip
_WEEKDAY = "|".join(sorted(_WEEKDAY_WORDS, key=len, reverse=True))
_NEXT_WEEKDAY = re.compile(
    rf"next\s+(?:week\s+)?(?:on\s+)?(?P<day>{_WEEKDAY})(?:\s+(?:at\s+)?(?P<at>.+))?"
)
_END_OF_WEEK = re.compile(
    r"(?:the\s+)?(?:eow|end\s+of\s+(?:the\s+|this\s+)?(?:work(?:ing)?\s+)?week"
    r"|(?P<next>end\s+of\s+next\s+(?:work(?:ing)?\s+)?week))"
)
_FIRST_THING = re.compile(
    r"(?:(?P<before>.+?)\s+)??first\s+thing(?:\s+in\s+the\s+morning)?(?:\s+(?P<after>.+))?"
)
_CLOCK = re.compile(r"(?P<h>\d{1,2})(?::(?P<m>\d{2}))?\s*(?P<ap>am|pm|a\.m\.|p\.m\.)?")


@dataclass(frozen=True)
class Reading:
    """A deadline read by read_deadline, and what the person must be told about how."""

    when: datetime  # aware UTC, later than now
    note: str = ""  # set when the working-day rule moved the day typed; else ""


def read_time(
    text: str,
    *,
    now: datetime,
    tz: ZoneInfo,
    calendar: WorkingCalendar = WorkingCalendar(),  # frozen, so one shared default is safe
) -> datetime:
    """Read a time typed by a person in their own time zone `tz`, days taken as typed (a
    rota day, the console's clock). `now` is timezone-aware (any zone). Returns a
    timezone-aware datetime in UTC, strictly later than `now`; otherwise raises
    TimeReadError. A deadline is read with read_deadline, which applies the working-day
    rule."""
    return _read(text, now=now, tz=tz, calendar=calendar, working_days=False).when


def read_deadline(
    text: str,
    *,
    now: datetime,
    tz: ZoneInfo,
    calendar: WorkingCalendar = WorkingCalendar(),
) -> Reading:
    """read_time with the working-day rule (module docstring): a bare day that is not a
    working day moves to the working day before, and the Reading's note says so; show it."""
    return _read(text, now=now, tz=tz, calendar=calendar, working_days=True)


def read_moment(
    text: str,
    *,
    now: datetime,
    tz: ZoneInfo,
    calendar: WorkingCalendar = WorkingCalendar(),
    back: timedelta = timedelta(days=14),
) -> datetime:
    """read_time for when something happened or will: the discharge this morning, the date
    of a health change yesterday, a move next month. A time up to `back` ago is taken as
    typed; one further back is refused (a mistyped year, most likely)."""
    return _read(text, now=now, tz=tz, calendar=calendar, working_days=False,
                 back=back).when


def _read(text: str, *, now: datetime, tz: ZoneInfo, calendar: WorkingCalendar,
          working_days: bool, back: timedelta = timedelta(0)) -> Reading:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("read_time needs a timezone-aware `now`")  # a bug, not user input
    ctx = _Context(
        text=text, now=now.astimezone(UTC), local_now=now.astimezone(tz), tz=tz,
        calendar=calendar, working_days=working_days,
    )
    cleaned = _normalise(text)
    if not cleaned or len(cleaned) > _MAX_TEXT:
        raise ctx.unreadable()

    try:
        result = (
            _read_business_days(cleaned, ctx)
            or _read_end_of_week(cleaned, ctx)
            or _read_first_thing(cleaned, ctx)
            or _read_end_of_day(cleaned, ctx)
            or _read_midnight(cleaned, ctx)
            or _read_offset(cleaned, ctx)
            or _read_iso(cleaned, ctx)
            or _read_next_weekday(cleaned, ctx)
            or _read_with_dateparser(cleaned, ctx)
        )
    except OverflowError as exc:  # "in 99999999 days", "9999-12-31 midnight"
        raise ctx.unreadable("that is too far away") from exc
    if result <= ctx.now - back or (not back and result <= ctx.now):
        raise TimeReadError(text, TimeReadError.PAST, _describe(result, tz), ctx.examples)
    return Reading(result, " ".join(ctx.notes))


def time_examples(now: datetime, tz: ZoneInfo,
                  calendar: WorkingCalendar = WorkingCalendar()) -> str:
    """Examples for a hint, each in the future at `now` (tests/unit/test_times.py reads every
    one back at several clock times): EOD only before today's end of day, end of week only
    while this week's last working day has not ended, a date a working week ahead."""
    local = now.astimezone(tz)
    today = local.date()
    shown = ["tomorrow 5pm", "friday 9am"]
    if _wall_clock(local) < calendar.end_of_day:
        shown.append("EOD")
    last = _last_working_day(today, calendar, weeks_ahead=0)
    if last is not None and (last > today or (
            last == today and _wall_clock(local) < calendar.end_of_day)):
        shown.append("end of week")
    shown += ["in 2h", "2 business days", "next monday 9am"]
    if calendar.workdays:
        ahead = add_business_days(today, 5, calendar)
        shown.append(f"{ahead.isoformat()} 14:00")
    return ", ".join(shown)


@dataclass(frozen=True)
class _Context:
    text: str  # as typed, for error messages
    now: datetime  # aware, UTC
    local_now: datetime  # aware, in tz
    tz: ZoneInfo
    calendar: WorkingCalendar
    working_days: bool = False  # apply the working-day rule to bare days
    notes: list[str] = field(default_factory=list)  # what the rule did, for the Reading

    @property
    def today(self) -> date:
        return self.local_now.date()

    @property
    def examples(self) -> str:
        return time_examples(self.now, self.tz, self.calendar)

    def unreadable(self, detail: str = "") -> TimeReadError:
        return TimeReadError(self.text, TimeReadError.UNREADABLE, detail, self.examples)

    def ambiguous(self, detail: str) -> TimeReadError:
        return TimeReadError(self.text, TimeReadError.AMBIGUOUS, detail, self.examples)

    def at_end_of_day(self, d: date) -> datetime:
        return _wall_to_utc(datetime.combine(d, self.calendar.end_of_day), self.tz)

    def bare_day(self, d: date) -> datetime:
        """The end of day `d`, typed without a time: under the working-day rule a day other
        than today that is not a working day moves to the working day before, and a note
        says so; refused when that has passed too."""
        if not self.working_days or d == self.today or self.calendar.is_working_day(d) \
                or not self.calendar.workdays:
            return self.at_end_of_day(d)
        before = d - timedelta(days=1)
        while not self.calendar.is_working_day(before):
            before -= timedelta(days=1)
        moved = self.at_end_of_day(before)
        day, day_before = _day(d, self.today), _day(before, self.today)
        why = (f"{day} is a holiday" if d in self.calendar.holidays
               else f"{day} is not a working day")
        if moved <= self.now:
            raise TimeReadError(
                self.text, TimeReadError.NOT_WORKING,
                f"{why}, and the working day before ({day_before} "
                f"{self.calendar.end_of_day:%H:%M}) has passed; give a time on {day} or a "
                "working day", self.examples)
        self.notes.append(f"{why}: read as {day_before} {self.calendar.end_of_day:%H:%M} "
                          "(the working day before).")
        return moved


def _wall_clock(local: datetime) -> time:
    """The wall-clock time of an aware local datetime, naive (comparable with the calendar's)."""
    return time(local.hour, local.minute, local.second, local.microsecond)


def _day(d: date, today: date | None = None) -> str:
    year = f" {d.year}" if today is not None and d.year != today.year else ""
    return f"{_WEEKDAYS[d.weekday()]} {d.day} {_MONTHS[d.month - 1]}{year}"


def _normalise(text: str) -> str:
    cleaned = " ".join(text.replace(",", " ").lower().split()).rstrip(".!")
    cleaned = _TOMORROW.sub("tomorrow", cleaned)
    cleaned = _SHORT_MERIDIEM.sub(r"\1\2m", cleaned)  # "3p" -> "3pm"
    # "due by friday", "by EOD", "on monday": the filler words carry no meaning here.
    return _LEADING_NOISE.sub("", cleaned, count=1)


def _last_working_day(today: date, calendar: WorkingCalendar, *, weeks_ahead: int) -> date | None:
    """The last working day of the week (Monday to Sunday) `weeks_ahead` after today's."""
    monday = today - timedelta(days=today.weekday()) + timedelta(weeks=weeks_ahead)
    days = [monday + timedelta(days=i) for i in range(7)]
    working = [d for d in days if calendar.is_working_day(d)]
    return working[-1] if working else None


def _read_end_of_week(cleaned: str, ctx: _Context) -> datetime | None:
    m = _END_OF_WEEK.fullmatch(cleaned)
    if not m:
        return None
    weeks = 1 if m["next"] else 0
    last = _last_working_day(ctx.today, ctx.calendar, weeks_ahead=weeks)
    if last is None:
        raise ctx.unreadable(f"{'next' if weeks else 'this'} week has no working day")
    result = ctx.at_end_of_day(last)
    if result <= ctx.now:
        which = "next week's" if weeks else "this week's"
        raise TimeReadError(
            ctx.text, TimeReadError.PAST,
            f"the end of {which} last working day, {_describe(result, ctx.tz)}"
            + ("" if weeks else "; for next week's, say end of next week"), ctx.examples)
    return result


def _next_week_day(word: str, ctx: _Context) -> date:
    monday = ctx.today - timedelta(days=ctx.today.weekday()) + timedelta(weeks=1)
    return monday + timedelta(days=_WEEKDAY_WORDS[word])


def _clock_time(text: str, ctx: _Context) -> time:
    """A time of day after a day already read: 9am, 9:30, 14:00, noon, EOD."""
    if text in ("noon", "midday"):
        return time(12, 0)
    if re.fullmatch(_EOD_WORDS, text):
        return ctx.calendar.end_of_day
    m = _CLOCK.fullmatch(text)
    if not m or not (m["m"] or m["ap"]):
        raise ctx.ambiguous("give the time with am or pm, e.g. 9am, or as 09:00")
    hour, minute = int(m["h"]), int(m["m"] or 0)
    if m["ap"]:
        if not 1 <= hour <= 12:
            raise ctx.unreadable()
        hour = hour % 12 + (12 if m["ap"].startswith("p") else 0)
    if hour > 23 or minute > 59:
        raise ctx.unreadable()
    return time(hour, minute)


def _read_next_weekday(cleaned: str, ctx: _Context) -> datetime | None:
    m = _NEXT_WEEKDAY.fullmatch(cleaned)
    if not m:
        return None
    day = _next_week_day(m["day"], ctx)
    at = m["at"]
    if not at:
        return ctx.bare_day(day)
    if at in ("noon", "midday") or re.fullmatch(_EOD_WORDS, at) or _CLOCK.fullmatch(at):
        return _wall_to_utc(datetime.combine(day, _clock_time(at, ctx)), ctx.tz)
    # Anything else after the day ("9am EST"): dateparser reads it on that date.
    return _read_with_dateparser(f"{_MONTHS[day.month - 1].lower()} {day.day} {day.year} {at}",
                                 ctx)


def _read_first_thing(cleaned: str, ctx: _Context) -> datetime | None:
    m = _FIRST_THING.fullmatch(cleaned)
    if not m:
        return None
    if m["before"] or m["after"]:
        day = _read_day(m["before"], m["after"], ctx)
    else:  # "first thing": today's start if still ahead, else the next working day's
        day = ctx.today
        if _wall_clock(ctx.local_now) >= ctx.calendar.start_of_day:
            day += timedelta(days=1)
    if ctx.working_days and ctx.calendar.workdays:
        asked = day
        while not ctx.calendar.is_working_day(day):
            day += timedelta(days=1)
        if day != asked:
            ctx.notes.append(
                f"{_day(asked, ctx.today)} is not a working day: read as {_day(day, ctx.today)} "
                f"{ctx.calendar.start_of_day:%H:%M} (first thing on the next working day).")
    return _wall_to_utc(datetime.combine(day, ctx.calendar.start_of_day), ctx.tz)


def _wall_to_utc(wall: datetime, tz: ZoneInfo) -> datetime:
    """A naive local wall-clock time in `tz` as aware UTC. zoneinfo applies the right offset
    for that date (EDT vs EST); fold=0 resolves gaps and repeats (see module docstring)."""
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def _describe(when: datetime, tz: ZoneInfo) -> str:
    # Built by hand rather than strftime("%a %b"), which follows the process locale.
    local = when.astimezone(tz)
    return (
        f"{_WEEKDAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year} "
        f"{local:%H:%M} {local.tzname()}"
    )


def _number(token: str) -> int:
    return _NUMBER_WORDS[token] if token in _NUMBER_WORDS else int(token)


def _read_business_days(cleaned: str, ctx: _Context) -> datetime | None:
    m = _BUSINESS_DAYS.fullmatch(cleaned)
    if not m:
        return None
    n = _number(m["n"])
    if n < 1:
        raise ctx.unreadable("count at least 1 business day")
    if n > _MAX_BUSINESS_DAYS:  # also keeps add_business_days' day-by-day loop short
        raise ctx.unreadable(f"count at most {_MAX_BUSINESS_DAYS} business days")
    return ctx.at_end_of_day(add_business_days(ctx.today, n, ctx.calendar))


def _read_end_of_day(cleaned: str, ctx: _Context) -> datetime | None:
    m = _EOD.fullmatch(cleaned)
    if not m:
        return None
    # Deliberately no roll-over: "EOD" after end of day is refused as past, not moved to
    # tomorrow, because a person who types "EOD" means today.
    return ctx.bare_day(_read_day(m["before"], m["after"], ctx))


def _read_midnight(cleaned: str, ctx: _Context) -> datetime | None:
    m = _MIDNIGHT.fullmatch(cleaned)
    if not m:
        return None
    # "friday midnight" means the end of Friday, so midnight is 00:00 of the following day.
    day = _read_day(m["before"], m["after"], ctx)
    return _wall_to_utc(datetime.combine(day + timedelta(days=1), time(0)), ctx.tz)


def _read_day(before: str | None, after: str | None, ctx: _Context) -> date:
    """The day named around a marker such as EOD or midnight; no day means today."""
    if before and after:
        raise ctx.unreadable()
    phrase = _LEADING_NOISE.sub("", before or after or "", count=1).strip()
    if phrase in ("", "today", "tonight", "this evening"):
        return ctx.today
    m = _NEXT_WEEKDAY.fullmatch(phrase)
    if m and not m["at"]:
        return _next_week_day(m["day"], ctx)
    data = _dateparse(phrase, ctx)
    if data.date_obj is None or data.period not in ("day",) or _has_time_of_day(data):
        raise ctx.unreadable()
    return _today_if_named(data, data.date_obj, ctx).date()


def _read_offset(cleaned: str, ctx: _Context) -> datetime | None:
    m = _OFFSET.fullmatch(cleaned)
    if not m:
        return None
    amounts: dict[str, float] = {}
    for part in _OFFSET_PART_RE.finditer(m["parts"]):
        unit = _UNIT_OF[part["unit"]]
        if unit in amounts:
            raise ctx.unreadable(f"{unit} given twice")
        amounts[unit] = float(part["num"]) if part["num"] else _NUMBER_WORDS[part["word"]]
    calendar_units = ("days", "weeks", "months")
    if any(amounts.get(u, 0) % 1 for u in calendar_units):
        raise ctx.unreadable("use whole days, weeks or months, or hours such as in 36h")

    result = ctx.now
    if any(u in amounts for u in calendar_units):
        # Calendar units move the local date and keep the wall-clock time ("in 3 days" at
        # 09:00 is 09:00 on that day, even across a DST change).
        wall = ctx.local_now.replace(tzinfo=None)
        wall = _add_months(wall, int(amounts.get("months", 0)))
        wall += timedelta(days=int(amounts.get("days", 0)) + 7 * int(amounts.get("weeks", 0)))
        result = _wall_to_utc(wall, ctx.tz)
    # Hours, minutes and seconds are elapsed time, counted on the UTC line.
    return result + timedelta(
        hours=amounts.get("hours", 0),
        minutes=amounts.get("minutes", 0),
        seconds=amounts.get("seconds", 0),
    )


def _add_months(wall: datetime, months: int) -> datetime:
    if not months:
        return wall
    index = wall.month - 1 + months
    year, month = wall.year + index // 12, index % 12 + 1
    if year > 9999:
        raise OverflowError("date out of range")  # read_time reports it as too far away
    # 31 January + 1 month is the last day of February, not an error.
    return wall.replace(year=year, month=month, day=min(wall.day, monthrange(year, month)[1]))


def _read_iso(cleaned: str, ctx: _Context) -> datetime | None:
    m = _ISO.fullmatch(cleaned)
    if not m:
        return None
    try:
        day = date(int(m["y"]), int(m["mo"]), int(m["d"]))
        if m["h"] is None:
            return ctx.bare_day(day)
        micro = int((m["f"] or "0").ljust(6, "0"))
        clock = time(int(m["h"]), int(m["mi"]), int(m["s"] or 0), micro)
        offset = _iso_offset(m["off"])
    except ValueError as exc:  # 2026-02-30, 25:00, +25:00
        raise ctx.unreadable() from exc
    wall = datetime.combine(day, clock)
    if offset is None:
        return _wall_to_utc(wall, ctx.tz)
    return wall.replace(tzinfo=offset).astimezone(UTC)


def _iso_offset(text: str | None) -> timezone | None:
    if text is None:
        return None
    if text in ("z", "utc"):
        return UTC
    digits = text[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
    return timezone(-delta if text[0] == "-" else delta)  # ValueError beyond ±24h


def _read_with_dateparser(cleaned: str, ctx: _Context) -> datetime:
    data = _dateparse(cleaned, ctx)
    parsed = data.date_obj
    if parsed is None:
        raise ctx.unreadable()
    parts = set(data.parts)
    if (
        data.period not in ("day", "time", "part_of_day")
        or (parts & {"year", "month"} and "day" not in parts)
        or _VAGUE_WORDS.search(cleaned)
    ):
        # "next week", "December", "the 5th" (read as a month), "dec 10:30" (a month and a
        # time: dateparser fills in today's day of the month): not a deadline.
        raise ctx.ambiguous("give a day, and a time if it matters")
    has_time = _has_time_of_day(data)
    if parsed.tzinfo is not None:
        # The text named a zone ("5pm EST"). Without a time we cannot tell which local day.
        if not has_time:
            raise ctx.ambiguous("give a time with the time zone, e.g. friday 5pm EST")
        return cast(datetime, parsed.astimezone(UTC))  # dateparser is untyped
    parsed = _today_if_named(data, parsed, ctx)
    if has_time:
        return _wall_to_utc(parsed, ctx.tz)
    return ctx.bare_day(parsed.date())


def _check_numbers(text: str, ctx: _Context) -> None:
    """Refuse a lone 1-2 digit number (see _NUMBER_PARTNERS) before dateparser guesses."""
    tokens = text.split()
    for i, token in enumerate(tokens):
        if not (token.isdigit() and len(token) <= 2):
            continue
        neighbours = {tokens[j] for j in (i - 1, i + 1) if 0 <= j < len(tokens)}
        if not neighbours & _NUMBER_PARTNERS:
            ahead = ctx.today + timedelta(days=7)
            raise ctx.ambiguous(
                f"“{token}” could be a day or an hour; write e.g. 3pm, 15:00 or "
                f"{_MONTHS[ahead.month - 1]} {ahead.day}"
            )


def _has_time_of_day(data: DateData) -> bool:
    """Whether the text gave a time of day. Verified against dateparser 1.5: without
    RETURN_TIME_AS_PERIOD its period is "day" even for "friday 9am", so period alone cannot
    tell. With it, a clock time gives period "time" and a part of day ("tonight") gives
    "part_of_day"; both also list "time" in DateData.parts. Relative days ("tomorrow") are
    period "day" without "time", although date_obj carries RELATIVE_BASE's clock time."""
    return data.period in ("time", "part_of_day") or "time" in data.parts


def _today_if_named(data: DateData, parsed: datetime, ctx: _Context) -> datetime:
    """dateparser's future preference moves a year-less date naming today ("Dec 3" on
    3 December, read at 00:00 which has passed) to next year; a person means today."""
    if "year" in data.parts:
        return parsed
    today = ctx.today
    if (parsed.year, parsed.month, parsed.day) == (today.year + 1, today.month, today.day):
        return parsed.replace(year=today.year)
    # A year-less date a few weeks gone ("Dec 5" on 6 December) is a slip, not a deadline
    # almost a year away: dateparser's future preference would read it as next year's.
    if parsed.year == today.year + 1:
        this_year = _date_in_year(parsed.date(), today.year)
        if this_year is not None and today - this_year <= _RECENTLY_PAST:
            raise ctx.ambiguous(
                f"{_day(this_year, today)} has passed; give a date ahead, or the year if "
                f"you mean {_day(parsed.date(), today)}")
    return parsed


# A year-less date this far behind today is taken as a slip, not as next year's date.
_RECENTLY_PAST = timedelta(days=90)


def _date_in_year(d: date, year: int) -> date | None:
    try:
        return d.replace(year=year)
    except ValueError:  # 29 February
        return None


def _dateparse(text: str, ctx: _Context) -> DateData:
    _check_numbers(text, ctx)
    return _parser(ctx.local_now.replace(tzinfo=None)).get_date_data(text)


def _parser(relative_base: datetime) -> DateDataParser:
    """A dateparser parser reading relative to `relative_base` (naive local time in tz).

    dateparser fixes settings, RELATIVE_BASE included, when a parser is built, so one shared
    parser cannot serve every `now`, and changing a shared parser's settings per call would
    race between worker threads. Measured with dateparser 1.5: building a parser takes well
    under a millisecond; the slow part (~130 ms) is loading the English locale data on first
    use, which dateparser caches process-wide (see _warm_up).
    """
    return DateDataParser(languages=["en"], settings={**_SETTINGS, "RELATIVE_BASE": relative_base})


_SETTINGS: dict[str, object] = {
    "PREFER_DATES_FROM": "future",
    # Makes DateData.period say "time" when the text gave a clock time (see _has_time_of_day).
    "RETURN_TIME_AS_PERIOD": True,
    # RELATIVE_BASE is already naive local time, so dateparser must not apply a zone of its
    # own. Its default, "local", would consult the server's zone; "UTC" is neutral (offset 0
    # in its same-day roll-over test for "5pm") and makes a zone named in the text ("5pm EST")
    # come back converted to aware UTC.
    "TIMEZONE": "UTC",
    # RETURN_AS_TIMEZONE_AWARE is deliberately left at dateparser's default: naive results
    # unless the text named a zone. Setting it to False would silently drop "EST" from
    # "5pm EST" and read 17:00 in the person's own zone.
}


def _warm_up() -> None:
    # Load the English locale data once, at import, instead of inside the first user request.
    _parser(datetime(2000, 1, 1)).get_date_data("tomorrow 5pm")


_warm_up()


# --- durations ---------------------------------------------------------------------------

_SHORT_DURATION = re.compile(
    r"(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?"
)
# ISO 8601 durations without years and months, which have no fixed length.
_ISO_DURATION = re.compile(
    r"p(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?"
    r"(?:t(?=\d)(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+(?:[.,]\d+)?)s)?)?"
)
_DURATION_EXAMPLES = "90s, 30m, 4h, 2d, 1h30m, or ISO 8601 such as PT4H or P1D"


def parse_duration(text: str) -> timedelta:
    """'90s', '30m', '4h', '2d', '1h30m', and ISO 8601 durations like 'PT4H', 'P1D', 'PT90S'.
    '0m' is allowed (zero). Raises ValueError with a clear message naming the text otherwise
    (negative or garbage)."""
    compact = "".join(str(text).split()).lower()
    if len(compact) > 40:  # no real duration is this long; keeps int() away from huge digits
        raise ValueError(f"Couldn't read the duration “{_clip(text)}”: it is too long.")
    if compact.startswith("-"):
        raise ValueError(f"The duration “{text}” is negative; use zero or more, e.g. 30m.")
    if compact.startswith("p"):
        date_part = compact[1:].split("t", 1)[0]
        if "y" in date_part or "m" in date_part:
            raise ValueError(
                f"The duration “{text}” uses years or months, which have no fixed length; "
                f"use days instead, e.g. P30D."
            )
        m = _ISO_DURATION.fullmatch(compact)
    else:
        m = _SHORT_DURATION.fullmatch(compact)
    if not compact or m is None or not any(m.groupdict().values()):
        raise ValueError(f"Couldn't read the duration “{text}”. Use e.g. {_DURATION_EXAMPLES}.")
    g = {k: v or "0" for k, v in m.groupdict().items()}
    try:
        return timedelta(
            weeks=int(g["w"]),
            days=int(g["d"]),
            hours=int(g["h"]),
            minutes=int(g["m"]),
            seconds=float(g["s"].replace(",", ".")),
        )
    except OverflowError as exc:
        raise ValueError(f"The duration “{text}” is too long.") from exc


def to_the_second(td: timedelta) -> timedelta:
    """`td` rounded to the nearest whole second: a span measured by work done a few
    milliseconds after its due moment (a 2h reminder handled at 1h 59m 59.98s before the
    deadline) reads as meant ("2h left"), not one unit short ("1h 59m left")."""
    return timedelta(seconds=round(td.total_seconds()))


def format_duration(td: timedelta) -> str:
    """Short human form: '2d 3h', '4h', '45m', '90s' -> '1m 30s'. Used in messages like
    'overdue by 2h 5m'.

    Shows the largest non-zero unit and, if non-zero, the next one down; the rest is dropped
    (floored), so 2d 3h 59m is '2d 3h' and 1d 0h 5m is '1d'. Under a second is '0s'; a
    negative duration gets a leading '-'.
    """
    sign = "-" if td < timedelta(0) else ""
    seconds = abs(td) // timedelta(seconds=1)
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    units = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    first = next((i for i, (value, _) in enumerate(units) if value), None)
    if first is None:
        return "0s"
    shown = [units[first]]
    if first + 1 < len(units) and units[first + 1][0]:
        shown.append(units[first + 1])
    return sign + " ".join(f"{value}{unit}" for value, unit in shown)


_DAYS_AGO = re.compile(r"(\d{1,4})\s+days?\s+ago")


def read_report_day(text: str, *, today: date) -> date:
    """A day a report starts or ends on: looking back, so the past is what it is for.
    2026-11-01, today, yesterday, 30 days ago. Raises ValueError with a sentence."""
    cleaned = " ".join(text.lower().split())
    if cleaned == "today":
        return today
    if cleaned == "yesterday":
        return today - timedelta(days=1)
    m = _DAYS_AGO.fullmatch(cleaned)
    if m:
        return today - timedelta(days=int(m.group(1)))
    try:
        return date.fromisoformat(cleaned)
    except ValueError:
        raise ValueError(f"Couldn't read the day {_quoted(text, 60)}. Give it as 2026-11-01, "
                         "today, yesterday or 30 days ago.") from None
