"""Pathway trackers: a set of owned, timed steps for one person, made from a template.
Pure: no Slack, no SQL.

One mechanism serves the seeds' workflows (seed 000 Examples One and Two, 001, 003
Example 2, 004 Example 2): a tracker (T-12) has an anchor time (the move date, the discharge
time, the change time, the package start); each step has an owner agency, a named owner, a
due time relative to the anchor, an optional "cannot proceed without" gate, and a status.
The time engine reminds and pages a step past due as it does a record.

Templates come from BATON_CONFIG's [template.NAME] tables (bot/domain/tracker_config.py
reads them) over the built-in defaults in bot/domain/tracker_templates.toml.

What comes next fits the same mechanism. A dispute is a template whose steps are the
decision ladder's rungs (each owned, timed, gated on the one before) with the named final
authority as the last step's owner and a decision at the end (as a provisional package has:
`decision_choices`). A versioned plan is a tracker whose steps are each agency's
acknowledgement of receipt; a new version reopens those steps (StepStatus.OPEN, audited).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from bot.domain.ladder import Target, shift
from bot.domain.quoting import got, quoted
from bot.domain.records import DomainError

# Owner agencies, the seeds' words ("provider-owned actions, commissioner or case manager
# actions, housing actions, and health partner actions"); the config may add more.
AGENCIES: dict[str, str] = {
    "provider": "Provider",
    "case-management": "Case management",
    "commissioner": "Commissioner",
    "housing": "Housing",
    "health-partner": "Health partner",
    "family": "Family",
    "transport": "Transport",
    "pharmacy": "Pharmacy",
}

STEP_KIND = "step"
TRACKER_KIND = "tracker"
TRACKER_PREFIX = "T"
# How far back a tracker's anchor or a date field may be typed: what already happened (a
# discharge this morning, a health change last week) is recorded when it happened, and its
# steps already past due are overdue at once. Further back is most likely a mistyped year.
ANCHOR_BACK = timedelta(days=14)
STEPS_PER_TRACKER = 99  # a step's number is its tracker's * 100 + its position


class StepStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    BLOCKED = "blocked"  # with a reason: still outstanding, still escalates
    NOT_APPLICABLE = "not_applicable"  # with a reason
    REFUSED = "refused"  # refused by the person, with how it was managed

    @property
    def label(self) -> str:
        return {"open": "Open", "done": "Done", "blocked": "Blocked",
                "not_applicable": "Not applicable", "refused": "Refused by the person"}[
            self.value]

    @property
    def needs_text(self) -> bool:
        return self in (StepStatus.BLOCKED, StepStatus.NOT_APPLICABLE, StepStatus.REFUSED)

    @property
    def text_label(self) -> str:
        """What the text typed with this status is, in the seeds' words."""
        return {"open": "Note", "done": "Note", "blocked": "Reason it is blocked",
                "not_applicable": "Reason it does not apply",
                "refused": "How the refusal was managed"}[self.value]

    @property
    def settled(self) -> bool:
        """No longer outstanding: nothing more is chased."""
        return self in (StepStatus.DONE, StepStatus.NOT_APPLICABLE, StepStatus.REFUSED)


STEP_OPEN = frozenset({StepStatus.OPEN.value, StepStatus.BLOCKED.value})

_STATUS_WORDS = {
    "done": StepStatus.DONE, "complete": StepStatus.DONE, "completed": StepStatus.DONE,
    "blocked": StepStatus.BLOCKED, "block": StepStatus.BLOCKED,
    "na": StepStatus.NOT_APPLICABLE, "n/a": StepStatus.NOT_APPLICABLE,
    "not-applicable": StepStatus.NOT_APPLICABLE, "not_applicable": StepStatus.NOT_APPLICABLE,
    "refused": StepStatus.REFUSED, "declined": StepStatus.REFUSED,
    "open": StepStatus.OPEN, "reopen": StepStatus.OPEN,
}


def read_step_status(text: str) -> StepStatus:
    word = text.strip().lower()
    status = _STATUS_WORDS.get(word)
    if status is None:
        raise DomainError(f"A step's status is done, blocked, na or refused{got(text)}.",
                          field="status")
    return status


