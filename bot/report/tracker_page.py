"""report.html's pathway tracker part: the trackers' figures (per template counts, the
discharge sprint's "steps that most often fail", the provisional package conversion rate),
each tracker with its steps (and, for a health change or a service change, the seed's
required fields as recorded), and the map of which CSV column answers each seed field.
Every value escaped; people appear only as codes and Slack IDs, as elsewhere in the report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.trackers import StepStatus, agency_label
from bot.report.field_map import FIELD_LISTS, HEALTH_CHANGE, SERVICE_CHANGE, FieldList
from bot.report.formatting import esc, local_text, text_html, when_html
from bot.report.tracker_tables import step_columns, tracker_columns
from bot.report.trackers import (
    PROVISIONAL_TEMPLATE,
    TIMING_LABELS,
    TrackerFacts,
    conversion,
    failing_steps,
    template_counts,
    tracker_figures,
)

MAP_TITLE = "Where the seeds' fields are answered"
SEED_FIELDS = {fl.template: fl for fl in (HEALTH_CHANGE, SERVICE_CHANGE)}


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], cls: str = "trail") -> str:
    th = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _value_html(value: Any, tz: ZoneInfo) -> str:
    if isinstance(value, datetime):
        return when_html(value, tz)
    return text_html(value, missing="not recorded")


def _word(column: str, value: Any) -> Any:
    """A step's status and timing in words, as the steps table says them."""
    if column == "timing":
        return TIMING_LABELS.get(value, value)
    if column == "status" and value in tuple(StepStatus):
        return StepStatus(value).label
    return value


def _figures_html(trackers: Sequence[TrackerFacts], now: datetime) -> str:
    cells = "".join(f'<div class="figure"><div class="label">{esc(label)}</div>'
                    f'<div class="value">{esc(value)}</div></div>'
                    for label, value in tracker_figures(trackers, now=now))
    return f'<div class="figures" data-figures="trackers">{cells}</div>'


def _templates_html(trackers: Sequence[TrackerFacts]) -> str:
    rows = [[esc(c.template), str(c.started), str(c.open), str(c.closed), str(c.cancelled),
             esc(c.on_time_text), str(c.refused)] for c in template_counts(trackers)]
    return ("<h3>By template</h3>" + _table(
        ("Template", "Started", "Open", "Closed or proceeded", "Cancelled",
         "Steps done on time", "Refused by the person"), rows))


def _failing_html(trackers: Sequence[TrackerFacts]) -> str:
    failing = failing_steps(trackers)
    head = "<h3>Post-discharge sprint: steps that most often fail</h3>"
    if not failing:
        return head + '<p class="none">No post-discharge sprint closed in this period.</p>'
    rows = [[str(n), esc(r.name), esc(r.key), str(r.sprints), str(r.late), str(r.not_done),
             str(r.blocked), esc(r.rate_text)] for n, r in enumerate(failing, 1)]
    return (head + '<p class="scope">Across the sprints that closed (their 72 hours ended): '
            "a step fails when it was done late, not done by its due time, or blocked at "
            "some point.</p>" + _table(("Rank", "Step", "Key", "Sprints", "Late", "Not done",
                                        "Blocked", "Failed"), rows))


def _conversion_html(trackers: Sequence[TrackerFacts], now: datetime) -> str:
    c = conversion(trackers, now=now)
    if not any(f.tracker.template == PROVISIONAL_TEMPLATE for f in trackers):
        return ""
    rows = [["Moved to a funded program (of all decided)", esc(c.rate_text)],
            ["Escalated again with evidence", str(c.escalated)],
            ["Undecided past the hard deadline", str(c.undecided_overdue)],
            ["Undecided, deadline still ahead", str(c.undecided)]]
    return ('<h3>Provisional packages: conversion to funded</h3>'
            + _table(("Figure", "Value"), rows, cls="fields"))


def _steps_html(f: TrackerFacts, columns: Mapping[str, Any], tz: ZoneInfo,
                agencies: Mapping[str, str]) -> str:
    rows = []
    for s in f.steps:
        st = s.step
        text = (s.blocked_reason if st.status == StepStatus.BLOCKED else st.outcome) or ""
        if s.blocked_reason and st.status != StepStatus.BLOCKED:
            text = f"{text} (blocked earlier: {s.blocked_reason})".strip()
        rows.append([esc(st.reference), esc(st.title), text_html(st.step_group, missing=""),
                     esc(agency_label(st.agency or "", dict(agencies))), esc(st.owner_id),
                     "gate" if st.gate else "", when_html(st.due_at, tz),
                     when_html(st.closed_at if st.status not in (StepStatus.OPEN,
                                                                 StepStatus.BLOCKED)
                               else None, tz, missing="—"),
                     esc(StepStatus(st.status).label if st.status in tuple(StepStatus)
                         else st.status),
                     esc(TIMING_LABELS.get(s.timing, s.timing)), text_html(text, missing="")])
    return _table(("Step", "Name", "Group", "Owner agency", "Owner", "Gate", "Due",
                   "Settled", "Status", "On time?", "Reason, refusal, note"), rows)


