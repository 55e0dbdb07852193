"""Tests for bot.domain.times: every `now` is fixed, nothing reads the wall clock.

Calendar facts used throughout (America/New_York, 2026):
* Thu 29 Oct and Fri 30 Oct are EDT (UTC-4); DST ends Sun 1 Nov at 02:00 -> EST (UTC-5).
* DST starts Sun 8 Mar at 02:00 (EST -> EDT).
So 17:00 local is 21:00 UTC in EDT and 22:00 UTC in EST.
"""

from __future__ import annotations

import ast
import pickle
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain import times
from bot.domain.times import (
    TimeReadError,
    WorkingCalendar,
    add_business_days,
    format_duration,
    parse_duration,
    read_time,
    to_the_second,
)

NY = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
LONDON = ZoneInfo("Europe/London")

THU_10AM = datetime(2026, 10, 29, 14, 0, tzinfo=UTC)  # Thu 29 Oct 10:00 EDT
FRI_8AM = datetime(2026, 10, 30, 12, 0, tzinfo=UTC)  # Fri 30 Oct 08:00 EDT
FRI_9AM = datetime(2026, 10, 30, 13, 0, tzinfo=UTC)  # Fri 30 Oct 09:00 EDT
MON_9AM = datetime(2026, 10, 26, 13, 0, tzinfo=UTC)  # Mon 26 Oct 09:00 EDT


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def read(text: str, now: datetime, tz: ZoneInfo = NY, **kw: WorkingCalendar) -> datetime:
    return read_time(text, now=now, tz=tz, **kw)


def refused(text: str, now: datetime, tz: ZoneInfo = NY) -> TimeReadError:
    with pytest.raises(TimeReadError) as info:
        read_time(text, now=now, tz=tz)
    return info.value


# --- WorkingCalendar and add_business_days ---------------------------------------------


def test_calendar_working_days_skip_weekends_and_holidays() -> None:
    cal = WorkingCalendar(holidays=frozenset({date(2026, 11, 26)}))
    assert cal.is_working_day(date(2026, 10, 30))  # Friday
    assert not cal.is_working_day(date(2026, 10, 31))  # Saturday
    assert not cal.is_working_day(date(2026, 11, 1))  # Sunday
    assert not cal.is_working_day(date(2026, 11, 26))  # holiday Thursday


def test_calendar_accepts_plain_sets_and_stays_hashable() -> None:
    cal = WorkingCalendar(holidays={date(2026, 1, 1)}, workdays={0, 1})  # type: ignore[arg-type]
    assert isinstance(cal.holidays, frozenset) and isinstance(cal.workdays, frozenset)
    assert hash(cal) == hash(
        WorkingCalendar(holidays=frozenset({date(2026, 1, 1)}), workdays=frozenset({0, 1}))
    )


def test_calendar_rejects_bad_config() -> None:
    with pytest.raises(ValueError, match="workdays"):
        WorkingCalendar(workdays=frozenset({7}))
    with pytest.raises(ValueError, match="end_of_day"):
        WorkingCalendar(end_of_day=time(17, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        (date(2026, 10, 29), 1, date(2026, 10, 30)),  # Thu -> Fri
        (date(2026, 10, 30), 1, date(2026, 11, 2)),  # Fri -> Mon, weekend skipped
        (date(2026, 10, 30), 2, date(2026, 11, 3)),  # Fri -> Tue
        (date(2026, 10, 31), 1, date(2026, 11, 2)),  # Sat -> Mon
        (date(2026, 10, 26), 10, date(2026, 11, 9)),  # two whole weeks
    ],
)
def test_add_business_days(start: date, n: int, expected: date) -> None:
    assert add_business_days(start, n, WorkingCalendar()) == expected


def test_add_business_days_skips_holidays() -> None:
    cal = WorkingCalendar(holidays=frozenset({date(2026, 11, 2), date(2026, 11, 3)}))
    assert add_business_days(date(2026, 10, 30), 1, cal) == date(2026, 11, 4)


def test_add_business_days_custom_workweek() -> None:
    sun_to_thu = WorkingCalendar(workdays=frozenset({6, 0, 1, 2, 3}))
    assert add_business_days(date(2026, 10, 29), 1, sun_to_thu) == date(2026, 11, 1)  # Thu->Sun


def test_add_business_days_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="n >= 1"):
        add_business_days(date(2026, 10, 30), 0, WorkingCalendar())
    with pytest.raises(ValueError, match="no workdays"):
        add_business_days(date(2026, 10, 30), 1, WorkingCalendar(workdays=frozenset()))


@settings(max_examples=60, deadline=None)
@given(
    start=st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31)),
    n=st.integers(min_value=1, max_value=40),
    holidays=st.frozensets(st.dates(min_value=date(2026, 1, 1), max_value=date(2028, 3, 31))),
)
def test_add_business_days_counts_exactly_n_working_days(
    start: date, n: int, holidays: frozenset[date]
) -> None:
    cal = WorkingCalendar(holidays=holidays)
    end = add_business_days(start, n, cal)
    assert cal.is_working_day(end)
    between = [start + timedelta(days=i) for i in range(1, (end - start).days + 1)]
    assert sum(cal.is_working_day(d) for d in between) == n