class TrackerStatus(StrEnum):
    OPEN = "open"
    PROCEEDED = "proceeded"  # a transition's move went ahead (every gate closed)
    CLOSED = "closed"  # a sprint's 72 hours ended; a provisional package decided
    CANCELLED = "cancelled"


def step_transition(reference: str, current: str, new: StepStatus, text: str | None) -> str:
    """The step's next status, or a DomainError saying why not."""
    if new.needs_text and not (text or "").strip():
        raise DomainError(f"{reference}: {new.label.lower()} needs its text: "
                          f"{new.text_label.lower()}.", field="text")
    if current in (StepStatus.OPEN, StepStatus.BLOCKED):
        if new is StepStatus.OPEN and current == StepStatus.OPEN:
            raise DomainError(f"{reference} is already open.")
        return new.value
    if new is StepStatus.OPEN:
        return new.value  # reopened (a manager's or the owner's correction), audited
    raise DomainError(f"{reference} is {StepStatus(current).label.lower()} already; reopen it "
                      f"first (`open`) to change it.")


@dataclass(frozen=True)
class TrackerField:
    """A fact asked when the tracker starts (the seeds' required fields)."""

    key: str
    label: str
    kind: str = "text"  # text | time | choice | yes-no
    required: bool = True
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepTemplate:
    key: str  # the slug typed in /baton step T-12 KEY …
    name: str
    agency: str
    due: timedelta  # after the anchor (negative: before it)
    gate: bool = False
    group: str = ""  # "Day 0", "Day 1", …: the sprint's phases
    owner: str = ""  # "" | "owner" (the tracker's owner) | a user <@U…>
    only_if: str = ""  # a yes-no field that must be yes for this step to apply
    due_field: str = ""  # a time field that sets this step's due instead of `due`
    # `due` was written in hours or minutes ("24h"): elapsed time, even when it is a whole
    # number of days. Written in days ("1d") it keeps the wall-clock time (see plan_steps).
    elapsed: bool = False


@dataclass(frozen=True)
class Template:
    name: str
    title: str
    anchor: str  # what the anchor time is, in the seeds' words ("move date")
    steps: tuple[StepTemplate, ...]
    fields: tuple[TrackerField, ...] = ()
    ladder: str = ""  # a ladder name from the config; "" the channel's or the default
    # A sprint: the tracker closes itself this long after the anchor, with what was done on
    # time, late, or not at all (the post-discharge 72 hours).
    closes_after: timedelta | None = None
    # A provisional package: the period (bounds) and a hard decision deadline at its end.
    period: timedelta | None = None
    period_bounds: tuple[timedelta, timedelta] | None = None
    decision_choices: tuple[str, ...] = ()
    contacts: bool = False  # a contact-attempt log
    # A time field that, when it differs from the anchor's date, opens the commissioner
    # escalation with an impact statement (a transition's funding start date).
    mismatch_field: str = ""
    escalate_to: tuple[Target, ...] = ()  # who the mismatch escalation pages
    decide_within: timedelta = timedelta(days=2)  # the commissioner's decision deadline
    # A yes-no field that, when yes, pages `urgent` all together at once (immediate risk).
    urgent_field: str = ""
    urgent: tuple[Target, ...] = ()
    proceed: str = ""  # what "proceed" means ("the move goes ahead"); "" none

    def step(self, key: str) -> StepTemplate:
        for s in self.steps:
            if s.key == key:
                return s
        raise KeyError(key)

    def field(self, key: str) -> TrackerField | None:
        for f in self.fields:
            if f.key == key:
                return f
        return None

    def applies(self, step: StepTemplate, values: dict[str, str]) -> bool:
        return not step.only_if or values.get(step.only_if, "").lower() == "yes"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass(frozen=True)
class PlannedStep:
    position: int
    template: StepTemplate
    due_at: datetime
    gate: bool


