"""What the report says about pathway trackers: each tracker with its steps (how each step
ended up: on time, late, not done, refused, not applicable, or not due yet; the reason it was
blocked, even when it was done later), and the figures: per template counts, the discharge
sprint's "steps that most often fail" (seed 004), the provisional package conversion rate
(seed 003).

Pure: the rows come from store/evidence.py; page and CSV rendering live beside this module
(tracker_page.py, tracker_tables.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain.trackers import (
    StepStatus,
    Timing,
    TrackerStatus,
    decision_label,
    timing,
)
from store.evidence import Evidence
from store.models import AuditEvent, ContactAttempt, Record

PENDING = "pending"  # an open step not due yet: neither on time nor late so far
SPRINT_TEMPLATE = "discharge"  # the post-discharge 72-hour sprint
PROVISIONAL_TEMPLATE = "provisional"
FUNDED, ESCALATED = "funded", "escalated"

TIMING_LABELS = {
    Timing.ON_TIME.value: "on time",
    Timing.LATE.value: "late",
    Timing.NOT_DONE.value: "not done",
    Timing.REFUSED.value: "refused by the person",
    Timing.NOT_APPLICABLE.value: "not applicable",
    PENDING: "not due yet",
}


@dataclass(frozen=True)
class StepFacts:
    step: Record
    timing: str  # a Timing value, or PENDING
    blocked_reason: str | None  # the latest reason it was blocked, even if settled since
    pages: int  # escalation pages sent for it

    @property
    def failed(self) -> bool:
        """Late, not done by its due time, or blocked at some point."""
        return self.timing in (Timing.LATE, Timing.NOT_DONE) or self.blocked_reason is not None


@dataclass(frozen=True)
class TrackerFacts:
    tracker: Record
    steps: list[StepFacts]
    contacts: list[ContactAttempt]
    events: list[AuditEvent]  # the tracker's and its steps' events, in write order

    @property
    def values(self) -> dict[str, Any]:
        return dict((self.tracker.details or {}).get("values", {}))

    @property
    def times(self) -> dict[str, Any]:
        return dict((self.tracker.details or {}).get("times", {}))

    def timings(self) -> Counter[str]:
        return Counter(s.timing for s in self.steps)

    @property
    def decision_text(self) -> str | None:
        """The text typed with the decision (which funded program, the evidence)."""
        return self.tracker.outcome if self.tracker.decision else None

    @property
    def summary(self) -> str | None:
        """A sprint's closing summary (what was done on time, late or not at all)."""
        t = self.tracker
        return t.outcome if not t.decision and t.status == TrackerStatus.CLOSED else None

    @property
    def decision_label(self) -> str:
        return decision_label(self.tracker.decision) if self.tracker.decision else ""


def step_timing(step: Record, now: datetime) -> str:
    """How the step ended up at `now` (bot.domain.trackers.timing), except that an open or
    blocked step whose due time is still ahead is not yet "not done" (unless its tracker
    ended first: its `closed_at` then says when it stopped being chased)."""
    if (step.status in (StepStatus.OPEN, StepStatus.BLOCKED) and step.due_at > now
            and step.closed_at is None):
        return PENDING
    return timing(step.status, step.due_at, step.closed_at).value


def blocked_reason(step: Record, events: Iterable[AuditEvent]) -> str | None:
    """The reason given the last time the step was blocked (the audit trail keeps it after
    the step is done; the row's own text is then the done note)."""
    reasons = [e.note for e in events if e.kind == "step_changed" and e.after == "blocked"
               and e.note]
    if reasons:
        return reasons[-1]
    return step.outcome if step.status == StepStatus.BLOCKED else None


def tracker_facts(evidence: Evidence, *, now: datetime) -> list[TrackerFacts]:
    by_record: dict[int, list[AuditEvent]] = {}
    for ev in evidence.events:
        if ev.record_id is not None:
            by_record.setdefault(ev.record_id, []).append(ev)
    pages = Counter(w.record_id for w in evidence.escalations)
    steps: dict[int, list[Record]] = {}
    for st in evidence.steps:
        steps.setdefault(st.parent_id or 0, []).append(st)
    contacts: dict[int, list[ContactAttempt]] = {}
    for c in evidence.contacts:
        contacts.setdefault(c.record_id, []).append(c)
    out = []
    for t in evidence.trackers:
        own = steps.get(t.id, [])
        events = sorted([e for r in (t, *own) for e in by_record.get(r.id, [])],
                        key=lambda e: e.id)
        facts = [StepFacts(st, step_timing(st, now), blocked_reason(st, by_record.get(st.id,
                                                                                      [])),
                           pages[st.id]) for st in own]
        out.append(TrackerFacts(t, facts, contacts.get(t.id, []), events))
    return out


# --- figures ---

def percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}% ({part} of {whole})"


@dataclass(frozen=True)
class TemplateCounts:
    template: str
    started: int
    open: int  # open, or proceeded with steps still to finish
    closed: int  # closed (a sprint ended, a package decided) or proceeded
    cancelled: int
    on_time: int  # steps done on time
    due: int  # steps whose outcome is known: done (on time or late) or not done by now
    refused: int

    @property
    def on_time_text(self) -> str:
        return percent(self.on_time, self.due) if self.due else "n/a (no step due yet)"


