"""The report's tracker CSV files: trackers.csv (one row per tracker, its template's field
values in `field_KEY` columns), steps.csv (one row per step: owner agency, owner, due, when
it was settled, on time or late, blocked and n/a reasons, a refusal and how it was managed)
and contact_attempts.csv (a provisional package's contact-attempt log). Times as ISO 8601
UTC, formula-safe like the other CSVs (bot/report/tables.py). bot/report/field_map.py says
which column answers each of the seeds' fields.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.domain.tracker_config import default_templates
from bot.domain.trackers import StepStatus, Timing, agency_label, decision_label
from bot.report.facts import parse_time
from bot.report.tables import Table, columns_table
from bot.report.trackers import PENDING, StepFacts, TrackerFacts
from store.models import ContactAttempt

TRACKERS_CSV = "trackers.csv"
STEPS_CSV = "steps.csv"
CONTACTS_CSV = "contact_attempts.csv"
FIELD_PREFIX = "field_"

SETTLED = ("done", "not_applicable", "refused")


def field_column(key: str) -> str:
    """The trackers.csv column holding a template field's value."""
    return FIELD_PREFIX + key


def _when(value: Any) -> Any:
    """A time field as stored (ISO text with its offset) read back as a UTC instant."""
    return parse_time(value) or value


def field_keys(trackers: Sequence[TrackerFacts]) -> list[str]:
    """Every built-in template's field keys (so the columns the field map names are always
    there), in template order, then any other key a tracker holds (a configured template's)."""
    keys = [f.key for t in default_templates().templates.values() for f in t.fields]
    keys += sorted({k for f in trackers for k in (*f.values, *f.times)} - set(keys))
    return list(dict.fromkeys(keys))


def _field_getter(key: str) -> Callable[[TrackerFacts], Any]:
    def get(f: TrackerFacts) -> Any:
        if key in f.times:
            return _when(f.times[key])
        return f.values.get(key)
    return get


def _proceeded_at(f: TrackerFacts) -> datetime | None:
    return next((e.at for e in f.events if e.kind == "proceeded"
                 and e.record_id == f.tracker.id), None)


def _count(timing: str) -> Callable[[TrackerFacts], int]:
    return lambda f: f.timings()[timing]


TrackerColumn = tuple[str, Callable[[TrackerFacts], Any]]
StepColumn = tuple[str, Callable[[StepFacts], Any]]


def tracker_columns(trackers: Sequence[TrackerFacts]) -> list[TrackerColumn]:
    """trackers.csv's columns: (name, how a tracker's value is read)."""
    columns: list[TrackerColumn] = [
        ("reference", lambda f: f.tracker.reference),
        ("record_id", lambda f: f.tracker.id),
        ("template", lambda f: f.tracker.template),
        ("title", lambda f: f.tracker.title),
        ("person_ref", lambda f: f.tracker.person_ref),
        ("owner", lambda f: f.tracker.owner_id),
        ("channel", lambda f: f.tracker.channel_id),
        ("created_by", lambda f: f.tracker.created_by),
        ("started_at", lambda f: f.tracker.created_at),
        ("anchor_at", lambda f: f.tracker.anchor_at),
        ("deadline", lambda f: f.tracker.due_at),
        ("status", lambda f: f.tracker.status),
        ("proceeded_at", _proceeded_at),
        ("closed_at", lambda f: f.tracker.closed_at),
        ("decision", lambda f: f.tracker.decision),
        ("decision_label", lambda f: f.decision_label),
        ("decision_text", lambda f: f.decision_text),
        ("summary", lambda f: f.summary),
        ("cancel_reason", lambda f: f.tracker.cancel_reason),
        ("period_days", lambda f: (f.tracker.details or {}).get("period_days")),
        ("steps", lambda f: len(f.steps)),
        ("steps_on_time", _count(Timing.ON_TIME.value)),
        ("steps_late", _count(Timing.LATE.value)),
        ("steps_not_done", _count(Timing.NOT_DONE.value)),
        ("steps_refused", _count(Timing.REFUSED.value)),
        ("steps_not_applicable", _count(Timing.NOT_APPLICABLE.value)),
        ("steps_not_due_yet", _count(PENDING)),
        ("contact_attempts", lambda f: len(f.contacts)),
    ]
    return columns + [(field_column(k), _field_getter(k)) for k in field_keys(trackers)]


def trackers_table(trackers: Sequence[TrackerFacts]) -> Table:
    return columns_table(trackers, tracker_columns(trackers))


def _text_if(status: StepStatus) -> Callable[[StepFacts], str | None]:
    return lambda s: s.step.outcome if s.step.status == status else None


def _impact(s: StepFacts) -> str | None:
    impact = (s.step.details or {}).get("impact")
    return json.dumps(impact, ensure_ascii=False, sort_keys=True) if impact else None


def step_columns(trackers: Sequence[TrackerFacts],
                 agencies: Mapping[str, str] | None = None) -> list[StepColumn]:
    """steps.csv's columns: (name, how a step's value is read)."""
    refs = {f.tracker.id: f.tracker.reference for f in trackers}
    extra = dict(agencies or {})
    return [
        ("tracker_ref", lambda s: refs.get(s.step.parent_id or 0, "")),
        ("step_ref", lambda s: s.step.reference),
        ("record_id", lambda s: s.step.id),
        ("template", lambda s: s.step.template),
        ("step_key", lambda s: s.step.step_key),
        ("step", lambda s: s.step.title),
        ("group", lambda s: s.step.step_group),
        ("agency", lambda s: s.step.agency),
        ("agency_label", lambda s: agency_label(s.step.agency or "", extra)),
        ("owner", lambda s: s.step.owner_id),
        ("gate", lambda s: "yes" if s.step.gate else "no"),
        ("due_at", lambda s: s.step.due_at),
        # Done, not applicable or refused, when; a step its tracker's end left outstanding
        # was never settled.
        ("settled_at", lambda s: s.step.closed_at if s.step.status in SETTLED else None),
        ("status", lambda s: s.step.status),
        ("timing", lambda s: s.timing),
        ("blocked_reason", lambda s: s.blocked_reason),
        ("na_reason", _text_if(StepStatus.NOT_APPLICABLE)),
        ("refusal_managed", _text_if(StepStatus.REFUSED)),
        ("note", _text_if(StepStatus.DONE)),
        ("decision", lambda s: s.step.decision),
        ("decision_label", lambda s: decision_label(s.step.decision) if s.step.decision
         else None),
        ("impact_statement", _impact),
        ("escalation_tier", lambda s: s.step.escalation_tier),
        ("pages_sent", lambda s: s.pages),
    ]


def steps_table(trackers: Sequence[TrackerFacts],
                agencies: Mapping[str, str] | None = None) -> Table:
    return columns_table([s for f in trackers for s in f.steps],
                         step_columns(trackers, agencies))


def contacts_table(trackers: Sequence[TrackerFacts]) -> Table:
    rows: list[tuple[str, ContactAttempt]] = [(f.tracker.reference, c) for f in trackers
                                              for c in f.contacts]
    columns: list[tuple[str, Callable[[tuple[str, ContactAttempt]], Any]]] = [
        ("tracker_ref", lambda r: r[0]),
        ("record_id", lambda r: r[1].record_id),
        ("at", lambda r: r[1].at),
        ("actor", lambda r: r[1].actor),
        ("outcome", lambda r: r[1].outcome),
        ("note", lambda r: r[1].note),
    ]
    return columns_table(rows, columns)

