"""Pure rules: who is coordinator on a day, reading rota days, roster flags and order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.domain.records import DomainError
from bot.domain.roster import Flag, Row, flags_for, sort_rows
from bot.domain.rota import Assignment, coordinator_on, read_weekdays

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def a(user: str, kind: str, minutes: int, **kw) -> Assignment:
    return Assignment(user_id=user, kind=kind, set_at=T0 + timedelta(minutes=minutes), **kw)


def test_cover_beats_a_day_beats_the_weekly_rota_and_the_latest_wins():
    rota = [a("U1", "weekday", 0, weekday=0), a("U2", "weekday", 5, weekday=0),
            a("U3", "date", 1, date_from=date(2026, 11, 23)),
            a("U4", "cover", 2, date_from=date(2026, 11, 30), date_to=date(2026, 12, 4))]
    assert coordinator_on(date(2026, 11, 16), rota).user_id == "U2"  # latest Monday rota
    assert coordinator_on(date(2026, 11, 23), rota).user_id == "U3"  # that day only
    assert coordinator_on(date(2026, 11, 30), rota).user_id == "U4"  # cover, first day
    assert coordinator_on(date(2026, 12, 4), rota).user_id == "U4"  # cover, last day
    assert coordinator_on(date(2026, 12, 7), rota).user_id == "U2"  # after the cover
    assert coordinator_on(date(2026, 12, 8), rota) is None  # a Tuesday: nobody


@pytest.mark.parametrize("text,days", [("monday,wednesday", [0, 2]), ("Mon Wed fri", [0, 2, 4]),
                                        ("tuesdays and thursdays", [1, 3]), ("sun", [6])])
def test_read_weekdays(text, days):
    assert read_weekdays(text) == days


def test_read_weekdays_names_the_bad_word():
    with pytest.raises(DomainError, match="“someday” is not a day of the week"):
        read_weekdays("monday someday")


@dataclass
class R:
    id: int
    kind: str
    status: str
    due_at: datetime
    risk: str | None = None
    safeguard_until: datetime | None = None
    next_action_owner: str | None = None


NOW = datetime(2026, 11, 23, 14, tzinfo=UTC)
END = datetime(2026, 11, 23, 22, tzinfo=UTC)


def flags(r: R, unacked: bool = False) -> tuple[Flag, ...]:
    return flags_for(r, now=NOW, day_end=END, unacknowledged_page=unacked)


def test_flags():
    assert flags(R(1, "handoff", "overdue", NOW - timedelta(hours=1)), True) == (
        Flag.OVERDUE, Flag.UNACKNOWLEDGED_PAGE, Flag.NO_NEXT_ACTION)
    assert flags(R(2, "dependency", "open", NOW + timedelta(hours=2), "same-day",
                   NOW + timedelta(hours=3), "U1")) == (
        Flag.SAME_DAY_RISK, Flag.SAFEGUARD_EXPIRING, Flag.DUE_TODAY)
    assert flags(R(3, "dependency", "open", NOW - timedelta(minutes=1), "emerging",
                   next_action_owner="U1")) == (Flag.REVIEW_DUE,)
    assert flags(R(4, "handoff", "acknowledged", NOW + timedelta(days=3),
                   next_action_owner="U1")) == ()


def test_sort_puts_the_most_urgent_flag_first_then_more_flags_then_risk_then_due():
    later = NOW + timedelta(days=5)
    rows = [Row(R(1, "handoff", "pending", later, "emerging"), (Flag.NO_NEXT_ACTION,)),
            Row(R(2, "handoff", "pending", later, "same-day"), (Flag.NO_NEXT_ACTION,)),
            Row(R(3, "dependency", "open", later), (Flag.SAME_DAY_RISK,)),
            Row(R(4, "handoff", "overdue", NOW), (Flag.OVERDUE,)),
            Row(R(5, "dependency", "open", later), (Flag.SAME_DAY_RISK, Flag.DUE_TODAY))]
    assert [r.record.id for r in sort_rows(rows)] == [4, 5, 3, 2, 1]


def test_a_digest_sent_on_time_greets_and_one_caught_up_says_when():
    from bot.slack.blocks import roster as roster_blocks
    from bot.slack.cards import as_dicts

    day = date(2026, 12, 8)
    at = datetime(2026, 12, 8, 21, 28, tzinfo=UTC)  # 16:28 in New York
    text, blocks = roster_blocks.digest([], coordinator="U0COORD1", day=day, now=at, late=True)
    shown = str(as_dicts(blocks))
    assert "Good morning" not in shown and "Good morning" not in text
    assert f"Digest for Tuesday (caught up at <!date^{int(at.timestamp())}^{{time}}|" in shown
    assert "(caught up at" in text
    text, blocks = roster_blocks.digest([], coordinator="U0COORD1", day=day, now=at)
    assert "Good morning <@U0COORD1>" in str(as_dicts(blocks)) and "caught up" not in text
