"""The "Open the form" button's value: what was typed, within Slack's 2,000 characters."""

from __future__ import annotations

import json

import pytest

from bot.domain.records import DomainError, RecordKind
from handlers.commands import draft_value, read_draft


def test_a_draft_round_trips_through_the_button_value():
    fields = {"person": "P-1042", "to": "Northside Home Care", "note": "call \"after\" 2pm"}
    value, cut = draft_value(RecordKind.HANDOFF, "C0CARE01", fields)
    assert cut == []
    assert read_draft(value) == (RecordKind.HANDOFF, "C0CARE01", fields)


def test_a_draft_too_long_for_a_button_shortens_its_longest_field_and_says_so():
    fields = {"person": "P-1042", "to": "Northside Home Care", "note": "é\"" * 1500,
              "route": "x" * 900}
    value, cut = draft_value(RecordKind.HANDOFF, "C0CARE01", fields)
    assert len(value) <= 2000
    assert cut[0] == "note"
    kind, channel, kept = read_draft(value)
    assert (kind, channel) == (RecordKind.HANDOFF, "C0CARE01")
    assert kept["person"] == "P-1042" and kept["to"] == "Northside Home Care"
    for name in cut:
        assert kept[name].endswith("…") or kept[name] == ""
        assert fields[name].startswith(kept[name].removesuffix("…"))


@pytest.mark.parametrize("value", [
    "", "0", "[]", json.dumps({"k": "handoff", "c": "not a channel", "f": {}}),
    json.dumps({"k": "handoff", "c": "C0CARE01", "f": {"password": "x"}}),
    json.dumps({"k": "handoff", "c": "C0CARE01", "f": {"person": 5}}),
    json.dumps({"k": "memo", "c": "C0CARE01", "f": {}}),
])
def test_a_button_that_lost_its_draft_says_so(value):
    with pytest.raises(DomainError, match="lost what you typed"):
        read_draft(value)
