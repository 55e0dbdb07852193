"""What the evidence report's figures are computed from: one workspace's records, each with
its audit trail and its sent pages, and the facts derived from them at the moment the report
is written (when a record's wait ended, the spans it was open past its deadline, whether
escalation came in time), plus the headline figures.

No HTML and no files here: bot/report/page.py renders these facts, bot/report/charts.py
draws them, bot/report/tables.py writes the rows they come from.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.records import OPEN_STATUSES, Risk
from bot.domain.schedule import LATE_AFTER
from bot.domain.times import format_duration
from store.evidence import Evidence
from store.models import AuditEvent, DueWork, Record

# What ends the wait on a deadline: a partner acknowledgement for a handoff; resolving,
# closing or cancelling for either kind.
_SETTLING = {"handoff": ("acknowledged", "closed", "cancelled"),
             "dependency": ("resolved", "closed", "cancelled")}
# Audit fields that move a record's deadline (a dependency's review can be moved).
_DEADLINE_FIELDS = ("next_review_at", "due_at", "response_deadline")


class EvidenceError(RuntimeError):
    """The rows read for a report contradict each other (a page counted as sent that has no
    sent time): the report would state something the database does not say."""


@dataclass(frozen=True)
class RecordFacts:
    """One record and what the report derives from it at `now`."""

    record: Record
    events: list[AuditEvent]
    pages: list[DueWork]  # sent pages, first sent first
    settled_at: datetime | None  # acknowledged (handoff), resolved, closed or cancelled
    stalled: list[tuple[datetime, datetime]]  # spans open past its deadline

    @property
    def is_handoff(self) -> bool:
        return self.record.kind == "handoff"

    @property
    def is_open(self) -> bool:
        return self.record.status in OPEN_STATUSES

    @property
    def acknowledged_at(self) -> datetime | None:
        return self.record.acknowledged_at if self.is_handoff else None

    def missed_deadline(self, now: datetime) -> bool:
        """A handoff not acknowledged by its response deadline (acknowledged late, or not
        at all once the deadline passed), unless it was closed before the deadline."""
        r = self.record
        if not self.is_handoff:
            return False
        if r.acknowledged_at is not None:
            return r.acknowledged_at > r.due_at
        if r.closed_at is not None and r.closed_at <= r.due_at:
            return False
        return r.due_at <= now

    def time_to_ack(self) -> timedelta | None:
        ack = self.acknowledged_at
        return None if ack is None else ack - self.record.created_at


@dataclass(frozen=True)
class Facts:
    now: datetime
    records: list[RecordFacts]
    workspace_events: list[AuditEvent]  # events that belong to no record
    escalations: list[DueWork]

    @classmethod
    def of(cls, evidence: Evidence, *, now: datetime) -> Facts:
        by_record: dict[int, list[AuditEvent]] = {}
        loose: list[AuditEvent] = []
        for ev in evidence.events:
            if ev.record_id is None:
                loose.append(ev)
            else:
                by_record.setdefault(ev.record_id, []).append(ev)
        pages: dict[int, list[DueWork]] = {}
        for work in evidence.escalations:
            pages.setdefault(work.record_id, []).append(work)
        records = [_record_facts(r, by_record.get(r.id, []), pages.get(r.id, []), now)
                   for r in evidence.records]
        return cls(now=now, records=records, workspace_events=loose,
                   escalations=evidence.escalations)

    @property
    def handoffs(self) -> list[RecordFacts]:
        return [f for f in self.records if f.is_handoff]

    @property
    def dependencies(self) -> list[RecordFacts]:
        return [f for f in self.records if not f.is_handoff]


def _record_facts(record: Record, events: list[AuditEvent], pages: list[DueWork],
                  now: datetime) -> RecordFacts:
    settled = settled_at(record, events)
    spans = stalled_spans(deadline_history(record, events), settled=settled, now=now)
    pages = sorted(pages, key=lambda w: (w.sent_at or now, w.tier or 0, w.id))
    return RecordFacts(record, events, pages, settled, spans)


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def settled_at(record: Record, events: Iterable[AuditEvent]) -> datetime | None:
    """When the wait on the record's deadline ended: the record's own columns, backed by the
    audit trail (which is append-only, so it wins if a column was ever lost)."""
    kinds = _SETTLING.get(record.kind, ())
    times: list[datetime | None] = [e.at for e in events if e.kind in kinds]
    times += [record.closed_at] + ([record.acknowledged_at] if record.kind == "handoff" else [])
    known = [t for t in times if t is not None]
    return min(known) if known else None


def deadline_history(record: Record, events: Iterable[AuditEvent]) -> list[tuple[datetime,
                                                                                  datetime]]:
    """(from when, the deadline in force) pairs, oldest first: the deadline given at
    creation, then each recorded move (a dependency's review moved with an interim action)."""
    history: list[tuple[datetime, datetime]] = []
    for ev in events:
        if ev.kind == "created" and isinstance(ev.after, dict):
            due = parse_time(ev.after.get("due_at"))
            if due is not None:
                history.append((ev.at, due))
        elif ev.kind == "field_changed" and ev.field in _DEADLINE_FIELDS:
            due = parse_time(ev.after)
            if due is not None:
                history.append((ev.at, due))
    return history or [(record.created_at, record.due_at)]


def stalled_spans(history: Sequence[tuple[datetime, datetime]], *, settled: datetime | None,
                  now: datetime) -> list[tuple[datetime, datetime]]:
    """The spans during which the record was open past the deadline then in force."""
    stop = min(t for t in (settled, now) if t is not None)
    spans = []
    for i, (since, due) in enumerate(history):
        until = history[i + 1][0] if i + 1 < len(history) else stop
        begin, finish = max(since, due), min(until, stop)
        if begin < finish:
            spans.append((begin, finish))
    return spans


def local_days(start: datetime, end: datetime, tz: ZoneInfo) -> list[date]:
    """The calendar days (in `tz`) that [start, end) touches."""
    first = start.astimezone(tz).date()
    last = (end - timedelta(microseconds=1)).astimezone(tz).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    begin = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return begin.astimezone(UTC), end.astimezone(UTC)


def stalled_per_day(facts: Facts, *, start: datetime, end: datetime,
                    tz: ZoneInfo) -> list[tuple[date, int]]:
    """For each day of the period up to now: how many records were stalled (open past their
    deadline) at some moment of that day."""
    if facts.now <= start:
        return []
    out = []
    for day in local_days(start, min(end, facts.now), tz):
        lo, hi = day_bounds(day, tz)
        count = sum(1 for f in facts.records if any(a < hi and b > lo for a, b in f.stalled))
        out.append((day, count))
    return out



# --- headline figures ---

def _percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}% ({part} of {whole})"


