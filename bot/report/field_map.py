"""Where the report answers each field of the seeds' field lists (issue 14): for each list,
in the seed's own words, the CSV file and column(s) that hold it, and for a step the step
key whose row it is. `baton report` prints this map and report.html shows it; a test checks
that every column named here is in its CSV's header and filled from the database.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.report.tracker_tables import CONTACTS_CSV, STEPS_CSV, TRACKERS_CSV, field_column

STEP_DONE = ("status", "timing", "settled_at")  # a step's answer: what, on time?, when


@dataclass(frozen=True)
class Answer:
    field: str  # in the seed's words
    file: str
    columns: tuple[str, ...]
    step: str = ""  # steps.csv: the row of the step with this key

    def where(self) -> str:
        rows = f" (step {self.step})" if self.step else ""
        return f"{self.file}{rows}: {', '.join(self.columns)}"


@dataclass(frozen=True)
class FieldList:
    title: str
    seed: str
    template: str
    answers: tuple[Answer, ...]


def _tracker(field: str, *columns: str) -> Answer:
    return Answer(field, TRACKERS_CSV, columns)


def _field(field: str, key: str) -> Answer:
    return Answer(field, TRACKERS_CSV, (field_column(key),))


def _step(field: str, key: str, columns: tuple[str, ...] = STEP_DONE) -> Answer:
    return Answer(field, STEPS_CSV, columns, key)


TRANSITION = FieldList(
    "Transition tracker: cannot proceed without", "000, Example Two", "transition", (
        _step("confirmed move date", "move-date"),
        _step("approved support plan", "support-plan"),
        _step("medication transfer process", "medication-transfer"),
        _step("emergency contact list", "emergency-contacts"),
        _step("transportation plan", "transportation"),
        _step("staff assignment", "staff-assignment"),
        _step("environmental risk check", "environmental-check"),
        _step("commissioner confirmation of funding start date", "funding-confirmed"),
        _tracker("move date", "anchor_at"),
        _field("funding authorization date", "funding-start"),
        _step("escalation to the commissioner with a written impact statement",
              "funding-decision", ("impact_statement", "pages_sent")),
        _step("the commissioner's decision", "funding-decision",
              ("decision", "note", "settled_at")),
        _tracker("the move goes ahead (proceed)", "status", "proceeded_at"),
    ))

DISCHARGE = FieldList(
    "Post-discharge 72-hour sprint", "004, Example 2", "discharge", (
        _step("Day 0: discharge summary receipt pathway", "discharge-summary"),
        _step("Day 0: medication list", "medication-list"),
        _step("Day 0: immediate risks", "immediate-risks"),
        _step("Day 1: first visit and transportation", "first-visit"),
        _step("Day 1: re-check home environment", "home-recheck"),
        _step("Day 1: equipment/assistive needs", "equipment"),
        _step("Day 2–3: services are active", "services-active"),
        _step("Day 2–3: authorizations are in place", "authorizations"),
        _step("Day 2–3: the participant understands the plan", "plan-understood"),
        Answer("explicit time stamps and named owners", STEPS_CSV,
               ("due_at", "settled_at", "owner", "agency_label")),
        Answer("any refusal of service and how it was managed", STEPS_CSV,
               ("status", "refusal_managed")),
        _tracker("what was done on time, late or not at all (at 72 hours)", "summary",
                 "closed_at"),
        Answer("which steps most often fail", STEPS_CSV,
               ("step_key", "timing", "blocked_reason")),
    ))

SERVICE_CHANGE = FieldList(
    "Service change notification: auditable validation", "001", "service-change", (
        _field("change trigger", "trigger"),
        _field("person impact", "impact"),
        _field("provider action", "action"),
        _step("case manager notification", "notify-case-manager"),
        _field("funding or service level may be affected", "funding"),
        _step("commissioner contact notified", "notify-commissioner"),
        _step("funding review status", "funding-review", ("status", "timing", "note")),
        _step("updated support plan", "support-plan"),
        _step("follow-up date", "follow-up", ("due_at", "status", "settled_at")),
        _field("immediate risk", "immediate-risk"),
    ))

HEALTH_CHANGE = FieldList(
    "Interim safety control after a health change: required fields", "000, Example One",
    "health-change", (
        _tracker("date of health change", "anchor_at"),
        _field("source of information", "source"),
        _field("immediate support impact", "impact"),
        _field("staff instructions", "instructions"),
        _step("case manager notification", "case-manager"),
        _field("family communication status", "family"),
        _step("follow-up responsibility", "review", ("owner", "agency_label")),
        _field("review date", "review"),
        _field("escalation threshold", "threshold"),
        _step("interim control: staff instructions issued", "instructions"),
        _step("quality lead check within 24 hours", "quality-check",
              ("status", "timing", "due_at", "settled_at")),
    ))

PROVISIONAL = FieldList(
    "Provisional support package", "003, Example 2", "provisional", (
        _tracker("a defined period (7–14 days)", "period_days", "anchor_at", "deadline"),
        _step("rapid welfare check", "welfare-check"),
        _step("short-term coordination contacts", "coordination-contacts"),
        _step("medication reconciliation support", "medication-reconciliation"),
        _step("crisis and safety plan refresh", "safety-plan"),
        _step("scheduling priority assessments", "priority-assessments"),
        _tracker("a named coordinator tracks the package", "owner"),
        Answer("documents every contact attempt", CONTACTS_CSV,
               ("at", "actor", "outcome", "note")),
        _tracker("a hard deadline for final pathway decision", "deadline"),
        _tracker("moved to a funded program, or escalated again with evidence",
                 "decision", "decision_text", "closed_at"),
        _tracker("conversion rates from provisional to funded", "decision"),
    ))

FIELD_LISTS: tuple[FieldList, ...] = (TRANSITION, DISCHARGE, SERVICE_CHANGE, HEALTH_CHANGE,
                                      PROVISIONAL)


def field_map_lines() -> list[str]:
    """The map as plain lines, for the terminal."""
    lines = ["Where each of the seeds' fields is answered (file: columns):"]
    for fl in FIELD_LISTS:
        lines.append(f"{fl.title} (seed {fl.seed}; template {fl.template})")
        width = max(len(a.field) for a in fl.answers)
        lines += [f"  {a.field.ljust(width)}  {a.where()}" for a in fl.answers]
    return lines