def plan_steps(template: Template, *, anchor: datetime, tz: ZoneInfo,
               values: dict[str, str], times: dict[str, datetime]) -> list[PlannedStep]:
    """The steps a tracker starts with, numbered from 1, each due its offset from the
    anchor. An offset in days keeps the wall-clock time at home across a daylight-saving
    change ("Day 1" is the next day at the same hour); one in hours is elapsed time (the
    quality lead's check "within 24 hours" is 24 hours later, whatever the clocks did)."""
    out: list[PlannedStep] = []
    for st in template.steps:
        if not template.applies(st, values):
            continue
        if st.due_field and st.due_field in times:
            due = times[st.due_field]
        else:
            # In UTC: aware arithmetic in a local zone would count wall-clock hours.
            due = ((anchor.astimezone(UTC) + st.due).astimezone(anchor.tzinfo) if st.elapsed
                   else shift(anchor, st.due, tz))
        out.append(PlannedStep(len(out) + 1, st, due, st.gate))
    if len(out) > STEPS_PER_TRACKER - 1:  # one place kept for a step opened later
        raise DomainError(f"A tracker holds at most {STEPS_PER_TRACKER - 1} steps.")
    return out


def step_number(tracker_number: int, position: int) -> int:
    return tracker_number * 100 + position


def step_reference(number: int) -> str:
    return f"{TRACKER_PREFIX}-{number // 100}.{number % 100}"


def tracker_reference(number: int) -> str:
    return f"{TRACKER_PREFIX}-{number}"


@dataclass(frozen=True)
class StepView:
    """The facts of a step that the rules below need (from the store's row)."""

    key: str
    name: str
    status: str
    gate: bool
    due_at: datetime
    done_at: datetime | None = None
    decision: str | None = None  # a decision step's (the commissioner's on the funding)


def open_gates(steps: Iterable[StepView]) -> list[StepView]:
    """The gates that hold "proceed": "cannot proceed without" them. A gate is closed only
    when it is done (and, for a decision, not declined) or does not apply. One still open or
    blocked holds it; so does one the person refused (the item is not in place: record how
    it is covered, as done, or why it does not apply), and a declined funding decision."""
    return [s for s in steps if s.gate and (
        s.status in STEP_OPEN or s.status == StepStatus.REFUSED or s.decision == "declined")]


def _gate_state(g: StepView) -> str:
    if g.decision == "declined":
        return "declined"
    return StepStatus(g.status).label.lower()


def check_proceed(reference: str, what: str, steps: Sequence[StepView]) -> None:
    """Refuse "proceed" while a gate is open, naming the open gates."""
    gates = open_gates(steps)
    if gates:
        names = "; ".join(f"{g.name} ({_gate_state(g)})" for g in gates)
        raise DomainError(f"{reference} cannot proceed ({what}) without: {names}. "
                          f"{len(gates)} gate{'s' if len(gates) != 1 else ''} still open.")


def find_step(reference: str, steps: Sequence[StepView], typed: str) -> StepView:
    """The step named `typed`: its key, its name, its number, or a unique start of one."""
    want = slug(typed)
    if not want:
        raise DomainError(f"Name the step of {reference}: one of "
                          f"{', '.join(s.key for s in steps)}.", field="step")
    if want.isdigit() and 1 <= int(want) <= len(steps):
        return steps[int(want) - 1]
    for s in steps:
        if want in (s.key, slug(s.name)):
            return s
    starts = [s for s in steps if s.key.startswith(want) or slug(s.name).startswith(want)]
    if len(starts) == 1:
        return starts[0]
    close = difflib.get_close_matches(want, [s.key for s in steps], n=1, cutoff=0.6)
    hint = f" Did you mean `{close[0]}`?" if close and not starts else ""
    many = (f" {quoted(typed)} could be {', '.join(f'`{s.key}`' for s in starts)}."
            if starts else "")
    raise DomainError(f"{reference} has no step {quoted(typed)}.{many}{hint} Its steps: "
                      f"{', '.join(s.key for s in steps)}.", field="step")


class Timing(StrEnum):
    ON_TIME = "on_time"
    LATE = "late"
    NOT_DONE = "not_done"
    REFUSED = "refused"
    NOT_APPLICABLE = "not_applicable"


def timing(status: str, due_at: datetime, done_at: datetime | None) -> Timing:
    """How a step ended up: done on time or late, refused, not applicable, or not done."""
    if status == StepStatus.DONE and done_at is not None:
        return Timing.ON_TIME if done_at <= due_at else Timing.LATE
    if status == StepStatus.REFUSED:
        return Timing.REFUSED
    if status == StepStatus.NOT_APPLICABLE:
        return Timing.NOT_APPLICABLE
    return Timing.NOT_DONE


