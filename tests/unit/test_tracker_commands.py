"""The grammar of the tracker sub-commands (bot/domain/tracker_commands.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.records import DomainError
from bot.domain.tracker_commands import (
    StepCommand,
    field_value,
    is_tracker_ref,
    missing_for_start,
    read_contact_command,
    read_period,
    read_set_command,
    read_start,
    read_step_command,
    start_fields,
)
from bot.domain.tracker_config import default_templates
from bot.domain.trackers import StepStatus

TEMPLATES = default_templates().templates


def refused(fn, *args) -> DomainError:  # type: ignore[no-untyped-def]
    with pytest.raises(DomainError) as caught:
        fn(*args)
    return caught.value


def test_a_step_is_named_by_words_up_to_the_status_or_by_its_reference():
    assert read_step_command("t-12 medication list done given at 9") == StepCommand(
        "T-12", "medication list", StepStatus.DONE, "given at 9")
    assert read_step_command("T-12.3 refused declined; family informed") == StepCommand(
        "T-12.3", "", StepStatus.REFUSED, "declined; family informed")
    assert read_step_command("T-12 3 na not needed").step == "3"
    assert refused(read_step_command, "T-12 done").field == "step"
    assert refused(read_step_command, "T-12 meds finished").field == "status"
    assert "not a tracker reference" in str(refused(read_step_command, "H-3 x done"))
    assert is_tracker_ref("T-12.3") and is_tracker_ref("t-4") and not is_tracker_ref("H-3")


def test_start_reads_the_template_keys_and_says_what_is_missing():
    assert read_start("discharge person: P-1 at: now") == ("discharge", "person: P-1 at: now")
    assert refused(read_start, "person: P-1").field == "template"
    hc = TEMPLATES["health-change"]
    fields = start_fields("person: P-1 at: now source: GP letter review: friday", hc)
    assert fields["source"] == "GP letter" and fields["review"] == "friday"
    assert missing_for_start(fields, hc) == ["impact", "instructions", "family", "threshold"]
    assert "did you mean `person:`" in str(refused(start_fields, "persn: P-1", hc))


def test_choice_yes_no_and_period_values():
    sc = TEMPLATES["service-change"]
    assert field_value(sc.field("trigger"), "Mobility") == "mobility"  # type: ignore[arg-type]
    assert field_value(sc.field("funding"), "Y") == "yes"  # type: ignore[arg-type]
    assert refused(field_value, sc.field("funding"), "maybe").field == "funding"
    assert refused(field_value, sc.field("trigger"), "weather").field == "trigger"
    trigger = sc.field("trigger")
    # A word only one choice has, or the choice with hyphens: the choice as spelled.
    for typed in ("staffing", "Staffing-Intensity", "behavior"):
        assert field_value(trigger, typed) in ("staffing intensity",  # type: ignore[arg-type]
                                               "behavioral support")
    # A word two choices share is refused; a typo is told the nearest choice.
    assert "Did you mean" not in str(refused(field_value, trigger, "support"))
    assert "Did you mean “staffing intensity”?" in str(refused(field_value, trigger,
                                                                "staffng"))
    assert read_period("10d") == read_period("10 days") == timedelta(days=10)
    assert read_period("") is None
    assert refused(read_period, "a fortnight").field == "period"


def test_contact_and_set_read_their_arguments():
    assert read_contact_command("T-4 attempted left a voicemail") == (
        "T-4", "attempted", "left a voicemail")
    assert read_set_command("T-4 funding-start: Dec 28 9am") == (
        "T-4", "funding-start", "Dec 28 9am")
    assert refused(read_set_command, "T-4 Dec 28").field == "field"