def template_counts(trackers: Sequence[TrackerFacts]) -> list[TemplateCounts]:
    """Per template, in the order first started."""
    names = list(dict.fromkeys(f.tracker.template or "" for f in trackers))
    out = []
    for name in names:
        mine = [f for f in trackers if (f.tracker.template or "") == name]
        status = Counter(f.tracker.status for f in mine)
        timed = Counter(s.timing for f in mine for s in f.steps)
        out.append(TemplateCounts(
            template=name, started=len(mine), open=status[TrackerStatus.OPEN],
            closed=status[TrackerStatus.CLOSED] + status[TrackerStatus.PROCEEDED],
            cancelled=status[TrackerStatus.CANCELLED], on_time=timed[Timing.ON_TIME],
            due=timed[Timing.ON_TIME] + timed[Timing.LATE] + timed[Timing.NOT_DONE],
            refused=timed[Timing.REFUSED]))
    return out


@dataclass(frozen=True)
class StepFailure:
    """One step of the sprint across the closed sprints: how often it failed."""

    key: str
    name: str
    sprints: int  # closed sprints holding this step
    late: int
    not_done: int
    blocked: int  # blocked at some point (whatever came after)
    failed: int  # late, not done or blocked (each sprint counted once)

    @property
    def rate(self) -> float:
        return self.failed / self.sprints if self.sprints else 0.0

    @property
    def rate_text(self) -> str:
        return percent(self.failed, self.sprints)


def _tied_top(ranked: Sequence[StepFailure]) -> str:
    """The step that most often fails, or every step tied with it (one named alone when
    seven failed alike would mislead), with the rate they share."""
    first = ranked[0]
    tied = [r for r in ranked if (r.failed, r.rate) == (first.failed, first.rate)]
    if len(tied) == 1:
        return f"{first.name}: {first.rate_text}"
    names = ", ".join(r.name for r in tied[:4]) + (f" and {len(tied) - 4} more"
                                                    if len(tied) > 4 else "")
    return f"{len(tied)} steps tied ({names}): {first.rate_text} each"


def failing_steps(trackers: Sequence[TrackerFacts]) -> list[StepFailure]:
    """The discharge sprint's "steps that most often fail": per step key across the sprints
    that closed (their 72 hours ended), most failures first, then the higher rate, then
    the sprint's own order."""
    order: dict[str, int] = {}
    rows: dict[str, list[StepFacts]] = {}
    for f in trackers:
        if f.tracker.template != SPRINT_TEMPLATE or f.tracker.status != TrackerStatus.CLOSED:
            continue
        for s in f.steps:
            key = s.step.step_key or ""
            order.setdefault(key, len(order))
            rows.setdefault(key, []).append(s)
    out = [StepFailure(key=key, name=steps[0].step.title or key, sprints=len(steps),
                       late=sum(s.timing == Timing.LATE for s in steps),
                       not_done=sum(s.timing == Timing.NOT_DONE for s in steps),
                       blocked=sum(s.blocked_reason is not None for s in steps),
                       failed=sum(s.failed for s in steps))
           for key, steps in rows.items()]
    return sorted(out, key=lambda r: (-r.failed, -r.rate, order[r.key]))


@dataclass(frozen=True)
class Conversion:
    """Provisional packages: moved to a funded program out of all decided (seed 003)."""

    funded: int
    escalated: int
    undecided_overdue: int  # no decision and the hard deadline has passed
    undecided: int  # no decision yet, the deadline still ahead

    @property
    def decided(self) -> int:
        return self.funded + self.escalated

    @property
    def rate_text(self) -> str:
        if not self.decided:
            return "n/a (none decided)"
        return percent(self.funded, self.decided)

    def text(self) -> str:
        return (f"{self.rate_text}; {self.escalated} escalated again with evidence; "
                f"{self.undecided_overdue} undecided past the deadline")


def conversion(trackers: Sequence[TrackerFacts], *, now: datetime) -> Conversion:
    mine = [f.tracker for f in trackers if f.tracker.template == PROVISIONAL_TEMPLATE
            and f.tracker.status != TrackerStatus.CANCELLED]
    waiting = [t for t in mine if not t.decision]
    return Conversion(
        funded=sum(t.decision == FUNDED for t in mine),
        escalated=sum(t.decision == ESCALATED for t in mine),
        undecided_overdue=sum(t.due_at <= now for t in waiting),
        undecided=sum(t.due_at > now for t in waiting))


def tracker_figures(trackers: Sequence[TrackerFacts], *, now: datetime) -> list[tuple[str,
                                                                                      str]]:
    """The trackers' headline figures (for the summary lines and the page); none when the
    period started no tracker."""
    if not trackers:
        return []
    per = template_counts(trackers)
    started = ", ".join(f"{c.template} {c.started}" for c in per)
    on_time = sum(c.on_time for c in per)
    due = sum(c.due for c in per)
    refused = sum(c.refused for c in per)
    out = [
        ("Trackers started", f"{len(trackers)} ({started})"),
        ("Tracker steps done on time", percent(on_time, due) if due else "n/a (none due)"),
        ("Steps refused by the person", str(refused)),
    ]
    ranked = failing_steps(trackers)
    if any(f.tracker.template == SPRINT_TEMPLATE for f in trackers):
        top = ("n/a (no sprint closed yet)" if not ranked else
               _tied_top(ranked) if ranked[0].failed else
               "none (no step late, not done or blocked)")
        out.append(("Sprint step that most often fails", top))
    if any(f.tracker.template == PROVISIONAL_TEMPLATE for f in trackers):
        out.append(("Provisional packages moved to a funded program",
                    conversion(trackers, now=now).text()))
    return out

