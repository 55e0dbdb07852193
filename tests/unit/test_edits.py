"""Editing a record, the pure part: which keys, reading the values as logging does, the
difference from the record, logging's rules on the result, and the form's untouched boxes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from bot.domain.drafts import DraftContext, DraftErrors
from bot.domain.edits import (
    EDITABLE,
    Edits,
    FieldChange,
    audit_field,
    build_edits,
    changed_in_form,
    check_result,
    current_values,
    diff,
    fingerprint,
    form_text,
    pulled_forward_review,
    read_edit,
)
from bot.domain.records import DomainError, RecordKind, Risk
from bot.domain.times import WorkingCalendar

H, D = RecordKind.HANDOFF, RecordKind.DEPENDENCY
NY = ZoneInfo("America/New_York")
NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # Monday 9:00 in New York
CTX = DraftContext(caller="U0ALICE01", now=NOW, tz=NY, calendar=WorkingCalendar(),
                   person_pattern=r"P-\d+")


def test_keys_and_their_aliases_as_logging_reads_them():
    assert read_edit("risk: same-day due: friday 5pm", H, "H-3") == {
        "risk": "same-day", "due": "friday 5pm"}
    # The aliases logging accepts: deadline: for due:, phone: for contact:, lead: for owner:.
    assert read_edit("deadline: friday 5pm phone: 555-0111 lead: me", H, "H-3") == {
        "due": "friday 5pm", "contact": "555-0111", "owner": "me"}
    # A dependency's due: is its next review; interim: its safeguard; ends: its end.
    assert read_edit("due: tomorrow 9am interim: daily calls ends: friday", D, "D-2") == {
        "review": "tomorrow 9am", "safeguard": "daily calls", "until": "friday"}


@pytest.mark.parametrize(("text", "kind", "words"), [
    ("", H, "Say what to change on H-3"),
    ("   ", D, "Say what to change on D-3"),
    ("contcat: 555-0111", H, "did you mean `contact:`?"),
    ("summary: called twice", H, "Keys you can edit on H-3: `contact:`"),
    ("person: P-9", H, "`person:` can't be edited"),
    ("to: Eastside Clinic", H, "receiving service is who the handoff went to"),
    ("partner: County", D, "`partner:` can't be edited"),
    ("action: signed form", D, "`action:` can't be edited"),
    ("note: call first", D, "`note:` is not a key a dependency can edit"),
    ("manager: me", H, "`manager:` is not a key a handoff can edit"),
    ("risk: same-day risk: emerging", H, "`risk` is given twice"),
])
def test_bad_edit_text_is_named(text, kind, words):
    with pytest.raises(DomainError) as err:
        read_edit(text, kind, f"{kind.prefix}-3")
    assert words in str(err.value)


def test_values_are_read_like_logging():
    edits = build_edits({"risk": "same day", "due": "tomorrow 5pm", "owner": "<@U0BOB0001|bob>",
                         "note": "  call   after 2pm "}, H, CTX)
    assert edits.values == {"risk": Risk.SAME_DAY,
                            "due": datetime(2026, 11, 24, 22, 0, tzinfo=UTC),
                            "owner": "U0BOB0001", "note": "call after 2pm"}
    assert edits.free_text() == {"note": "call after 2pm"}


def test_every_bad_value_is_named_at_once():
    with pytest.raises(DraftErrors) as err:
        build_edits({"due": "yesterday", "risk": "high", "owner": "Bob", "route": "x" * 201}, H,
                    CTX)
    errors = err.value.errors
    assert set(errors) == {"due", "risk", "owner", "route"}
    assert "can't be used" in errors["due"] and "passed" in errors["due"]
    assert "same-day, short-term or emerging" in errors["risk"]
    assert "@mention" in errors["owner"]
    assert "201 characters" in errors["route"]


def test_an_empty_value_is_an_error_typed_and_a_clearing_in_the_form():
    with pytest.raises(DraftErrors, match=r"`route` .* has no value"):
        build_edits({"route": ""}, H, CTX)
    assert build_edits({"route": ""}, H, CTX, blank_clears=True).values == {"route": None}
    with pytest.raises(DraftErrors, match="can't be empty"):
        build_edits({"contact": ""}, H, CTX, blank_clears=True)
    with pytest.raises(DraftErrors, match="can't be empty"):
        build_edits({"risk": ""}, D, CTX, blank_clears=True)  # a dependency's risk is required
    assert build_edits({"risk": ""}, H, CTX, blank_clears=True).values == {"risk": None}


def _handoff(**kw):
    base = dict(receiving_contact="intake desk", due_at=datetime(2026, 11, 24, 22, tzinfo=UTC),
                owner_id="U0ALICE01", route=None, risk="short-term", note=None)
    return SimpleNamespace(**{**base, **kw})


def test_diff_is_only_what_changes():
    current = current_values(H, _handoff())
    assert current["risk"] is Risk.SHORT_TERM
    edits = build_edits({"risk": "short-term", "owner": "me", "route": "fax"}, H, CTX)
    assert diff(current, edits) == [FieldChange("route", None, "fax")]
    assert diff(current, build_edits({"risk": "short-term"}, H, CTX)) == []
    moved = diff(current, build_edits({"risk": "same-day", "due": "wednesday 5pm"}, H, CTX))
    assert [(c.key, c.before, c.after) for c in moved] == [
        ("due", datetime(2026, 11, 24, 22, tzinfo=UTC), datetime(2026, 11, 25, 22, tzinfo=UTC)),
        ("risk", Risk.SHORT_TERM, Risk.SAME_DAY)]


def test_logging_rules_apply_to_the_edited_record():
    # A dependency re-rated same-day needs an interim safeguard, as at logging.
    with pytest.raises(DraftErrors, match="required for a same-day risk"):
        check_result(D, {"risk": Risk.SAME_DAY, "safeguard": None})
    check_result(D, {"risk": Risk.SAME_DAY, "safeguard": "daily welfare call"})
    # A safeguard's end without a safeguard.
    with pytest.raises(DraftErrors, match="give `safeguard:` too"):
        check_result(D, {"risk": Risk.EMERGING, "safeguard": None,
                         "until": datetime(2026, 11, 27, tzinfo=UTC)})
    # Handoffs have no safeguard: a same-day handoff is fine.
    check_result(H, {"risk": Risk.SAME_DAY})


def test_audit_fields_name_the_deadline_as_the_report_reads_it():
    assert audit_field(H, "due") == "response_deadline"
    assert audit_field(D, "review") == "next_review_at"
    assert audit_field(H, "contact") == "receiving_contact"
    assert audit_field(D, "safeguard") == "interim_safeguard"


def test_the_form_reads_only_the_boxes_changed():
    record = _handoff(due_at=datetime(2026, 11, 20, 22, tzinfo=UTC))  # already past
    current = current_values(H, record)
    shown = {k: form_text(H, k, current[k], tz=NY) for k in EDITABLE[H]}
    assert shown["due"] == "2026-11-20 17:00" and shown["risk"] == "short-term"
    assert shown["route"] == "" and shown["owner"] == "U0ALICE01"
    opened = {k: fingerprint(v) for k, v in shown.items()}
    submitted = {**shown, "risk": "same-day", "note": "call first"}
    # The past deadline, untouched, is not read (it would be refused); the rest are.
    assert changed_in_form(submitted, opened, H) == {"risk": "same-day", "note": "call first"}
    assert changed_in_form(shown, opened, H) == {}
    # Whitespace alone is no change.
    assert changed_in_form({**shown, "contact": " intake  desk "}, opened, H) == {}


def test_a_form_time_reads_back_to_the_same_moment():
    from bot.domain.times import read_time
    due = datetime(2026, 11, 25, 22, tzinfo=UTC)
    text = form_text(H, "due", due, tz=NY)
    assert read_time(text, now=NOW, tz=NY, calendar=WorkingCalendar()) == due


def test_edits_of_another_kind_are_kept_apart():
    assert Edits(D, {"risk": Risk.EMERGING}).free_text() == {}


def test_a_dependency_re_rated_same_day_is_reviewed_within_two_hours():
    later = NOW + timedelta(hours=8)
    current = {"risk": Risk.SHORT_TERM, "review": later}
    rerate = [FieldChange("risk", Risk.SHORT_TERM, Risk.SAME_DAY)]
    assert pulled_forward_review(D, current, rerate, NOW) == \
        FieldChange("review", later, NOW + timedelta(hours=2))
    # Already sooner, a review being edited too, another rating, or a handoff: left alone.
    soon = {"risk": Risk.SHORT_TERM, "review": NOW + timedelta(hours=1)}
    assert pulled_forward_review(D, soon, rerate, NOW) is None
    both = [*rerate, FieldChange("review", later, later + timedelta(hours=1))]
    assert pulled_forward_review(D, current, both, NOW) is None
    emerging = [FieldChange("risk", Risk.SHORT_TERM, Risk.EMERGING)]
    assert pulled_forward_review(D, current, emerging, NOW) is None
    assert pulled_forward_review(H, current, rerate, NOW) is None
