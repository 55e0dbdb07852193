"""Partner trends: how each partner agency and route holds its side of the pathway, and
when one route's failures stop being case-level exceptions (seed 002, Examples 1 and 3).
Pure: plain facts in, figures out; no SQL and no Slack.

Definitions. Every figure is counted over a window of N days ending now, (now - N days, now]:

- A handoff *missed its acknowledgement deadline* when its response deadline (`due_at`)
  passed with no partner acknowledgement, or the acknowledgement came after it
  (`acknowledged_at > due_at`). The miss happened at `due_at`: that is when a window counts
  it, however late the acknowledgement came (if at all). A handoff cancelled at or before
  its deadline never missed it. Dependencies have no acknowledgement and never miss one.
- A *late response*: the deadline passed before the partner answered. A handoff's answer is
  its first recorded partner response (the "responded" audit event); a dependency's is its
  resolution (the missing external action arrived), against the next review time in force
  when it was resolved. A record still unanswered past its deadline counts as well, so
  silence never scores better than a late answer; one cancelled at or before its deadline
  does not. Counted, like a miss, at `due_at`.
- *Time to acknowledgement*: `acknowledged_at - created_at`, for handoffs acknowledged
  within the window; shown as the median and the longest.
- *Escalations by tier*: pages sent to each escalation tier within the window, on records
  with that partner and route.
- *Stalled days*: how long each record waited past its deadline, inside the window: from
  `due_at` to the end of the wait (a handoff's acknowledgement; a dependency's resolution;
  either's cancellation) or now while it still waits. Any part of a day counts as a whole
  day (2 hours past the deadline is 1 stalled day, 25 hours is 2), per record, summed.

A *route* is a partner agency together with the referral route or partner route typed on
the record (empty when none was given). Route spellings that differ only in case or
spacing are one route.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

WINDOWS = (30, 90)  # the rolling windows `/baton partner NAME` shows, in days
DAY = timedelta(days=1)

RouteKey = tuple[int, str]  # (partner id, normalised route)


def route_key(route: str | None) -> str:
    """The normalised route: case and spacing do not split one route into two."""
    return " ".join((route or "").split()).casefold()


@dataclass(frozen=True)
class RecordFact:
    """What trends need of one handoff or dependency."""

    id: int
    reference: str  # H-3, D-2
    kind: str  # handoff | dependency
    person_ref: str
    partner_id: int
    partner: str  # the partner agency's display name
    route: str  # "" when none was given
    status: str
    created_at: datetime
    due_at: datetime  # a handoff's response deadline; a dependency's next review time
    acknowledged_at: datetime | None = None
    responded_at: datetime | None = None  # the first partner response recorded
    closed_at: datetime | None = None  # resolved, closed or cancelled

    @property
    def key(self) -> RouteKey:
        return (self.partner_id, route_key(self.route))

    @property
    def is_handoff(self) -> bool:
        return self.kind == "handoff"

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"

    @property
    def answered_at(self) -> datetime | None:
        if self.is_handoff:
            return self.responded_at
        return self.closed_at if self.status == "resolved" else None

    @property
    def wait_ended_at(self) -> datetime | None:
        """When the wait on the partner ended: a handoff's acknowledgement, a dependency's
        resolution, or either's cancellation or closing."""
        if self.is_handoff and self.acknowledged_at is not None:
            return self.acknowledged_at
        return self.closed_at

    def cancelled_in_time(self) -> bool:
        return (self.cancelled and self.closed_at is not None
                and self.closed_at <= self.due_at)


@dataclass(frozen=True)
class PageFact:
    """A page sent to an escalation tier for a record."""

    record_id: int
    tier: int
    sent_at: datetime


@dataclass(frozen=True)
class Miss:
    """One missed acknowledgement deadline, as the governance notice lists it."""

    record_id: int
    reference: str
    person_ref: str
    due_at: datetime  # when the miss happened
    acknowledged_at: datetime | None
    delay: timedelta  # to the late acknowledgement, the cancellation, or now
    ongoing: bool  # still not acknowledged