@dataclass(frozen=True)
class SprintSummary:
    on_time: list[str] = field(default_factory=list)
    late: list[str] = field(default_factory=list)
    not_done: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    not_applicable: list[str] = field(default_factory=list)

    def line(self) -> str:
        def part(label: str, names: list[str]) -> str:
            return f"{label} {len(names)}" + (f" ({', '.join(names)})" if names and
                                              label != "on time" else "")
        return "; ".join(part(label, names) for label, names in (
            ("on time", self.on_time), ("late", self.late), ("not done", self.not_done),
            ("refused by the person", self.refused), ("not applicable", self.not_applicable))
            if names or label in ("on time", "late", "not done"))


def summarise(steps: Iterable[StepView]) -> SprintSummary:
    out = SprintSummary()
    for s in steps:
        t = timing(s.status, s.due_at, s.done_at)
        {Timing.ON_TIME: out.on_time, Timing.LATE: out.late, Timing.NOT_DONE: out.not_done,
         Timing.REFUSED: out.refused, Timing.NOT_APPLICABLE: out.not_applicable}[t].append(
            s.name)
    return out


def period_of(template: Template, typed: timedelta | None) -> timedelta | None:
    """A provisional package's period: as typed, within the template's bounds."""
    if template.period is None:
        if typed:
            raise DomainError(f"A {template.title.lower()} has no period (only a template "
                              "with `period`, like provisional, does).", field="period")
        return None
    period = typed or template.period
    if template.period_bounds is not None:
        low, high = template.period_bounds
        if not low <= period <= high:
            raise DomainError(f"The period must be between {low.days} and {high.days} days "
                              f"(a provisional package is for a defined period).",
                              field="period")
    return period


def agency_label(key: str, extra: dict[str, str] | None = None) -> str:
    return (extra or {}).get(key) or AGENCIES.get(key) or key.replace("-", " ").capitalize()


# The parts of the written impact statement for the commissioner (seed 000: "staffing
# hours, transition supervision, overnight coverage, the cost of duplicated support"), as
# the funding step keeps them (details["impact"]), the form asks them and the page shows them.
IMPACT_PARTS = {
    "staffing": "Staffing hours",
    "supervision": "Transition supervision",
    "overnight": "Overnight coverage",
    "duplicated": "Cost of duplicated support",
}

# The commissioner's decision on a funding start that differs from the move date (seed 000).
FUNDING_DECISIONS = ("approved-adjustment", "declined", "other")
DECISION_LABELS = {
    "approved-adjustment": "Approved adjustment",
    "declined": "Declined",
    "other": "Other",
    "funded": "Moved to a funded program",
    "escalated": "Escalated again with evidence",
}
DECISION_TEXT = {  # what the text typed with a decision is
    "funded": "which funded program",
    "escalated": "the evidence",
}


def decision_label(word: str) -> str:
    return DECISION_LABELS.get(word, word.replace("-", " ").capitalize())


def read_decision(text: str, choices: Sequence[str]) -> str:
    """The choice `text` names: the word, its label, or a start of one only it has."""
    word = slug(text)
    exact = [c for c in choices if word and word in (slug(c), slug(decision_label(c)))]
    starts = [c for c in choices if word and slug(c).startswith(word)]
    if exact or len(starts) == 1:
        return (exact or starts)[0]
    if len(starts) > 1:
        raise DomainError(f"{quoted(text)} could be {', '.join(f'`{c}`' for c in starts)}: "
                          "say which.", field="decision")
    raise DomainError(f"The decision is one of {', '.join(f'`{c}`' for c in choices)}"
                      f"{got(text)}.", field="decision")


CONTACT_OUTCOMES = ("attempted", "reached")


def read_contact(text: str) -> str:
    word = text.strip().lower()
    if word in CONTACT_OUTCOMES:
        return word
    raise DomainError(f"A contact attempt is `attempted` or `reached`{got(text)}.",
                      field="outcome")


def within(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24} days" if hours % 24 == 0 and hours >= 48 else f"{hours} hours"