# --- read_time: business days ------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["2 business days", "in 2 business days", "2 working days", "2 Business Days",
             "two business days", "within 2 work days", "by 2 business days"]
)  # fmt: skip
def test_business_days_after_dst_ends(text: str) -> None:
    # Fri 30 Oct (EDT) + 2 business days = Tue 3 Nov, which is EST: 17:00 EST = 22:00 UTC.
    assert read(text, FRI_9AM) == utc(2026, 11, 3, 22)


def test_business_days_before_dst_ends() -> None:
    # Mon 26 Oct + 2 = Wed 28 Oct, still EDT: 17:00 EDT = 21:00 UTC.
    assert read("2 business days", MON_9AM) == utc(2026, 10, 28, 21)


def test_one_business_day_skips_weekend() -> None:
    assert read("1 business day", FRI_9AM) == utc(2026, 11, 2, 22)  # Mon 17:00 EST
    assert read("a business day", FRI_9AM) == utc(2026, 11, 2, 22)


def test_business_days_across_spring_change() -> None:
    thu = datetime(2026, 3, 5, 15, 0, tzinfo=UTC)  # Thu 5 Mar 10:00 EST
    assert read("1 business day", thu) == utc(2026, 3, 6, 22)  # Fri 17:00 EST
    assert read("2 business days", thu) == utc(2026, 3, 9, 21)  # Mon 17:00 EDT


def test_business_days_skip_holidays() -> None:
    cal = WorkingCalendar(holidays=frozenset({date(2026, 11, 2)}))
    assert read("2 business days", FRI_9AM, calendar=cal) == utc(2026, 11, 4, 22)


def test_business_days_use_calendar_end_of_day() -> None:
    cal = WorkingCalendar(end_of_day=time(18, 30))
    assert read("3 working days", THU_10AM, calendar=cal) == utc(2026, 11, 3, 23, 30)


def test_zero_business_days_is_refused() -> None:
    err = refused("0 business days", FRI_9AM)
    assert err.reason == TimeReadError.UNREADABLE
    assert "“0 business days”" in str(err)


# --- read_time: dates without a time mean end of day --------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tomorrow", utc(2026, 10, 30, 21)),
        ("Tomorrow", utc(2026, 10, 30, 21)),
        ("today", utc(2026, 10, 29, 21)),
        ("friday", utc(2026, 10, 30, 21)),
        ("fri", utc(2026, 10, 30, 21)),
        ("due by friday", utc(2026, 10, 30, 21)),
        ("on monday", utc(2026, 11, 2, 22)),  # after the DST change: EST
        ("2026-12-01", utc(2026, 12, 1, 22)),
        ("Dec 3", utc(2026, 12, 3, 22)),
        ("friday, dec 4", utc(2026, 12, 4, 22)),
    ],
)
def test_date_without_time_means_end_of_day(text: str, expected: datetime) -> None:
    assert read(text, THU_10AM) == expected


def test_date_without_time_uses_calendar_end_of_day() -> None:
    cal = WorkingCalendar(end_of_day=time(18, 30))
    assert read("tomorrow", THU_10AM, calendar=cal) == utc(2026, 10, 30, 22, 30)


def test_explicit_midnight_time_is_not_mistaken_for_no_time() -> None:
    # 00:00 looks like dateparser's "no time" value; it must stay 00:00, not become 17:00.
    assert read("dec 3 0:00", THU_10AM) == utc(2026, 12, 3, 5)
    assert read("friday 00:00", THU_10AM) == utc(2026, 10, 30, 4)


def test_year_less_date_naming_today_means_today() -> None:
    dec3_9am = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)  # 09:00 EST
    assert read("Dec 3", dec3_9am) == utc(2026, 12, 3, 22)  # not 2027
    # A date just gone is a slip, refused saying so (never read as next year's: a
    # deadline a year away would never chase anyone); with its year it is taken.
    assert "Wed 2 Dec has passed" in str(refused("Dec 2", dec3_9am))
    assert read("Dec 2 2027", dec3_9am) == utc(2027, 12, 2, 22)
    dec3_6pm = datetime(2026, 12, 3, 23, 0, tzinfo=UTC)
    assert refused("Dec 3", dec3_6pm).reason == TimeReadError.PAST


# --- read_time: the weekday rule ---------------------------------------------------------


def test_weekday_named_on_that_weekday_means_next_week() -> None:
    # Decision: "friday" typed on a Friday is next week's Friday (dateparser's future
    # preference), with or without a time; "today", "EOD" or "this friday" mean today.
    assert read("friday", FRI_8AM) == utc(2026, 11, 6, 22)
    assert read("friday 9am", FRI_8AM) == utc(2026, 11, 6, 14)
    assert read("this friday", FRI_8AM) == utc(2026, 10, 30, 21)
    assert read("today", FRI_8AM) == utc(2026, 10, 30, 21)
    assert read("EOD", FRI_8AM) == utc(2026, 10, 30, 21)