def missed_acknowledgement(fact: RecordFact, *, now: datetime) -> bool:
    """The handoff's response deadline passed (by `now`) with no acknowledgement by then."""
    if not fact.is_handoff or fact.due_at > now or fact.cancelled_in_time():
        return False
    return fact.acknowledged_at is None or fact.acknowledged_at > fact.due_at


def miss_of(fact: RecordFact, *, now: datetime) -> Miss:
    ended = fact.acknowledged_at or (fact.closed_at if fact.cancelled else None)
    until = ended if ended is not None and ended <= now else now
    return Miss(record_id=fact.id, reference=fact.reference, person_ref=fact.person_ref,
                due_at=fact.due_at, acknowledged_at=fact.acknowledged_at,
                delay=max(until - fact.due_at, timedelta(0)),
                ongoing=fact.acknowledged_at is None and not fact.cancelled)


def late_response(fact: RecordFact, *, now: datetime) -> bool:
    """The deadline passed (by `now`) before the partner answered."""
    if fact.due_at > now or fact.cancelled_in_time():
        return False
    answered = fact.answered_at
    return answered is None or answered > fact.due_at


def stalled_days(fact: RecordFact, *, now: datetime, start: datetime | None = None) -> int:
    """Days (any part of a day counting as one) the record waited past its deadline,
    between `start` and `now`."""
    ended = fact.wait_ended_at
    until = min(ended, now) if ended is not None else now
    begin = max(fact.due_at, start) if start is not None else fact.due_at
    if until <= begin:
        return 0
    return math.ceil((until - begin) / DAY)


def _in(when: datetime | None, start: datetime, now: datetime) -> bool:
    return when is not None and start < when <= now


@dataclass(frozen=True)
class Figures:
    """One route's (or one partner's) figures over one window."""

    window_days: int
    deadlines: int  # handoff response deadlines that fell due in the window (not withdrawn)
    missed_acknowledgements: int
    late_responses: int
    acknowledged: int  # handoffs acknowledged in the window
    median_time_to_ack: timedelta | None
    longest_time_to_ack: timedelta | None
    escalations: tuple[tuple[int, int], ...]  # (tier, pages sent), by tier
    stalled_days: int

    @property
    def escalation_total(self) -> int:
        return sum(n for _, n in self.escalations)


def figures(facts: Iterable[RecordFact], pages: Iterable[PageFact], *, now: datetime,
            window_days: int) -> Figures:
    """The figures of these records (and their pages) over the window ending now."""
    start = now - timedelta(days=window_days)
    records = list(facts)
    ids = {f.id for f in records}
    handoffs = [f for f in records if f.is_handoff]
    ack_times = [f.acknowledged_at - f.created_at for f in handoffs
                 if f.acknowledged_at is not None and _in(f.acknowledged_at, start, now)]
    tiers: dict[int, int] = defaultdict(int)
    for page in pages:
        if page.record_id in ids and _in(page.sent_at, start, now):
            tiers[page.tier] += 1
    return Figures(
        window_days=window_days,
        deadlines=sum(1 for f in handoffs if _in(f.due_at, start, now)
                      and not f.cancelled_in_time()),
        missed_acknowledgements=sum(1 for f in handoffs if _in(f.due_at, start, now)
                                    and missed_acknowledgement(f, now=now)),
        late_responses=sum(1 for f in records if _in(f.due_at, start, now)
                           and late_response(f, now=now)),
        acknowledged=len(ack_times),
        median_time_to_ack=_median(ack_times),
        longest_time_to_ack=max(ack_times) if ack_times else None,
        escalations=tuple(sorted(tiers.items())),
        stalled_days=sum(stalled_days(f, now=now, start=start) for f in records),
    )


def _median(values: Sequence[timedelta]) -> timedelta | None:
    if not values:
        return None
    return timedelta(seconds=statistics.median(v.total_seconds() for v in values))