def _ack_on_time(facts: Facts) -> str:
    due = [f for f in facts.handoffs
           if f.acknowledged_at is not None or f.missed_deadline(facts.now)]
    if not due:
        return "n/a (none due yet)"
    on_time = [f for f in due if not f.missed_deadline(facts.now)]
    return _percent(len(on_time), len(due))


def _median_ack(facts: Facts) -> str:
    waits = [w for w in (f.time_to_ack() for f in facts.handoffs) if w is not None]
    if not waits:
        return "n/a (none acknowledged)"
    return f"{format_duration(_median(waits))} ({len(waits)} acknowledged)"


def _median(values: Sequence[timedelta]) -> timedelta:
    """statistics.median for durations (its type hints take numbers only): the middle one,
    or the mean of the middle two."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _overdue(facts: Facts) -> str:
    missed = [f for f in facts.handoffs if f.missed_deadline(facts.now)]
    still = sum(1 for f in missed if f.record.status == "overdue")
    return f"{len(missed)} ({still} still unacknowledged)"


def escalations_by_tier(facts: Facts) -> list[tuple[int, int]]:
    counts = Counter(w.tier or 1 for w in facts.escalations)
    if not counts:
        return []
    return [(tier, counts.get(tier, 0)) for tier in range(1, max(counts) + 1)]


def _tiers_text(facts: Facts) -> str:
    tiers = escalations_by_tier(facts)
    if not tiers:
        return "none"
    return " · ".join(f"Tier {tier}: {count}" for tier, count in tiers)


def headline_figures(facts: Facts, *, tz: ZoneInfo, start: datetime,
                     end: datetime) -> list[tuple[str, str]]:
    handoffs, deps = len(facts.handoffs), len(facts.dependencies)
    same_day = sum(1 for f in facts.dependencies
                   if f.is_open and f.record.risk == Risk.SAME_DAY)
    no_owner = sum(1 for f in facts.records if f.is_open and not f.record.next_action_owner)
    stalled = sum(n for _, n in stalled_per_day(facts, start=start, end=end, tz=tz))
    return [
        ("Records logged", f"{len(facts.records)} ({handoffs} handoff{'s' * (handoffs != 1)}, "
                           f"{deps} dependenc{'y' if deps == 1 else 'ies'})"),
        ("Handoffs acknowledged on time", _ack_on_time(facts)),
        ("Median time to acknowledgement", _median_ack(facts)),
        ("Overdue handoffs", _overdue(facts)),
        ("Escalations by tier", _tiers_text(facts)),
        ("Open same-day-risk dependencies", str(same_day)),
        ("Open records with no next-action owner", str(no_owner)),
        ("Stalled record-days", str(stalled)),
    ]



# --- per-record verdicts (in words, for the page) ---

def tier_name(record: Record, tier: int | None) -> str:
    """The tier's name in the ladder the record started with, when it is known."""
    tiers = record.ladder.get("tiers") if isinstance(record.ladder, dict) else None
    if not tier or not isinstance(tiers, list) or not 0 < tier <= len(tiers):
        return ""
    entry = tiers[tier - 1]
    return str(entry.get("name", "")) if isinstance(entry, dict) else ""


def delay_text(f: RecordFacts, now: datetime) -> str:
    total = sum((b - a for a, b in f.stalled), timedelta(0))
    if not f.stalled:
        return "none"
    waiting = f.settled_at is None and f.is_open
    return format_duration(total) + (" so far (still open past its deadline)" if waiting
                                      else " open past its deadline")


def escalation_verdict(f: RecordFacts, now: datetime) -> str:
    """Did escalation happen before the deadline was materially compromised? Baton's
    measure: the first page went out when the ladder said (within a couple of minutes of
    falling due), rather than late or not at all."""
    r = f.record
    if f.pages:
        first = f.pages[0]
        if first.sent_at is None:
            raise EvidenceError(f"record {r.reference}: page {first.id} counted as sent "
                                "but has no sent time")
        lag = first.sent_at - first.due_at
        if lag <= LATE_AFTER:
            return (f"Yes: tier {first.tier} paged on schedule "
                    f"({format_duration(lag)} after it fell due)")
        return f"Late: tier {first.tier} paged {format_duration(lag)} after it fell due"
    if f.settled_at is not None and f.settled_at <= r.due_at:
        return "Not needed: settled before the deadline"
    if now < r.due_at:
        return "Not yet: the deadline has not passed"
    if f.settled_at is not None:
        return (f"No page sent: settled {format_duration(f.settled_at - r.due_at)} after "
                "the deadline, before any tier fell due")
    return "No: the deadline passed and no page has been sent"