# --- read_time: EOD / COB ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["EOD", "eod", "end of day", "End of the day", "COB", "close of business",
             "by EOD", "today EOD", "eod today", "by end of day", "today by cob", "EOD."]
)  # fmt: skip
def test_end_of_day_words(text: str) -> None:
    assert read(text, THU_10AM) == utc(2026, 10, 29, 21)


def test_end_of_day_with_a_day() -> None:
    assert read("tomorrow eod", THU_10AM) == utc(2026, 10, 30, 21)
    assert read("cob monday", THU_10AM) == utc(2026, 11, 2, 22)


def test_end_of_day_uses_calendar() -> None:
    cal = WorkingCalendar(end_of_day=time(16, 0))
    assert read("EOD", THU_10AM, calendar=cal) == utc(2026, 10, 29, 20)


@pytest.mark.parametrize("now", [utc(2026, 10, 29, 21, 30), utc(2026, 10, 29, 21)])
def test_end_of_day_after_end_of_day_is_past(now: datetime) -> None:
    # 17:30 EDT, and exactly 17:00 EDT ("strictly later than now").
    err = refused("EOD", now)
    assert err.reason == TimeReadError.PAST
    assert err.text == "EOD"
    message = str(err)
    assert "“EOD”" in message and "in the past" in message
    assert "Thu 29 Oct 2026 17:00 EDT" in message  # what it was read as


# --- read_time: noon and midnight --------------------------------------------------------


def test_noon_today_or_tomorrow() -> None:
    assert read("noon", THU_10AM) == utc(2026, 10, 29, 16)
    one_pm = utc(2026, 10, 29, 17)
    assert read("noon", one_pm) == utc(2026, 10, 30, 16)
    assert read("tomorrow noon", THU_10AM) == utc(2026, 10, 30, 16)
    assert refused("today noon", one_pm).reason == TimeReadError.PAST


def test_midnight_is_the_end_of_the_day() -> None:
    assert read("midnight", THU_10AM) == utc(2026, 10, 30, 4)  # tonight: Fri 00:00 EDT
    assert read("at midnight", THU_10AM) == utc(2026, 10, 30, 4)
    # Decision: "friday midnight" is the end of Friday, i.e. Sat 00:00.
    assert read("friday midnight", THU_10AM) == utc(2026, 10, 31, 4)
    assert read("friday at midnight", THU_10AM) == utc(2026, 10, 31, 4)
    assert read("tomorrow midnight", THU_10AM) == utc(2026, 10, 31, 4)
    # End of Sunday 1 Nov is Mon 00:00 EST, after the change.
    assert read("sunday midnight", THU_10AM) == utc(2026, 11, 2, 5)


# --- read_time: relative offsets ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("in 2h", timedelta(hours=2)),
        ("2h", timedelta(hours=2)),
        ("in 2 hours", timedelta(hours=2)),
        ("in 30 minutes", timedelta(minutes=30)),
        ("in 30 mins", timedelta(minutes=30)),
        ("in 45m", timedelta(minutes=45)),
        ("in 1h30m", timedelta(hours=1, minutes=30)),
        ("in 1 hour and 30 minutes", timedelta(hours=1, minutes=30)),
        ("90 minutes", timedelta(minutes=90)),
        ("in an hour", timedelta(hours=1)),
        ("in 1.5 hours", timedelta(hours=1, minutes=30)),
        ("in 90s", timedelta(seconds=90)),
    ],
)
def test_relative_offsets_are_elapsed_time(text: str, delta: timedelta) -> None:
    assert read(text, THU_10AM) == THU_10AM + delta


def test_hours_across_dst_are_elapsed_time() -> None:
    sat_noon = utc(2026, 10, 31, 16)  # Sat 12:00 EDT
    assert read("in 48h", sat_noon) == utc(2026, 11, 2, 16)  # Mon 11:00 EST


def test_days_keep_wall_clock_time_across_dst() -> None:
    # Fri 09:00 EDT + 3 days = Mon 09:00 EST (14:00 UTC), not 08:00 EST.
    assert read("in 3 days", FRI_9AM) == utc(2026, 11, 2, 14)
    assert read("3 days from now", FRI_9AM) == utc(2026, 11, 2, 14)
    assert read("in 1 week", FRI_9AM) == utc(2026, 11, 6, 14)
    assert read("in 2 weeks", FRI_9AM) == utc(2026, 11, 13, 14)


def test_months_clamp_to_month_end() -> None:
    jan31 = datetime(2027, 1, 31, 15, 0, tzinfo=UTC)  # 10:00 EST
    assert read("in 1 month", jan31) == utc(2027, 2, 28, 15)


def test_fractional_days_are_refused() -> None:
    assert refused("in 1.5 days", THU_10AM).reason == TimeReadError.UNREADABLE


def test_zero_offset_is_past() -> None:
    assert refused("in 0 minutes", THU_10AM).reason == TimeReadError.PAST


