"""Partner trend figures and the repeated-miss rule, on hand-made facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.trends import (
    PageFact,
    RecordFact,
    figures,
    miss_of,
    missed_acknowledgement,
    partner_totals,
    repeated_misses,
    route_trends,
    stalled_days,
)

NOW = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
WINDOW = timedelta(days=30)


def fact(n: int, due: datetime, *, ack: datetime | None = None, kind: str = "handoff",
         status: str | None = None, route: str = "hospital discharge", partner_id: int = 1,
         partner: str = "Northside Home Care", created: datetime | None = None,
         responded: datetime | None = None, closed: datetime | None = None,
         person: str | None = None) -> RecordFact:
    if status is None:
        status = ("acknowledged" if ack else "overdue") if kind == "handoff" else "open"
    return RecordFact(id=n, reference=f"{'H' if kind == 'handoff' else 'D'}-{n}", kind=kind,
                      person_ref=person or f"P-{1000 + n}", partner_id=partner_id,
                      partner=partner, route=route, status=status,
                      created_at=created or due - 2 * DAY, due_at=due, acknowledged_at=ack,
                      responded_at=responded, closed_at=closed)


# --- what counts as a missed acknowledgement deadline ---

@pytest.mark.parametrize(("record", "missed"), [
    (fact(1, NOW - DAY, ack=NOW - DAY), False),  # acknowledged exactly at the deadline
    (fact(1, NOW - DAY, ack=NOW - DAY - HOUR), False),  # before it
    (fact(1, NOW - DAY, ack=NOW - DAY + HOUR), True),  # an hour late
    (fact(1, NOW - DAY), True),  # never acknowledged
    (fact(1, NOW), True),  # the deadline is now: missed now
    (fact(1, NOW + HOUR), False),  # not yet due
    (fact(1, NOW - DAY, status="cancelled", closed=NOW - 2 * DAY), False),  # withdrawn in time
    (fact(1, NOW - DAY, status="cancelled", closed=NOW - HOUR), True),  # withdrawn after it
    (fact(1, NOW - DAY, kind="dependency"), False),  # dependencies have no acknowledgement
])
def test_missed_acknowledgement_definition(record, missed):
    assert missed_acknowledgement(record, now=NOW) is missed


def test_delay_durations_late_ongoing_and_cancelled():
    late = miss_of(fact(1, NOW - 3 * DAY, ack=NOW - DAY + 3 * HOUR), now=NOW)
    assert late.delay == 2 * DAY + 3 * HOUR and not late.ongoing
    waiting = miss_of(fact(2, NOW - 4 * HOUR), now=NOW)
    assert waiting.delay == 4 * HOUR and waiting.ongoing
    cancelled = miss_of(fact(3, NOW - DAY, status="cancelled", closed=NOW - 19 * HOUR), now=NOW)
    assert cancelled.delay == 5 * HOUR and not cancelled.ongoing


# --- the repeated-miss rule ---

def test_a_route_needs_threshold_misses_within_the_window():
    facts = [fact(1, NOW - 40 * DAY), fact(2, NOW - 10 * DAY), fact(3, NOW - 5 * DAY),
             fact(4, NOW - 2 * DAY, ack=NOW - 2 * DAY)]  # on time
    assert repeated_misses(facts, now=NOW, window=WINDOW, threshold=3) == []
    facts.append(fact(5, NOW - HOUR, ack=NOW - 30 * 60 * timedelta(seconds=1)))
    (hit,) = repeated_misses(facts, now=NOW, window=WINDOW, threshold=3)
    assert (hit.partner_id, hit.partner, hit.route) == (1, "Northside Home Care",
                                                        "hospital discharge")
    assert [m.reference for m in hit.misses] == ["H-2", "H-3", "H-5"]  # oldest first
    assert [m.delay for m in hit.misses] == [10 * DAY, 5 * DAY, 30 * timedelta(minutes=1)]
    assert hit.in_window == 3 and hit.since is None
    assert hit.people == ("P-1002", "P-1003", "P-1005")
    # H-1 (40 days ago) falls in a 90-day window, and a lower threshold is configurable.
    (wide,) = repeated_misses(facts, now=NOW, window=90 * DAY, threshold=4)
    assert len(wide.misses) == 4
    assert repeated_misses(facts, now=NOW, window=7 * DAY, threshold=2)[0].in_window == 2


def test_routes_are_per_partner_and_spelling_insensitive():
    facts = [fact(1, NOW - DAY, route="Hospital  Discharge"),
             fact(2, NOW - 2 * DAY, route="hospital discharge"),
             fact(3, NOW - 3 * DAY, route=" HOSPITAL discharge "),
             fact(4, NOW - DAY, partner_id=2, partner="Riverside"),
             fact(5, NOW - DAY, partner_id=1, route="")]
    (hit,) = repeated_misses(facts, now=NOW, window=WINDOW, threshold=3)
    assert hit.partner_id == 1 and len(hit.misses) == 3
    assert repeated_misses(facts, now=NOW, window=WINDOW, threshold=1)[-1].partner == "Riverside"


def test_after_a_notice_only_threshold_new_misses_fire_again():
    first = [fact(n, NOW - (20 - n) * DAY) for n in (1, 2, 3)]
    detected = NOW - 17 * DAY + HOUR  # just after H-3's miss
    key = (1, "hospital discharge")
    facts = [*first, fact(4, NOW - 10 * DAY), fact(5, NOW - 5 * DAY)]
    assert repeated_misses(facts, now=NOW, window=WINDOW, threshold=3,
                           since={key: detected}) == []
    facts.append(fact(6, NOW - DAY))
    (hit,) = repeated_misses(facts, now=NOW, window=WINDOW, threshold=3, since={key: detected})
    assert [m.reference for m in hit.misses] == ["H-4", "H-5", "H-6"]
    assert hit.in_window == 6 and hit.since == detected
    # Another route's notice does not hold this one back.
    assert repeated_misses(facts, now=NOW, window=WINDOW, threshold=3,
                           since={(1, "other"): NOW})[0].in_window == 6


def test_threshold_must_be_positive():
    with pytest.raises(ValueError):
        repeated_misses([], now=NOW, window=WINDOW, threshold=0)


# --- the figures, over 30 and 90 days ---

def test_missed_and_late_count_on_the_deadline_in_each_window():
    facts = [
        fact(1, NOW - 60 * DAY),  # missed, 60 days ago
        fact(2, NOW - 10 * DAY, ack=NOW - 9 * DAY, responded=NOW - 8 * DAY),  # late ack, late
        fact(3, NOW - 5 * DAY, ack=NOW - 6 * DAY, responded=NOW - 5 * DAY - HOUR),  # on time
        fact(4, NOW - 3 * DAY, ack=NOW - 4 * DAY),  # acknowledged, response still outstanding
        fact(5, NOW + DAY),  # not due yet
        fact(6, NOW - 2 * DAY, status="cancelled", closed=NOW - 3 * DAY),  # withdrawn in time
        fact(7, NOW - 2 * DAY, kind="dependency", status="resolved", closed=NOW - DAY),
        fact(8, NOW - 2 * DAY, kind="dependency", status="resolved", closed=NOW - 3 * DAY),
    ]
    f30 = figures(facts, [], now=NOW, window_days=30)
    f90 = figures(facts, [], now=NOW, window_days=90)
    # Handoff deadlines fallen due; H-6 was withdrawn before its deadline.
    assert (f30.deadlines, f90.deadlines) == (3, 4)
    assert (f30.missed_acknowledgements, f90.missed_acknowledgements) == (1, 2)
    # Late: H-2 answered late, H-4 still unanswered past its deadline, D-7 resolved after
    # its review time; H-1 (60 days ago) only in the 90-day window.
    assert (f30.late_responses, f90.late_responses) == (3, 4)


def test_time_to_acknowledgement_median_and_longest_in_the_window():
    facts = [fact(1, NOW, created=NOW - 10 * DAY, ack=NOW - 9 * DAY),  # 1 day
             fact(2, NOW, created=NOW - 10 * DAY, ack=NOW - 7 * DAY),  # 3 days
             fact(3, NOW, created=NOW - 5 * DAY, ack=NOW - 5 * DAY + 2 * HOUR),  # 2 hours
             fact(4, NOW, created=NOW - 50 * DAY, ack=NOW - 40 * DAY)]  # 10 days, 40 days ago
    f30 = figures(facts, [], now=NOW, window_days=30)
    assert f30.acknowledged == 3
    assert f30.median_time_to_ack == DAY and f30.longest_time_to_ack == 3 * DAY
    f90 = figures(facts, [], now=NOW, window_days=90)
    assert f90.median_time_to_ack == 2 * DAY and f90.longest_time_to_ack == 10 * DAY
    assert figures([fact(5, NOW)], [], now=NOW, window_days=30).median_time_to_ack is None


def test_escalations_by_tier_count_pages_sent_in_the_window_on_these_records():
    facts = [fact(1, NOW - 20 * DAY), fact(2, NOW - 50 * DAY)]
    pages = [PageFact(1, 1, NOW - 20 * DAY), PageFact(1, 2, NOW - 19 * DAY),
             PageFact(2, 1, NOW - 50 * DAY), PageFact(2, 2, NOW - 49 * DAY),
             PageFact(2, 3, NOW - 48 * DAY), PageFact(99, 1, NOW - DAY)]  # another partner's
    assert figures(facts, pages, now=NOW, window_days=30).escalations == ((1, 1), (2, 1))
    f90 = figures(facts, pages, now=NOW, window_days=90)
    assert f90.escalations == ((1, 2), (2, 2), (3, 1)) and f90.escalation_total == 5


def test_stalled_days_count_part_days_as_days_and_stop_at_the_acknowledgement():
    assert stalled_days(fact(1, NOW - 2 * HOUR), now=NOW) == 1
    assert stalled_days(fact(1, NOW - 25 * HOUR), now=NOW) == 2
    assert stalled_days(fact(1, NOW - 3 * DAY, ack=NOW - 2 * DAY), now=NOW) == 1
    assert stalled_days(fact(1, NOW - DAY, ack=NOW - 2 * DAY), now=NOW) == 0  # on time
    assert stalled_days(fact(1, NOW + DAY), now=NOW) == 0
    dep = fact(2, NOW - 5 * DAY, kind="dependency", status="resolved",
               closed=NOW - 2 * DAY - HOUR)
    assert stalled_days(dep, now=NOW) == 3
    # Clipped to the window: 45 days waiting, 30 of them in a 30-day window.
    old = fact(3, NOW - 45 * DAY)
    assert stalled_days(old, now=NOW, start=NOW - 30 * DAY) == 30
    f = figures([old, fact(4, NOW - 2 * HOUR)], [], now=NOW, window_days=30)
    assert f.stalled_days == 31
    assert figures([old], [], now=NOW, window_days=90).stalled_days == 45


def test_route_trends_group_by_partner_and_route_and_totals_cover_all_routes():
    facts = [fact(1, NOW - DAY), fact(2, NOW - 2 * DAY, route="Hospital discharge"),
             fact(3, NOW - 40 * DAY, route="", ack=NOW - 41 * DAY, status="closed"),
             fact(4, NOW - DAY, partner_id=2, partner="Abbey Transport", route="")]
    trends = route_trends(facts, [], now=NOW)
    assert [(t.partner, t.route) for t in trends] == [
        ("Abbey Transport", ""), ("Northside Home Care", ""),
        ("Northside Home Care", "hospital discharge")]
    discharge = trends[-1]
    assert set(discharge.windows) == {30, 90}
    assert discharge.windows[30].missed_acknowledgements == 2
    assert discharge.open_now == 2 and discharge.people_open == ("P-1001", "P-1002")
    totals = partner_totals([f for f in facts if f.partner_id == 1], [], now=NOW)
    assert totals is not None and totals.route == ""
    assert totals.windows[30].deadlines == 2 and totals.windows[90].deadlines == 3
    assert partner_totals([], [], now=NOW) is None