def _seed_fields_html(f: TrackerFacts, fl: FieldList, tracker_cols: Mapping[str, Any],
                      step_cols: Mapping[str, Any], tz: ZoneInfo) -> str:
    """The seed's required fields for this tracker, read through the field map: the same
    columns the CSV files hold."""
    steps = {s.step.step_key: s for s in f.steps}
    rows = []
    for a in fl.answers:
        if a.step:
            step = steps.get(a.step)
            values = ([step_cols[c](step) for c in a.columns] if step is not None
                      else ["no such step (not applicable to this change)"])
        else:
            values = [tracker_cols[c](f) for c in a.columns]
        shown = " · ".join(_value_html(_word(c, v), tz)
                           for c, v in zip(a.columns, values, strict=False))
        rows.append([esc(a.field), shown, esc(a.where())])
    return (f"<h4>{esc(fl.title)} (seed {esc(fl.seed)})</h4>"
            + _table(("Field", "Recorded", "CSV"), rows))


def _tracker_html(f: TrackerFacts, tracker_cols: Mapping[str, Any],
                  step_cols: Mapping[str, Any], tz: ZoneInfo,
                  agencies: Mapping[str, str]) -> str:
    t = f.tracker
    fields = [
        ("Person reference", text_html(t.person_ref)),
        ("Template", text_html(t.template)),
        ("Owner (named coordinator)", text_html(t.owner_id)),
        ("Channel", text_html(t.channel_id)),
        ("Started", f"{when_html(t.created_at, tz)} by {text_html(t.created_by)}"),
        ("Anchor", when_html(t.anchor_at, tz)),
        ("Deadline", when_html(t.due_at, tz)),
        ("Status", text_html(t.status)),
        ("Audit events", f"{len(f.events)}, the tracker's and its steps' (in "
                         "audit_events.csv)"),
    ]
    if t.decision or t.template == PROVISIONAL_TEMPLATE:
        fields.append(("Decision", text_html(" — ".join(
            x for x in (f.decision_label, f.decision_text or "") if x), missing="none yet")))
    if f.summary:
        fields.append(("Sprint summary", text_html(f.summary)))
    if f.contacts or t.template == PROVISIONAL_TEMPLATE:
        fields.append(("Contact attempts", text_html("; ".join(
            f"{local_text(c.at, tz)} {c.outcome} by {c.actor}" + (f": {c.note}" if c.note
                                                                  else "")
            for c in f.contacts), missing="none")))
    rows = "".join(f"<tr><th>{esc(label)}</th><td>{value}</td></tr>" for label, value in fields)
    seed = SEED_FIELDS.get(t.template or "")
    return (f'<section class="record" id="{esc(t.reference)}">'
            f"<h3>{esc(t.reference)} · {esc(t.title)} · {esc(t.person_ref)}</h3>"
            f'<table class="fields">{rows}</table>'
            + (_seed_fields_html(f, seed, tracker_cols, step_cols, tz) if seed else "")
            + f"<h4>Steps ({len(f.steps)})</h4>" + _steps_html(f, step_cols, tz, agencies)
            + "</section>")


def field_map_html() -> str:
    parts = [f"<h2>{esc(MAP_TITLE)}</h2>"]
    for fl in FIELD_LISTS:
        rows = [[esc(a.field), esc(a.file), esc(a.step or "—"), esc(", ".join(a.columns))]
                for a in fl.answers]
        parts.append(f"<h3>{esc(fl.title)} (seed {esc(fl.seed)}; template "
                     f"{esc(fl.template)})</h3>"
                     + _table(("Field", "File", "Step key", "Columns"), rows))
    return "".join(parts)


def trackers_html(trackers: Sequence[TrackerFacts], *, now: datetime, tz: ZoneInfo,
                  agencies: Mapping[str, str] | None = None) -> str:
    if not trackers:
        return ('<h2>Pathway trackers</h2><p class="none">No tracker was started in this '
                "period.</p>" + field_map_html())
    extra = dict(agencies or {})
    tracker_cols = dict(tracker_columns(trackers))
    step_cols = dict(step_columns(trackers, extra))
    sections = "".join(_tracker_html(f, tracker_cols, step_cols, tz, extra) for f in trackers)
    return (f"<h2>Pathway trackers ({len(trackers)})</h2>"
            + _figures_html(trackers, now) + _templates_html(trackers)
            + _failing_html(trackers) + _conversion_html(trackers, now)
            + sections + field_map_html())