@settings(max_examples=50, deadline=None)
@given(
    now=st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1),
                     timezones=st.just(UTC)),
    minutes=st.integers(min_value=1, max_value=100_000),
)  # fmt: skip
def test_minutes_offset_property(now: datetime, minutes: int) -> None:
    assert read(f"in {minutes} minutes", now) == now + timedelta(minutes=minutes)


# --- read_time: day plus time of day -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("friday 9am", utc(2026, 10, 30, 13)),
        ("tomorrow 5pm", utc(2026, 10, 30, 21)),
        ("tomorrow at 5:30pm", utc(2026, 10, 30, 21, 30)),
        ("5pm tomorrow", utc(2026, 10, 30, 21)),
        ("mon 10:30", utc(2026, 11, 2, 15, 30)),  # Monday is EST
        ("5pm", utc(2026, 10, 29, 21)),
        ("December 1st at 2pm", utc(2026, 12, 1, 19)),
        ("tonight", utc(2026, 10, 30, 0)),  # dateparser's part of day: 20:00
    ],
)
def test_day_and_time(text: str, expected: datetime) -> None:
    assert read(text, THU_10AM) == expected


def test_time_already_passed_today_rolls_to_tomorrow() -> None:
    six_pm = utc(2026, 10, 29, 22)  # 18:00 EDT
    assert read("5pm", six_pm) == utc(2026, 10, 30, 21)


def test_spring_forward_next_morning() -> None:
    sat = datetime(2026, 3, 7, 15, 0, tzinfo=UTC)  # Sat 7 Mar 10:00 EST
    assert read("tomorrow 9am", sat) == utc(2026, 3, 8, 13)  # Sun 09:00 EDT
    assert read("today 5pm", sat) == utc(2026, 3, 7, 22)  # Sat 17:00 EST


def test_explicit_zone_name_is_honoured() -> None:
    assert read("5pm EST", THU_10AM) == utc(2026, 10, 29, 22)
    assert read("friday 9am UTC", THU_10AM) == utc(2026, 10, 30, 9)


# --- read_time: ISO ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01", utc(2026, 12, 1, 22)),
        ("2026-12-01 14:00", utc(2026, 12, 1, 19)),
        ("2026-12-01T14:00", utc(2026, 12, 1, 19)),
        ("2026-12-01T14:00:30", datetime(2026, 12, 1, 19, 0, 30, tzinfo=UTC)),
        ("2026-10-30T14:00", utc(2026, 10, 30, 18)),  # EDT side of the change
        ("2026-12-01T14:00+02:00", utc(2026, 12, 1, 12)),
        ("2026-12-01T14:00Z", utc(2026, 12, 1, 14)),
        ("2026-12-01 14:00 -0500", utc(2026, 12, 1, 19)),
        ("2026-12-01 14:00 +0530", utc(2026, 12, 1, 8, 30)),
    ],
)
def test_iso(text: str, expected: datetime) -> None:
    assert read(text, THU_10AM) == expected


def test_iso_offset_wins_over_the_persons_zone() -> None:
    assert read("2026-12-01T14:00+02:00", THU_10AM, tz=TOKYO) == utc(2026, 12, 1, 12)
    assert read("2026-12-01T14:00", THU_10AM, tz=TOKYO) == utc(2026, 12, 1, 5)


def test_nonexistent_and_repeated_local_times() -> None:
    before_spring = datetime(2026, 3, 1, tzinfo=UTC)
    # 02:30 on 8 Mar does not exist in New York; read with the EST offset -> 03:30 EDT.
    assert read("2026-03-08 02:30", before_spring) == utc(2026, 3, 8, 7, 30)
    # 01:30 on 1 Nov happens twice; the first (EDT) one is used.
    assert read("2026-11-01 01:30", THU_10AM) == utc(2026, 11, 1, 5, 30)


@pytest.mark.parametrize("text", ["2026-02-30", "2026-12-01 25:00", "2026-12-01T14:00+25:00"])
def test_invalid_iso_is_unreadable(text: str) -> None:
    assert refused(text, THU_10AM).reason == TimeReadError.UNREADABLE


# --- read_time: zones of `now` and of the person -----------------------------------------


def test_now_in_another_zone_is_converted_to_the_persons_zone() -> None:
    now = utc(2026, 10, 29, 20)  # Thu 20:00 UTC = Fri 30 Oct 05:00 in Tokyo
    assert read("tomorrow 9am", now, tz=TOKYO) == utc(2026, 10, 31, 0)  # Sat 09:00 JST
    assert read("EOD", now, tz=TOKYO) == utc(2026, 10, 30, 8)  # Fri 17:00 JST
    same_now_in_ny = now.astimezone(NY)
    assert read("tomorrow 9am", same_now_in_ny, tz=TOKYO) == utc(2026, 10, 31, 0)


def test_result_is_aware_utc_and_later_than_now() -> None:
    result = read("friday 9am", THU_10AM, tz=LONDON)
    assert result.tzinfo is UTC
    assert result == utc(2026, 10, 30, 9)  # London is GMT again from 25 Oct
    assert result > THU_10AM


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware") as info:
        read_time("tomorrow", now=datetime(2026, 10, 29, 10), tz=NY)
    assert not isinstance(info.value, TimeReadError)


