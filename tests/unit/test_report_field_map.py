"""The report's field map against the built-in templates and the CSV columns: every step it
names is a step of its template, every field column a field of it, every other column one
the tracker CSVs write (tests/e2e/test_report_trackers.py checks the values)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.tracker_config import default_templates
from bot.report.field_map import FIELD_LISTS, field_map_lines
from bot.report.tracker_tables import (
    CONTACTS_CSV,
    FIELD_PREFIX,
    STEPS_CSV,
    TRACKERS_CSV,
    contacts_table,
    steps_table,
    trackers_table,
)
from bot.report.trackers import (
    Conversion,
    StepFacts,
    TrackerFacts,
    conversion,
    failing_steps,
    tracker_figures,
)
from bot.services.trackers import FUNDING_STEP
from store.models import Record

T0 = datetime(2026, 11, 23, 14, tzinfo=UTC)


def _headers() -> dict[str, list[str]]:
    return {TRACKERS_CSV: trackers_table([])[0], STEPS_CSV: steps_table([])[0],
            CONTACTS_CSV: contacts_table([])[0]}


def test_every_mapped_step_and_field_is_in_its_template():
    templates = default_templates()
    for fl in FIELD_LISTS:
        tpl = templates.get(fl.template)
        assert tpl is not None, fl.template
        keys = {s.key for s in tpl.steps} | ({FUNDING_STEP} if tpl.mismatch_field else set())
        for answer in fl.answers:
            if answer.step:
                assert answer.step in keys, (fl.template, answer.field, answer.step)
            for column in answer.columns:
                if column.startswith(FIELD_PREFIX):
                    assert tpl.field(column[len(FIELD_PREFIX):]) is not None, (fl.template,
                                                                              column)


def test_every_mapped_column_is_in_its_csv_header_even_with_no_tracker():
    headers = _headers()
    for fl in FIELD_LISTS:
        for answer in fl.answers:
            assert answer.step == "" or answer.file == STEPS_CSV
            for column in answer.columns:
                assert column in headers[answer.file], (fl.template, answer.field, column)


def test_the_seeds_field_lists_are_all_there_in_their_words():
    by_template = {fl.template: [a.field for a in fl.answers] for fl in FIELD_LISTS}
    assert by_template["health-change"][:9] == [
        "date of health change", "source of information", "immediate support impact",
        "staff instructions", "case manager notification", "family communication status",
        "follow-up responsibility", "review date", "escalation threshold"]
    for words in ("change trigger", "person impact", "provider action",
                  "case manager notification", "funding review status",
                  "updated support plan", "follow-up date"):
        assert words in by_template["service-change"]
    assert len([a for a in FIELD_LISTS[0].answers if a.step]) >= 8  # the eight gates
    lines = field_map_lines()
    assert sum(1 for ln in lines if ln.startswith("  ")) == sum(len(fl.answers)
                                                               for fl in FIELD_LISTS)


def _sprint(n: int, outcomes: dict[str, tuple[str, bool]]) -> TrackerFacts:
    """A closed discharge sprint whose steps ended as given: key -> (timing, blocked)."""
    tracker = Record(id=n, number=n, kind="tracker", template="discharge", status="closed")
    steps = [StepFacts(Record(id=100 * n + i, kind="step", step_key=key, title=key.title()),
                       timing, "reason" if blocked else None, 0)
             for i, (key, (timing, blocked)) in enumerate(outcomes.items(), 1)]
    return TrackerFacts(tracker, steps, [], [])


def test_steps_that_most_often_fail_count_each_sprint_once_and_rank_ties_by_order():
    a = _sprint(1, {"summary": ("on_time", False), "meds": ("late", True),
                    "visit": ("not_done", False), "check": ("refused", False)})
    b = _sprint(2, {"summary": ("on_time", True), "meds": ("not_done", False),
                    "visit": ("on_time", False), "check": ("not_applicable", False)})
    open_one = _sprint(3, {"summary": ("not_done", False)})
    open_one.tracker.status = "open"  # not closed yet: not counted
    ranked = [(r.key, r.failed, r.sprints, r.late, r.not_done, r.blocked)
              for r in failing_steps([a, b, open_one])]
    assert ranked == [("meds", 2, 2, 1, 1, 1), ("summary", 1, 2, 0, 0, 1),
                      ("visit", 1, 2, 0, 1, 0), ("check", 0, 2, 0, 0, 0)]


def test_conversion_counts_decided_packages_and_those_past_the_deadline():
    def package(decision: str | None, due: timedelta, status: str = "open") -> Any:
        return TrackerFacts(Record(template="provisional", decision=decision,
                                   status=status, due_at=T0 + due), [], [], [])
    trackers = [package("funded", timedelta(days=-1), "closed"),
                package("funded", timedelta(days=-2), "closed"),
                package("escalated", timedelta(days=-1), "closed"),
                package(None, timedelta(hours=-1)), package(None, timedelta(hours=1)),
                package(None, timedelta(days=-3), "cancelled")]
    c = conversion(trackers, now=T0)
    assert c == Conversion(funded=2, escalated=1, undecided_overdue=1, undecided=1)
    assert c.rate_text == "67% (2 of 3)"
    assert conversion([], now=T0).rate_text == "n/a (none decided)"


def test_the_sprint_figure_says_when_no_sprint_has_closed_or_none_failed():
    def figure(*sprints: TrackerFacts) -> str:
        return dict(tracker_figures(sprints, now=T0))["Sprint step that most often fails"]

    still_open = _sprint(1, {"summary": ("pending", False)})
    still_open.tracker.status = "open"
    assert figure(still_open) == "n/a (no sprint closed yet)"
    assert figure(_sprint(2, {"summary": ("on_time", False), "check": ("refused", False)})) \
        == "none (no step late, not done or blocked)"
    assert figure(_sprint(3, {"summary": ("on_time", False), "meds": ("late", False)})) \
        == "Meds: 100% (1 of 1)"
    # Several alike: all of them, not the first alone.
    tied = _sprint(4, {"summary": ("late", False), "meds": ("not_done", False),
                       "visit": ("on_time", False)})
    assert figure(tied) == "2 steps tied (Summary, Meds): 100% (1 of 1) each"
    assert tracker_figures([], now=T0) == []