@dataclass(frozen=True)
class RouteTrend:
    """One partner route's figures for each window, and what is open on it now."""

    partner_id: int
    partner: str
    route: str  # the latest spelling; "" when none was given
    windows: Mapping[int, Figures]
    open_now: int
    people_open: tuple[str, ...]  # person references with an open record on the route

    @property
    def key(self) -> RouteKey:
        return (self.partner_id, route_key(self.route))


OPEN = frozenset({"pending", "acknowledged", "responded", "overdue", "open"})


def _trend(group: Sequence[RecordFact], pages: Sequence[PageFact], *, now: datetime,
           windows: Sequence[int], route: str | None = None) -> RouteTrend:
    latest = max(group, key=lambda f: (f.created_at, f.id))
    open_facts = [f for f in group if f.status in OPEN]
    return RouteTrend(
        partner_id=latest.partner_id, partner=latest.partner,
        route=latest.route if route is None else route,
        windows={w: figures(group, pages, now=now, window_days=w) for w in windows},
        open_now=len(open_facts),
        people_open=tuple(sorted({f.person_ref for f in open_facts})),
    )


def route_trends(facts: Iterable[RecordFact], pages: Iterable[PageFact], *, now: datetime,
                 windows: Sequence[int] = WINDOWS) -> list[RouteTrend]:
    """Figures per partner and route, by partner name then route."""
    groups: dict[RouteKey, list[RecordFact]] = defaultdict(list)
    for f in facts:
        groups[f.key].append(f)
    sent = list(pages)
    out = [_trend(g, sent, now=now, windows=windows) for g in groups.values()]
    return sorted(out, key=lambda t: (t.partner.casefold(), route_key(t.route)))


def partner_totals(facts: Iterable[RecordFact], pages: Iterable[PageFact], *, now: datetime,
                   windows: Sequence[int] = WINDOWS) -> RouteTrend | None:
    """One partner's figures over all its routes (route ""), or None with no records."""
    records = list(facts)
    if not records:
        return None
    return _trend(records, list(pages), now=now, windows=windows, route="")


@dataclass(frozen=True)
class RepeatedMisses:
    """A route over the threshold: the misses that put it there."""

    partner_id: int
    partner: str
    route: str
    misses: tuple[Miss, ...]  # the misses counted (after `since`), oldest first
    in_window: int  # every miss in the window, including ones reported before
    since: datetime | None = None  # the previous notice's detection time, if any
    people: tuple[str, ...] = field(default=())

    @property
    def key(self) -> RouteKey:
        return (self.partner_id, route_key(self.route))


def repeated_misses(facts: Iterable[RecordFact], *, now: datetime, window: timedelta,
                    threshold: int,
                    since: Mapping[RouteKey, datetime] | None = None) -> list[RepeatedMisses]:
    """Routes whose handoffs missed at least `threshold` acknowledgement deadlines within
    `window` of now.

    `since` maps a route to the detection time of its last systemic-pattern notice: only
    misses after it count, so a route is reported once, and again only when `threshold`
    new misses have happened since (within the window). Misses are counted when they
    happened (at the response deadline), so a late acknowledgement does not undo one."""
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    since = since or {}
    start = now - window
    groups: dict[RouteKey, list[RecordFact]] = defaultdict(list)
    for f in facts:
        if _in(f.due_at, start, now) and missed_acknowledgement(f, now=now):
            groups[f.key].append(f)
    out = []
    for key, missed in groups.items():
        last = since.get(key)
        counted = sorted((f for f in missed if last is None or f.due_at > last),
                         key=lambda f: (f.due_at, f.id))
        if len(counted) < threshold:
            continue
        latest = max(missed, key=lambda f: (f.created_at, f.id))
        out.append(RepeatedMisses(
            partner_id=latest.partner_id, partner=latest.partner, route=latest.route,
            misses=tuple(miss_of(f, now=now) for f in counted), in_window=len(missed),
            since=last, people=tuple(sorted({f.person_ref for f in counted}))))
    return sorted(out, key=lambda r: (r.partner.casefold(), route_key(r.route)))