def test_reading_depends_only_on_now() -> None:
    far = datetime(2040, 6, 1, 14, 0, tzinfo=UTC)  # Fri 1 Jun 2040 10:00 EDT
    assert read("tomorrow", far) == utc(2040, 6, 2, 21)
    assert read("2 business days", far) == utc(2040, 6, 5, 21)


# --- read_time: refusals -----------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["whenever", "", "   ", "asap?", "next blursday", "soon", "x" * 500]
)
def test_unreadable(text: str) -> None:
    err = refused(text, THU_10AM)
    assert err.reason == TimeReadError.UNREADABLE
    assert err.text == text
    message = str(err)
    assert message.startswith("Couldn't read the time “")
    assert "Try: tomorrow 5pm" in message


def test_unreadable_message_quotes_the_text_exactly() -> None:
    assert str(refused("next blursday", THU_10AM)) == (
        "Couldn't read the time “next blursday”. Try: tomorrow 5pm, friday 9am, EOD, "
        "end of week, in 2h, 2 business days, next monday 9am, 2026-11-05 14:00."
    )


@pytest.mark.parametrize(
    "text", ["5", "17", "at 3", "tomorrow at 3", "tomorrow 3", "friday 5", "3 5pm", "17 17",
             "next week", "next week 5pm", "next month", "the 5th", "dec 10:30", "december",
             "friday CET"]
)  # fmt: skip
def test_ambiguous(text: str) -> None:
    err = refused(text, THU_10AM)
    assert err.reason == TimeReadError.AMBIGUOUS
    assert f"“{text}”" in str(err) and "ambiguous" in str(err)


@pytest.mark.parametrize(
    ("text", "read_as"),
    [
        ("yesterday", "Wed 28 Oct 2026 17:00 EDT"),
        ("2025-01-01", "Wed 1 Jan 2025 17:00 EST"),
        ("2026-10-29 09:00", "Thu 29 Oct 2026 09:00 EDT"),
        ("now", "Thu 29 Oct 2026 10:00 EDT"),
        ("today 9am", "Thu 29 Oct 2026 09:00 EDT"),
        ("last friday", "Fri 23 Oct 2026 17:00 EDT"),
    ],
)
def test_past_is_refused_and_says_what_it_read(text: str, read_as: str) -> None:
    err = refused(text, THU_10AM)
    assert err.reason == TimeReadError.PAST
    assert str(err).startswith(f"The time “{text}” is in the past (it reads as {read_as})")


@pytest.mark.parametrize(
    "text", ["in 99999999999 days", "in 999999 months", "9999-12-31 midnight", "5000 business days"]
)
def test_absurdly_far_is_refused_not_crashing(text: str) -> None:
    err = refused(text, THU_10AM)
    assert err.reason == TimeReadError.UNREADABLE
    assert "too far away" in str(err) or "at most" in str(err)


@settings(max_examples=150, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("0123456789 :-+.tTaApPmMhHdDsSwWinoxyz")), max_size=20)
)
def test_any_text_reads_to_a_future_utc_time_or_a_time_read_error(text: str) -> None:
    try:
        result = read_time(text, now=THU_10AM, tz=NY)
    except TimeReadError as err:
        assert err.text == text and str(err)
    else:
        assert result.tzinfo is UTC and result > THU_10AM


def test_time_read_error_survives_pickling() -> None:
    err = refused("yesterday", THU_10AM)
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.text, copy.reason, str(copy)) == (err.text, err.reason, str(err))


# --- durations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("30m", timedelta(minutes=30)),
        ("4h", timedelta(hours=4)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        ("4H", timedelta(hours=4)),
        ("0m", timedelta(0)),
        ("PT4H", timedelta(hours=4)),
        ("P1D", timedelta(days=1)),
        ("PT90S", timedelta(seconds=90)),
        ("P1DT2H30M", timedelta(days=1, hours=2, minutes=30)),
        ("PT1.5S", timedelta(seconds=1.5)),
        ("P0D", timedelta(0)),
        ("pt15m", timedelta(minutes=15)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text", ["", "abc", "5", "1x", "30m1h", "1h1h", "P", "PT", "P1DT", "1.5h", "h", "9" * 60]
)
def test_parse_duration_garbage(text: str) -> None:
    with pytest.raises(ValueError, match="duration") as info:
        parse_duration(text)
    assert f"“{text[:20]}" in str(info.value)


@pytest.mark.parametrize("text", ["-5m", "-PT1H", " -2d"])
def test_parse_duration_negative(text: str) -> None:
    with pytest.raises(ValueError, match="negative") as info:
        parse_duration(text)
    assert f"“{text}”" in str(info.value)


@pytest.mark.parametrize("text", ["P1M", "P1Y", "P1Y2M3D"])
def test_parse_duration_refuses_months_and_years(text: str) -> None:
    with pytest.raises(ValueError, match="no fixed length"):
        parse_duration(text)


def test_parse_duration_overflow_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="too long"):
        parse_duration("999999999999d")


