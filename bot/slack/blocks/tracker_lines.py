"""The lines the time engine puts into a tracker card's thread (a step past due, the
decision deadline, a sprint's end), and the one line each person's change adds (change_line).
Pure functions of the records."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.domain.trackers import StepStatus, decision_label
from bot.services.trackers import TrackerChange, TrackerEvent, TrackerHappened, TrackerView
from bot.slack.blocks.text import escape, slack_date, user
from store.models import Record


def step_overdue_line(step: Record) -> str:
    # Its ladder says whom it pages (tier 1 need not be the owner); the page's own line
    # follows in this thread.
    return (f":alarm_clock: {step.reference} *{escape(step.title or '')}* (owner "
            f"<@{step.owner_id}>) is past its due time and still {step.status}.")


def decision_due_line(tracker: Record) -> str:
    return (f"{tracker.reference}'s hard decision deadline has passed with no decision "
            "(moved to a funded program, or escalated again with evidence): paging.")


def sprint_closed_line(summary: str) -> str:
    return f":checkered_flag: The sprint closed: {escape(summary)}."


def change_line(change: TrackerChange) -> str:
    """The one line a person's change adds to the tracker card's thread (and to the reply
    that confirms it); empty when the thread is told nothing (the start: the card is it)."""
    event = change.event
    if event is None:
        return ""
    line = _LINES[event.what](change.view, event)
    return f"{change.view.reference}: {line}" if line else ""


def _by(event: TrackerEvent) -> str:
    return user(event.actor)


def _text(event: TrackerEvent, label: str = "") -> str:
    if not event.text:
        return ""
    return f" — {label}: {escape(event.text)}" if label else f" — {escape(event.text)}"


def _field_text(event: TrackerEvent) -> str:
    """"Funding start date: 2026-12-14T…" as the label and a date every reader sees in their
    own zone."""
    label, _, iso = (event.text or "").rpartition(": ")
    try:
        return f"{escape(label)}: {slack_date(datetime.fromisoformat(iso))}"
    except ValueError:
        return escape(event.text)


def _step(view: TrackerView, e: TrackerEvent) -> str:
    st = e.step
    if st is None:
        return ""
    status = StepStatus(e.status or st.status)
    late = " (late)" if e.late and status is StepStatus.DONE else ""
    what = "reopened" if status is StepStatus.OPEN else f"*{status.label.lower()}*{late}"
    said = _text(e, status.text_label if status.needs_text else "")
    return f"{st.reference} *{escape(st.title)}* {what} by {_by(e)}{said}."


def _started(view: TrackerView, e: TrackerEvent) -> str:
    return ""


def _proceeded(view: TrackerView, e: TrackerEvent) -> str:
    return f":arrow_forward: proceeded ({escape(e.text)}) by {_by(e)}: every gate is closed."


def _contact(view: TrackerView, e: TrackerEvent) -> str:
    what = "reached the person" if e.status == "reached" else "a contact attempt (not reached)"
    return f":telephone_receiver: {what}, logged by {_by(e)}{_text(e)}."


def _decided(view: TrackerView, e: TrackerEvent) -> str:
    late = " (after the hard deadline)" if e.late else ""
    return (f":scales: decided by {_by(e)}{late}: *{escape(decision_label(e.status or ''))}*"
            f"{_text(e)}.")


def _funding_decided(view: TrackerView, e: TrackerEvent) -> str:
    late = " (late)" if e.late else ""
    return (f":scales: the commissioner's decision on the funding start{late}, recorded by "
            f"{_by(e)}: *{escape(decision_label(e.status or ''))}*{_text(e)}.")


def _funding_escalated(view: TrackerView, e: TrackerEvent) -> str:
    return (f":rotating_light: {_field_text(e)}, set by {_by(e)}: it differs "
            "from the move date, so the commissioner escalation is open (write the impact "
            "statement, then the decision).")


def _impact(view: TrackerView, e: TrackerEvent) -> str:
    return f":memo: the impact statement for the commissioner was written by {_by(e)}."


def _field(view: TrackerView, e: TrackerEvent) -> str:
    return f"{_field_text(e)}, set by {_by(e)}."


def _closed(view: TrackerView, e: TrackerEvent) -> str:
    return f":checkered_flag: closed{_text(e)}."


def _cancelled(view: TrackerView, e: TrackerEvent) -> str:
    return f":no_entry_sign: cancelled by {_by(e)}{_text(e, 'reason')}."


_LINES: dict[TrackerHappened, Callable[[TrackerView, TrackerEvent], str]] = {
    TrackerHappened.STARTED: _started,
    TrackerHappened.STEP: _step,
    TrackerHappened.PROCEEDED: _proceeded,
    TrackerHappened.CONTACT: _contact,
    TrackerHappened.DECIDED: _decided,
    TrackerHappened.FUNDING_DECIDED: _funding_decided,
    TrackerHappened.FUNDING_ESCALATED: _funding_escalated,
    TrackerHappened.IMPACT: _impact,
    TrackerHappened.FIELD: _field,
    TrackerHappened.CLOSED: _closed,
    TrackerHappened.CANCELLED: _cancelled,
}
