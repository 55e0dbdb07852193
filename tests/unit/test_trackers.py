"""The pure rules of pathway trackers: steps planned from the anchor (across a daylight-saving
change), gates refusing "proceed", finding a step as typed, a step's status changes, the
sprint's summary, decisions, contact outcomes and a provisional package's period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.records import DomainError
from bot.domain.tracker_config import default_templates
from bot.domain.trackers import (
    DECISION_LABELS,
    FUNDING_DECISIONS,
    StepStatus,
    StepTemplate,
    StepView,
    Template,
    Timing,
    agency_label,
    check_proceed,
    decision_label,
    find_step,
    open_gates,
    period_of,
    plan_steps,
    read_contact,
    read_decision,
    read_step_status,
    step_number,
    step_reference,
    step_transition,
    summarise,
    timing,
    tracker_reference,
    within,
)

NY = ZoneInfo("America/New_York")
# US clocks fall back at 2:00 on Sunday 2026-11-01 (EDT, UTC-4, becomes EST, UTC-5) and
# spring forward at 2:00 on Sunday 2027-03-14.
BEFORE_FALL_BACK = datetime(2026, 10, 31, 14, 0, tzinfo=UTC)  # Sat 10:00 EDT
BEFORE_SPRING = datetime(2027, 3, 13, 15, 0, tzinfo=UTC)  # Sat 10:00 EST
T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def tpl(name: str) -> Template:
    found = default_templates().get(name)
    assert found is not None
    return found


def local(when: datetime) -> tuple[int, int, int]:
    """(day, hour, minute) in New York."""
    at = when.astimezone(NY)
    return at.day, at.hour, at.minute


def planned(name: str, anchor: datetime, **kw) -> dict[str, datetime]:
    return {p.template.key: p.due_at for p in plan_steps(
        tpl(name), anchor=anchor, tz=NY, values=kw.pop("values", {}), times=kw.pop("times", {}))}


# --- planning steps from the anchor ---


def test_the_discharge_sprint_across_the_fall_back_change():
    due = planned("discharge", BEFORE_FALL_BACK)
    # Day 0 in elapsed hours: 8 hours after 10:00 EDT is 18:00 EDT.
    assert due["medication-list"] - BEFORE_FALL_BACK == timedelta(hours=8)
    assert local(due["medication-list"]) == (31, 18, 0)
    # Day 1 in days: the next day at the same hour on the wall clock, 25 hours later.
    assert local(due["first-visit"]) == (1, 10, 0)
    assert due["first-visit"] - BEFORE_FALL_BACK == timedelta(hours=25)
    # Day 2–3 at 72 hours, when the sprint closes (09:00 EST on the wall clock).
    assert due["services-active"] - BEFORE_FALL_BACK == timedelta(hours=72)
    assert due["services-active"] == BEFORE_FALL_BACK + tpl("discharge").closes_after
    assert local(due["services-active"]) == (3, 9, 0)


def test_the_discharge_sprint_across_the_spring_forward_change():
    due = planned("discharge", BEFORE_SPRING)
    assert local(due["first-visit"]) == (14, 10, 0)
    assert due["first-visit"] - BEFORE_SPRING == timedelta(hours=23)
    assert due["plan-understood"] - BEFORE_SPRING == timedelta(hours=72)


def test_the_quality_check_is_24_elapsed_hours_while_day_offsets_keep_the_wall_clock():
    due = planned("health-change", BEFORE_FALL_BACK)
    assert due["quality-check"] - BEFORE_FALL_BACK == timedelta(hours=24)
    assert local(due["quality-check"]) == (1, 9, 0)
    assert local(due["case-manager"]) == (1, 10, 0)  # "1d": the next day at 10:00
    assert due["instructions"] - BEFORE_FALL_BACK == timedelta(hours=4)


def test_an_anchor_in_a_local_zone_counts_hours_as_elapsed_too():
    anchor = BEFORE_FALL_BACK.astimezone(NY)
    due = planned("health-change", anchor)
    assert due["quality-check"].astimezone(UTC) - BEFORE_FALL_BACK == timedelta(hours=24)


def test_transition_gates_fall_before_the_move_in_whole_days():
    move = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)  # Tue 10:00 EST; gates before the change
    due = planned("transition", move)
    assert local(due["move-date"]) == (27, 10, 0)  # 14 days before, 10:00 EDT
    assert move - due["move-date"] == timedelta(days=14, hours=1)
    assert local(due["first-week-notes"]) == (17, 10, 0)


def test_only_if_and_due_field_steps():
    change = T0
    without = planned("service-change", change, values={"funding": "no"})
    assert "notify-commissioner" not in without and "funding-review" not in without
    follow = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
    steps = plan_steps(tpl("service-change"), anchor=change, tz=NY,
                       values={"funding": "Yes"}, times={"follow-up": follow})
    assert [p.template.key for p in steps] == [
        "notify-case-manager", "notify-commissioner", "funding-review", "support-plan",
        "follow-up"]
    assert [p.position for p in steps] == [1, 2, 3, 4, 5]
    assert steps[-1].due_at == follow  # the follow-up date as given
    assert steps[0].gate and steps[1].gate and not steps[2].gate
    # Without the date, the template's 14 days.
    assert planned("service-change", change, values={"funding": "no"})["follow-up"] == \
        change + timedelta(days=14)


def test_a_tracker_holds_at_most_98_steps():
    steps = tuple(StepTemplate(f"s{i}", f"S{i}", "provider", timedelta(0)) for i in range(99))
    t = Template("big", "Big", "start", steps)
    with pytest.raises(DomainError, match="at most 98 steps"):
        plan_steps(t, anchor=T0, tz=NY, values={}, times={})
    assert len(plan_steps(Template("ok", "OK", "start", steps[:98]), anchor=T0, tz=NY,
                          values={}, times={})) == 98


def test_references_and_numbers():
    assert step_number(12, 3) == 1203
    assert step_reference(1203) == "T-12.3"
    assert tracker_reference(12) == "T-12"


# --- proceed and its gates ---


def view(key: str, status: str = "open", gate: bool = True, name: str | None = None,
         due: datetime = T0, done: datetime | None = None) -> StepView:
    return StepView(key, name or key.replace("-", " ").capitalize(), status, gate, due, done)


def transition_views(status: str = "open") -> list[StepView]:
    return [StepView(s.key, s.name, status, s.gate, T0) for s in tpl("transition").steps]


def test_proceed_is_refused_naming_every_open_gate():
    steps = transition_views()
    with pytest.raises(DomainError) as caught:
        check_proceed("T-12", "the move goes ahead", steps)
    said = str(caught.value)
    assert said.startswith("T-12 cannot proceed (the move goes ahead) without: ")
    for s in tpl("transition").steps:
        assert (s.name in said) == s.gate, s.name
    assert said.endswith("8 gates still open.")


def test_proceed_names_a_blocked_gate_and_passes_when_gates_are_done_or_not_applicable():
    steps = [view("move-date", "done"), view("support-plan", "blocked"),
             view("staff-briefings", "open", gate=False)]
    with pytest.raises(DomainError, match=r"without: Support plan \(blocked\)\. 1 gate still "
                                          r"open\.$"):
        check_proceed("T-3", "the move goes ahead", steps)
    assert [g.key for g in open_gates(steps)] == ["support-plan"]
    steps[1] = view("support-plan", "not_applicable")
    check_proceed("T-3", "the move goes ahead", steps)  # an open non-gate does not hold it
    everything = [StepView(s.key, s.name, "done" if i % 2 else "not_applicable", s.gate, T0)
                  for i, s in enumerate(tpl("transition").steps)]
    check_proceed("T-3", "the move goes ahead", everything)


def test_a_refused_gate_and_a_declined_decision_hold_proceed():
    # "Cannot proceed without": a gate the person refused is not in place.
    with pytest.raises(DomainError, match=r"Confirmed move date \(refused by the person\)"):
        check_proceed("T-3", "x", [view("move-date", "refused", name="Confirmed move date")])
    declined = StepView("funding-decision", "Commissioner decision", "done", True, T0,
                        T0, decision="declined")
    with pytest.raises(DomainError, match=r"Commissioner decision \(declined\)"):
        check_proceed("T-3", "x", [declined])
    approved = StepView("funding-decision", "Commissioner decision", "done", True, T0, T0,
                        decision="approved-adjustment")
    check_proceed("T-3", "x", [approved, view("move-date", "not_applicable")])


# --- finding a step as typed ---

STEPS = [StepView(s.key, s.name, "open", s.gate, T0) for s in tpl("transition").steps]


@pytest.mark.parametrize("typed, key", [
    ("staff-briefings", "staff-briefings"),  # its key
    ("Staff briefings", "staff-briefings"),  # its name
    ("STAFF  BRIEFINGS", "staff-briefings"),
    ("3", "medication-transfer"),  # its number
    ("emerg", "emergency-contacts"),  # a unique start of its key
    ("commissioner conf", "funding-confirmed"),  # a unique start of its name
    ("inventory", "inventory"),
])
def test_find_step_by_key_name_number_or_unique_start(typed, key):
    assert find_step("T-12", STEPS, typed).key == key


def test_an_ambiguous_start_lists_the_candidates():
    with pytest.raises(DomainError) as caught:
        find_step("T-12", STEPS, "medication")
    said = str(caught.value)
    assert "T-12 has no step “medication”. “medication” could be `medication-transfer`, " \
           "`medication-storage`." in said
    assert "Did you mean" not in said
    assert caught.value.field == "step"


def test_a_typo_is_answered_with_did_you_mean_and_the_steps():
    with pytest.raises(DomainError) as caught:
        find_step("T-12", STEPS, "staff-breifings")
    said = str(caught.value)
    assert "Did you mean `staff-briefings`?" in said
    assert said.endswith("Its steps: " + ", ".join(s.key for s in STEPS) + ".")


def test_a_number_out_of_range_or_nothing_typed():
    with pytest.raises(DomainError, match="has no step “14”"):
        find_step("T-12", STEPS, "14")
    with pytest.raises(DomainError, match="Name the step of T-12: one of move-date, "):
        find_step("T-12", STEPS, "  ")


# --- a step's status ---


@pytest.mark.parametrize("word, status", [
    ("done", StepStatus.DONE), ("Complete", StepStatus.DONE), ("blocked", StepStatus.BLOCKED),
    ("na", StepStatus.NOT_APPLICABLE), ("n/a", StepStatus.NOT_APPLICABLE),
    ("refused", StepStatus.REFUSED), ("declined", StepStatus.REFUSED),
    ("open", StepStatus.OPEN), ("reopen", StepStatus.OPEN),
])
def test_status_words(word, status):
    assert read_step_status(word) is status


def test_an_unknown_status_word_is_refused_naming_it():
    with pytest.raises(DomainError, match=r"done, blocked, na or refused \(got “finished”\)"):
        read_step_status("finished")


@pytest.mark.parametrize("status, says", [
    (StepStatus.BLOCKED, "T-12.3: blocked needs its text: reason it is blocked."),
    (StepStatus.NOT_APPLICABLE,
     "T-12.3: not applicable needs its text: reason it does not apply."),
    (StepStatus.REFUSED,
     "T-12.3: refused by the person needs its text: how the refusal was managed."),
])
def test_blocked_na_and_refused_need_their_text(status, says):
    for text in (None, "", "   "):
        with pytest.raises(DomainError) as caught:
            step_transition("T-12.3", "open", status, text)
        assert str(caught.value) == says
    assert step_transition("T-12.3", "open", status, "why") == status.value


def test_done_needs_no_text_and_a_blocked_step_may_be_done_unblocked_or_blocked_again():
    assert step_transition("T-1.1", "open", StepStatus.DONE, None) == "done"
    assert step_transition("T-1.1", "blocked", StepStatus.DONE, None) == "done"
    assert step_transition("T-1.1", "blocked", StepStatus.OPEN, None) == "open"
    assert step_transition("T-1.1", "blocked", StepStatus.BLOCKED, "still no key") == "blocked"
    with pytest.raises(DomainError, match=r"T-1\.1 is already open"):
        step_transition("T-1.1", "open", StepStatus.OPEN, None)


@pytest.mark.parametrize("settled", ["done", "not_applicable", "refused"])
def test_a_settled_step_must_be_reopened_first(settled):
    with pytest.raises(DomainError) as caught:
        step_transition("T-1.2", settled, StepStatus.DONE, "again")
    assert "reopen it first (`open`) to change it" in str(caught.value)
    assert str(caught.value).startswith(f"T-1.2 is {StepStatus(settled).label.lower()} already")
    assert step_transition("T-1.2", settled, StepStatus.OPEN, None) == "open"


def test_what_is_settled_and_what_needs_text():
    assert {s for s in StepStatus if s.settled} == {
        StepStatus.DONE, StepStatus.NOT_APPLICABLE, StepStatus.REFUSED}
    assert {s for s in StepStatus if s.needs_text} == {
        StepStatus.BLOCKED, StepStatus.NOT_APPLICABLE, StepStatus.REFUSED}
    assert StepStatus.REFUSED.label == "Refused by the person"


# --- the sprint's summary ---


def test_timing():
    due = T0
    assert timing("done", due, due) is Timing.ON_TIME
    assert timing("done", due, due + timedelta(seconds=1)) is Timing.LATE
    assert timing("refused", due, due) is Timing.REFUSED
    assert timing("not_applicable", due, None) is Timing.NOT_APPLICABLE
    assert timing("open", due, None) is Timing.NOT_DONE
    assert timing("blocked", due, None) is Timing.NOT_DONE


def test_summarise_a_sprint():
    late = T0 + timedelta(hours=2)
    summary = summarise([
        view("a", "done", name="Medication list", done=T0),
        view("b", "done", name="Immediate risks", done=late),
        view("c", "refused", name="First visit and transportation", done=T0),
        view("d", "blocked", name="Equipment and assistive needs"),
        view("e", "open", name="Home environment re-check"),
        view("f", "not_applicable", name="Authorizations", done=T0),
    ])
    assert summary.on_time == ["Medication list"]
    assert summary.late == ["Immediate risks"]
    assert summary.not_done == ["Equipment and assistive needs", "Home environment re-check"]
    assert summary.line() == (
        "on time 1; late 1 (Immediate risks); not done 2 (Equipment and assistive needs, "
        "Home environment re-check); refused by the person 1 (First visit and "
        "transportation); not applicable 1 (Authorizations)")


def test_an_all_on_time_summary_still_says_late_and_not_done():
    assert summarise([view("a", "done", done=T0)]).line() == "on time 1; late 0; not done 0"


# --- decisions, contacts, the period ---


@pytest.mark.parametrize("typed, word", [
    ("approved-adjustment", "approved-adjustment"), ("Approved adjustment", "approved-adjustment"),
    ("approved", "approved-adjustment"), ("DECLINED", "declined"), ("other", "other"),
])
def test_funding_decisions(typed, word):
    assert read_decision(typed, FUNDING_DECISIONS) == word


@pytest.mark.parametrize("typed, word", [
    ("funded", "funded"), ("fund", "funded"), ("Moved to a funded program", "funded"),
    ("escalated", "escalated"), ("Escalated again with evidence", "escalated"),
])
def test_provisional_decisions(typed, word):
    assert read_decision(typed, tpl("provisional").decision_choices) == word


def test_an_unknown_or_ambiguous_decision_is_refused():
    with pytest.raises(DomainError, match=r"one of `approved-adjustment`, `declined`, `other` "
                                          r"\(got “maybe”\)"):
        read_decision("maybe", FUNDING_DECISIONS)
    with pytest.raises(DomainError, match="one of"):
        read_decision("", FUNDING_DECISIONS)
    with pytest.raises(DomainError, match="“f” could be `funded`, `further-review`"):
        read_decision("f", ["funded", "further-review"])
    assert read_decision("funded", ["funded", "funded-later"]) == "funded"  # exact wins


def test_decision_labels():
    assert decision_label("funded") == "Moved to a funded program"
    assert decision_label("escalated") == "Escalated again with evidence"
    assert decision_label("further-review") == "Further review"
    assert set(FUNDING_DECISIONS) <= set(DECISION_LABELS)


def test_contact_outcomes():
    assert read_contact(" Reached ") == "reached"
    assert read_contact("attempted") == "attempted"
    with pytest.raises(DomainError, match=r"`attempted` or `reached` \(got “called”\)"):
        read_contact("called")


def test_a_provisional_period_within_its_bounds():
    p = tpl("provisional")
    assert period_of(p, None) == timedelta(days=14)
    assert period_of(p, timedelta(days=7)) == timedelta(days=7)
    assert period_of(p, timedelta(days=10)) == timedelta(days=10)
    for bad in (timedelta(days=6), timedelta(days=15), timedelta(days=6, hours=23)):
        with pytest.raises(DomainError, match="between 7 and 14 days") as caught:
            period_of(p, bad)
        assert caught.value.field == "period"


def test_a_period_for_a_template_without_one_is_refused():
    assert period_of(tpl("discharge"), None) is None
    with pytest.raises(DomainError, match="has no period"):
        period_of(tpl("discharge"), timedelta(days=10))


def test_agency_labels_and_within():
    assert agency_label("case-management") == "Case management"
    assert agency_label("quality", {"quality": "Quality team"}) == "Quality team"
    assert agency_label("night-team") == "Night team"
    assert within(timedelta(hours=24)) == "24 hours"
    assert within(timedelta(days=2)) == "2 days"
    assert within(timedelta(hours=36)) == "36 hours"