@settings(max_examples=60, deadline=None)
@given(*(st.integers(min_value=0, max_value=999) for _ in range(4)))
def test_parse_duration_short_and_iso_agree(d: int, h: int, m: int, s: int) -> None:
    expected = timedelta(days=d, hours=h, minutes=m, seconds=s)
    assert parse_duration(f"{d}d{h}h{m}m{s}s") == expected
    assert parse_duration(f"P{d}DT{h}H{m}M{s}S") == expected


@pytest.mark.parametrize(
    ("td", "expected"),
    [
        (timedelta(days=2, hours=3), "2d 3h"),
        (timedelta(days=2, hours=3, minutes=59), "2d 3h"),
        (timedelta(hours=4), "4h"),
        (timedelta(hours=2, minutes=5), "2h 5m"),
        (timedelta(minutes=45), "45m"),
        (timedelta(seconds=90), "1m 30s"),
        (timedelta(seconds=59.9), "59s"),
        (timedelta(days=1, minutes=5), "1d"),
        (timedelta(days=10), "10d"),
        (timedelta(0), "0s"),
        (timedelta(microseconds=500), "0s"),
        (timedelta(seconds=-90), "-1m 30s"),
    ],
)
def test_format_duration(td: timedelta, expected: str) -> None:
    assert format_duration(td) == expected


@settings(max_examples=100, deadline=None)
@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)))
def test_format_duration_is_a_close_lower_bound(td: timedelta) -> None:
    shown = format_duration(td)
    back = parse_duration(shown.replace(" ", ""))
    assert back <= td
    # Error is below the unit under the largest one shown (at most a second for m and s).
    resolution = {"d": timedelta(hours=1), "h": timedelta(minutes=1)}
    assert td - back < resolution.get(shown.split()[0][-1], timedelta(seconds=1))


# --- module hygiene ----------------------------------------------------------------------


def test_module_is_pure_and_never_reads_the_clock() -> None:
    tree = ast.parse(Path(times.__file__).read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert not imported & {"slack_bolt", "slack_sdk", "sqlalchemy", "time"}
    clock_calls = {"now", "utcnow", "today", "time", "monotonic", "perf_counter"}
    called = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert not called & clock_calls


def test_report_days_look_back():
    from datetime import date

    from bot.domain.times import read_report_day

    today = date(2026, 11, 23)
    assert read_report_day("2026-11-01", today=today) == date(2026, 11, 1)
    assert read_report_day("2025-01-31", today=today) == date(2025, 1, 31)  # long past: fine
    assert read_report_day(" Yesterday ", today=today) == date(2026, 11, 22)
    assert read_report_day("today", today=today) == today
    assert read_report_day("30 days ago", today=today) == date(2026, 10, 24)
    with pytest.raises(ValueError, match="Couldn't read the day “last blue moon”"):
        read_report_day("last blue moon", today=today)


# --- phrases people type (issue 13): one test per phrase, a fixed clock -------------------
# December 2026 in New York is EST (UTC-5): 17:00 local is 22:00 UTC, 09:00 is 14:00 UTC.

WED_3PM = datetime(2026, 12, 2, 20, 0, tzinfo=UTC)  # Wed 2 Dec 15:00 EST
FRI_4PM = datetime(2026, 12, 4, 21, 0, tzinfo=UTC)  # Fri 4 Dec 16:00 EST
FRI_6PM = datetime(2026, 12, 4, 23, 0, tzinfo=UTC)  # Fri 4 Dec 18:00 EST
SAT_NOON = datetime(2026, 12, 5, 17, 0, tzinfo=UTC)  # Sat 5 Dec 12:00 EST
SUN_11AM = datetime(2026, 12, 6, 16, 0, tzinfo=UTC)  # Sun 6 Dec 11:00 EST
THANKSGIVING = WorkingCalendar(holidays={date(2026, 11, 26), date(2026, 11, 27)})


def deadline(text: str, now: datetime, **kw: WorkingCalendar) -> times.Reading:
    return times.read_deadline(text, now=now, tz=NY, **kw)


@pytest.mark.parametrize("text", ["end of week", "eow", "EOW", "by end of week",
                                  "end of the week", "end of this week", "end of the work week"])
def test_end_of_week_is_this_weeks_last_working_day_at_end_of_day(text: str) -> None:
    assert read(text, WED_3PM) == utc(2026, 12, 4, 22)  # Fri 4 Dec 17:00
    assert read(text, FRI_4PM) == utc(2026, 12, 4, 22)  # still today, an hour ahead


def test_end_of_week_when_friday_is_a_holiday_is_the_working_day_before() -> None:
    mon_23_nov = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    assert read("eow", mon_23_nov, calendar=THANKSGIVING) == utc(2026, 11, 25, 22)  # Wed


@pytest.mark.parametrize("now", [FRI_6PM, SAT_NOON, SUN_11AM])
def test_end_of_week_once_it_has_passed_says_so(now: datetime) -> None:
    err = refused("end of week", now)
    assert err.reason == TimeReadError.PAST
    assert "Fri 4 Dec 2026 17:00 EST" in str(err) and "end of next week" in str(err)


def test_end_of_next_week() -> None:
    assert read("end of next week", WED_3PM) == utc(2026, 12, 11, 22)
    assert read("end of next week", SUN_11AM) == utc(2026, 12, 11, 22)


@pytest.mark.parametrize("text", ["tmrw 5pm", "tmr 5pm", "tomorow 5pm", "tommorow 5pm",
                                  "Tmrw 5p"])
def test_tomorrow_shorthand_and_typos(text: str) -> None:
    assert read(text, WED_3PM) == utc(2026, 12, 3, 22)


def test_tmrw_alone_is_tomorrows_end_of_day() -> None:
    assert read("tmrw", WED_3PM) == utc(2026, 12, 3, 22)


def test_fri_3p() -> None:
    assert read("fri 3p", WED_3PM) == utc(2026, 12, 4, 20)
    assert read("fri 3p", FRI_4PM) == utc(2026, 12, 11, 20)  # a bare weekday is never today


def test_3p_alone_is_today_or_tomorrow() -> None:
    assert read("3p", THU_10AM) == utc(2026, 10, 29, 19)  # 15:00 EDT today
    assert read("3p", FRI_4PM) == utc(2026, 12, 5, 20)  # passed today: tomorrow
    assert read("9:30a", WED_3PM) == utc(2026, 12, 3, 14, 30)


@pytest.mark.parametrize(
    ("text", "now", "expected"),
    [
        ("next monday", WED_3PM, utc(2026, 12, 7, 22)),
        ("next friday", WED_3PM, utc(2026, 12, 11, 22)),  # next week's, not this week's
        ("next fri", FRI_4PM, utc(2026, 12, 11, 22)),
        ("next monday", SUN_11AM, utc(2026, 12, 7, 22)),  # on a Sunday: tomorrow
        ("next tue 9am", WED_3PM, utc(2026, 12, 8, 14)),
        ("next tue 9am", SUN_11AM, utc(2026, 12, 8, 14)),
        ("next tuesday at 14:30", WED_3PM, utc(2026, 12, 8, 19, 30)),
        ("next week monday 9am", SAT_NOON, utc(2026, 12, 7, 14)),
        ("next thu noon", WED_3PM, utc(2026, 12, 10, 17)),
        ("next wed eod", WED_3PM, utc(2026, 12, 9, 22)),
        ("next fri at 5pm PST", WED_3PM, utc(2026, 12, 12, 1)),  # a zone named: honoured
    ],
)
def test_next_weekday_names_a_day_of_next_week(text: str, now: datetime,
                                               expected: datetime) -> None:
    assert read(text, now) == expected


def test_next_weekday_with_a_bare_hour_is_ambiguous() -> None:
    assert refused("next tue 9", WED_3PM).reason == TimeReadError.AMBIGUOUS


@pytest.mark.parametrize("text", ["first thing tomorrow", "tomorrow first thing",
                                  "first thing tmrw", "first thing in the morning tomorrow"])
def test_first_thing_tomorrow_is_the_start_of_the_working_day(text: str) -> None:
    assert read(text, WED_3PM) == utc(2026, 12, 3, 14)  # Thu 09:00


def test_first_thing_on_a_weekend_is_the_next_working_days_start() -> None:
    reading = deadline("first thing tomorrow", FRI_4PM)
    assert reading.when == utc(2026, 12, 7, 14)  # Mon 09:00
    assert reading.note == ("Sat 5 Dec is not a working day: read as Mon 7 Dec 09:00 "
                            "(first thing on the next working day).")
    assert read("first thing tomorrow", SUN_11AM) == utc(2026, 12, 7, 14)
    assert read("first thing tomorrow", FRI_4PM) == utc(2026, 12, 5, 14)  # read_time: as typed


def test_first_thing_alone_and_with_a_day() -> None:
    assert read("first thing", datetime(2026, 12, 2, 12, 0, tzinfo=UTC)) == utc(2026, 12, 2, 14)
    assert read("first thing", WED_3PM) == utc(2026, 12, 3, 14)
    assert read("first thing monday", WED_3PM) == utc(2026, 12, 7, 14)
    assert read("first thing next tuesday", WED_3PM) == utc(2026, 12, 8, 14)
    cal = WorkingCalendar(start_of_day=time(8, 0))
    assert read("first thing tomorrow", WED_3PM, calendar=cal) == utc(2026, 12, 3, 13)


# --- the working-day rule: a bare day on a weekend or holiday -----------------------------


@pytest.mark.parametrize("text", ["Dec 5", "saturday", "2026-12-05", "eod saturday"])
def test_a_bare_weekend_day_moves_to_the_working_day_before_and_says_so(text: str) -> None:
    reading = deadline(text, WED_3PM)
    assert reading.when == utc(2026, 12, 4, 22)  # Fri 4 Dec 17:00
    assert reading.note == ("Sat 5 Dec is not a working day: read as Fri 4 Dec 17:00 "
                            "(the working day before).")


def test_tomorrow_on_friday_is_friday_end_of_day() -> None:
    reading = deadline("tomorrow", FRI_4PM)
    assert reading.when == utc(2026, 12, 4, 22)
    assert "Sat 5 Dec is not a working day" in reading.note


def test_a_holiday_moves_to_the_working_day_before() -> None:
    reading = deadline("Nov 27", datetime(2026, 11, 23, 14, 0, tzinfo=UTC),
                       calendar=THANKSGIVING)
    assert reading.when == utc(2026, 11, 25, 22)
    assert reading.note == ("Fri 27 Nov is a holiday: read as Wed 25 Nov 17:00 "
                            "(the working day before).")


@pytest.mark.parametrize("text", ["tomorrow", "saturday", "Dec 5", "sunday"])
def test_a_bare_weekend_day_whose_working_day_before_has_passed_is_refused(text: str) -> None:
    with pytest.raises(TimeReadError) as caught:
        times.read_deadline(text, now=FRI_6PM, tz=NY)
    err = caught.value
    assert err.reason == TimeReadError.NOT_WORKING
    assert "is not a working day, and the working day before (Fri 4 Dec 17:00) has passed" \
        in str(err)


def test_a_weekend_day_with_a_time_or_today_is_kept() -> None:
    assert deadline("saturday 10am", WED_3PM) == times.Reading(utc(2026, 12, 5, 15))
    assert deadline("today", SAT_NOON) == times.Reading(utc(2026, 12, 5, 22))  # Sat 17:00
    assert deadline("EOD", SAT_NOON) == times.Reading(utc(2026, 12, 5, 22))


def test_a_weekday_and_read_time_are_untouched_by_the_rule() -> None:
    assert deadline("friday", WED_3PM) == times.Reading(utc(2026, 12, 4, 22))
    assert read("saturday", WED_3PM) == utc(2026, 12, 5, 22)  # read_time: as typed


def test_the_note_names_the_year_when_it_is_not_this_year() -> None:
    reading = deadline("Sep 5", SUN_11AM)  # Sun 5 Sep 2027
    assert reading.when == utc(2027, 9, 3, 21)  # 17:00 EDT
    assert reading.note == ("Sun 5 Sep 2027 is not a working day: read as Fri 3 Sep 2027 "
                            "17:00 (the working day before).")


# --- examples in hints are in the future --------------------------------------------------


@pytest.mark.parametrize(
    "now", [THU_10AM, FRI_4PM, FRI_6PM, SAT_NOON, SUN_11AM, utc(2026, 12, 2, 4),
            utc(2026, 12, 31, 23, 30), utc(2026, 3, 8, 6, 30)],  # night, new year, DST
)
def test_every_example_in_a_hint_reads_as_a_future_time(now: datetime) -> None:
    for message in (str(refused("whenever", now)), str(refused("yesterday", now)),
                    str(refused("friday 5", now))):
        shown = message.rsplit("Try: ", 1)[-1].rsplit("e.g. ", 1)[-1].rstrip(".")
        examples = [e.strip() for e in shown.split(",")]
        assert len(examples) >= 6, message
        for example in examples:
            assert read(example, now) > now, (example, now)


def test_the_number_hint_names_a_date_ahead() -> None:
    assert "write e.g. 3pm, 15:00 or Dec 9" in str(refused("friday 5", WED_3PM))


def test_examples_leave_out_what_has_passed() -> None:
    shown = times.time_examples(FRI_6PM, NY)
    assert "EOD" not in shown and "end of week" not in shown
    assert "EOD" in times.time_examples(FRI_4PM, NY)
    assert "end of week" in times.time_examples(FRI_4PM, NY)
    assert "2026-12-11 14:00" in shown


def test_the_clockless_examples_are_always_ahead() -> None:
    for now in (FRI_6PM, SUN_11AM, utc(2026, 12, 2, 4)):
        for example in times.EXAMPLES.split(", "):
            assert read(example, now) > now


def test_a_span_measured_just_after_its_moment_reads_as_meant() -> None:
    """A reminder due 2h before the deadline, handled milliseconds later, says 2h left."""
    assert format_duration(to_the_second(timedelta(hours=2, milliseconds=-20))) == "2h"
    assert format_duration(to_the_second(timedelta(minutes=30, milliseconds=-400))) == "30m"
    assert format_duration(to_the_second(timedelta(minutes=30, milliseconds=-600))) == "29m 59s"


def test_a_year_less_date_just_gone_is_a_slip_not_next_year() -> None:
    """"Dec 5" typed on 6 December is refused saying it has passed, never read as a
    deadline a year away; a date named with its year, or months ahead, is taken."""
    now = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)  # Sunday 10:00 in New York
    with pytest.raises(TimeReadError) as err:
        read_time("Dec 5", now=now, tz=NY)
    assert "Sat 5 Dec has passed" in str(err.value) and "2027" in str(err.value)
    assert read_time("Dec 5 2027", now=now, tz=NY).year == 2027
    assert read_time("Mar 3", now=now, tz=NY).date().isoformat() == "2027-03-03"
