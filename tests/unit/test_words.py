"""Messages in people's words (issue 13, item 4), the pure parts: the audit trail's
sentences, counts, channels, the refusals' wording, the forms' choices and the texts that
must agree with the rules they describe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from bot.domain.drafts import SAME_DAY_SAFEGUARD
from bot.domain.grammar import read_user, with_mentions
from bot.domain.permissions import Act, Actor, Role, allowed
from bot.domain.quoting import got
from bot.domain.records import (
    DomainError,
    RecordKind,
    ResponseCategory,
    Risk,
    check_person_ref,
    read_category,
)
from bot.domain.slack_ids import FIELD_ERROR_LIMIT
from bot.domain.words import plural
from bot.services.directory import Person, UserDirectory
from bot.slack import wire
from bot.slack.blocks import pages
from bot.slack.blocks.audit import event_sentence, value_text
from bot.slack.blocks.records import create_modal, response_modal
from bot.slack.blocks.text import channel
from tests.unit.test_directory import FakeLookup, Timer

AT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
OWNER = "U0OWNER01"


def event(kind: str, *, field: str | None = None, before: Any = None, after: Any = None,
          note: str | None = None, actor: str = OWNER) -> Any:
    return SimpleNamespace(at=AT, actor=actor, kind=kind, field=field, before=before,
                           after=after, note=note)


def token(when: datetime) -> str:
    return f"<!date^{int(when.timestamp())}^{{date_short}} {{time}}|"


# --- counts and channels ---

@pytest.mark.parametrize(("n", "said"), [(0, "0 events"), (1, "1 event"), (2, "2 events")])
def test_a_count_agrees_with_its_noun(n: int, said: str) -> None:
    assert plural(n, "event") == said
    assert plural(1, "person", "people") == "1 person"
    assert plural(3, "person", "people") == "3 people"


def test_a_channel_is_shown_as_slack_shows_it_never_as_its_id() -> None:
    assert channel("C0CONSOLE1") == "<#C0CONSOLE1>"
    assert channel("D0DM00001") == "a direct message"
    assert channel("<!here>") == "&lt;!here&gt;"  # not a channel: shown as text
    assert channel(None) == "—"


# --- the audit trail ---

def test_a_change_of_fields_reads_as_a_sentence_field_by_field() -> None:
    due, moved = AT + timedelta(days=1), AT + timedelta(days=2)
    line = event_sentence(event("field_changed", field="risk", before="short-term",
                                after="same-day"))
    assert line.endswith(f"<@{OWNER}> changed risk: Short-term → Same-day")
    line = event_sentence(event("edited", before={"risk": "short-term",
                                                  "due_at": due.isoformat(), "note": "x"},
                                after={"risk": "same-day", "due_at": moved.isoformat(),
                                       "note": "x"}))
    assert (f"risk: Short-term → Same-day; due: {token(due)}" in line
            and f"→ {token(moved)}" in line)
    assert "note" not in line  # unchanged: not told
    # An edit's events (one per field, named as bot/domain/edits.py's audit_field names it).
    line = event_sentence(event("field_changed", field="response_deadline",
                                before=due.isoformat(), after=moved.isoformat()))
    assert line.endswith(f"changed response deadline: {token(due)}2026-12-02 15:00 UTC> → "
                         f"{token(moved)}2026-12-03 15:00 UTC>")


def test_the_next_action_event_is_no_longer_raw_json() -> None:
    """The issue's example: {"owner": null, "action": null, "due": null} → {...}."""
    due = AT + timedelta(hours=3)
    line = event_sentence(event(
        "next_action_assigned", field="next_action",
        before={"owner": None, "action": None, "due": None},
        after={"owner": "U0BOB0001", "action": "call the intake desk", "due": due.isoformat()}))
    assert "{" not in line.replace(token(AT), "").replace(token(due), "")
    assert "null" not in line and "None" not in line
    assert "owner: <@U0BOB0001>" in line and "action: call the intake desk" in line
    assert f"due: {token(due)}" in line


def test_nothing_is_a_dash_and_a_value_set_from_nothing_has_no_arrow() -> None:
    assert value_text("owner", None) == "—" and value_text("note", "") == "—"
    line = event_sentence(event("field_changed", field="manager_id", before=None,
                                after="U0MGR0001"))
    assert line.endswith("changed manager: <@U0MGR0001>")


def test_baton_s_notes_name_channels_and_people_as_mentions_but_no_one_else_s_do() -> None:
    paged = event_sentence(event("paged", field="tier", after=2, actor="baton",
                                 note="Operations Director, in channel C0ESCAL01, late"))
    assert paged.endswith("Baton paged escalation tier 2 _(Operations Director, in "
                          "<#C0ESCAL01>, late)_")
    nudged = event_sentence(event("coordinator_nudged", actor="baton",
                                  note="DM to <@U0COORD01>: page unacknowledged"))
    assert "DM to <@U0COORD01>" in nudged
    rerouted = event_sentence(event("page_undeliverable", actor="baton",
                                    note="Slack answered is_archived for channel C0TIER101 "
                                         "(archived); sent instead in C0COORD01"))
    assert "for <#C0TIER101> (archived); sent instead in <#C0COORD01>" in rerouted
    typed = event_sentence(event("acknowledged", note="<@U0FAKE99> <!channel>"))
    assert "<@U0FAKE99>" not in typed and "&lt;@U0FAKE99&gt;" in typed
    # A refusal's note is Baton's sentence about who may act: its people are mentions.
    refused = event_sentence(event("refused", field="act_on_record",
                                   note="only <@U0ALICE01> (the record's people) can change "
                                        "this record"))
    assert "only <@U0ALICE01> (the record's people)" in refused


def test_a_post_anyway_reads_as_what_was_chosen() -> None:
    line = event_sentence(event("name_warning_overridden", field="contact,note",
                                after={"fields": ["contact", "note"]}))
    assert line.endswith("posted anyway after a likely-name warning (in contact, note)")
    line = event_sentence(event("duplicate_warning_overridden", field="person_ref",
                                after={"open_record": "H-1"}))
    assert line.endswith("logged it anyway beside the open record H-1")


def test_a_response_reads_as_its_label_and_words() -> None:
    line = event_sentence(event("responded", field="response",
                                after={"category": "accept_with_condition",
                                       "text": "start Monday"}))
    assert line.endswith("recorded the partner's response: Accept with a condition: "
                         "“start Monday”")
    assert "accept_with_condition" not in line


# --- refusals ---

def test_an_empty_answer_is_never_quoted_back() -> None:
    assert got("") == "" and got("   ") == ""
    assert got("maybe") == " (got “maybe”)"
    with pytest.raises(DomainError) as nothing:
        read_category("")
    assert "“”" not in str(nothing.value) and "got" not in str(nothing.value)


def test_the_response_form_s_choices_are_what_validation_takes() -> None:
    select = next(b["element"] for b in response_modal(_record()).to_dict()["blocks"]
                  if b.get("block_id") == "category")
    labels = [o["text"]["text"] for o in select["options"]]
    assert labels == ["Accept", "Accept with a condition", "Ask for clarification",
                      "Decline with a reason"]
    for option in select["options"]:  # the value Slack sends back, and the label typed
        assert read_category(option["value"]).label == option["text"]["text"]
        assert read_category(option["text"]["text"]).value == option["value"]
    assert read_category("condition") is ResponseCategory.CONDITION
    # A typed word picks the one option whose label has it, as a person picking would.
    chosen = wire.chosen_option(select, "condition")
    assert chosen is not None and chosen["value"] == "accept_with_condition"
    assert wire.chosen_option(select, "with a") is None  # several: none


def test_a_person_code_with_trailing_punctuation_is_the_code() -> None:
    assert check_person_ref("P-5004,", pattern=r"P-\d+") == "P-5004"
    with pytest.raises(DomainError) as more:
        check_person_ref("P-5004 and P-6", pattern=r"P-\d+")
    assert "has more than the code" in str(more.value)
    assert "name" not in str(more.value)


def test_a_plain_at_name_says_how_to_make_it_a_mention() -> None:
    with pytest.raises(DomainError) as typed:
        read_user("@jo", caller=OWNER, field="coordinator")
    said = str(typed.value)
    assert "“@jo”" in said and "Pick the person from the list Slack shows as you type @" in said
    assert read_user("<@U0BOB0001|bob>,", caller=OWNER, field="owner") == "U0BOB0001"


def test_plain_at_names_become_mentions_when_one_person_goes_by_them() -> None:
    lookup = FakeLookup()
    lookup.members = [Person("U0JO00001", ("jo", "Jo M")), Person("U0SAM0001", ("sam",)),
                      Person("U0SAM0002", ("Sam",))]
    directory = UserDirectory(lookup, default_tz="UTC", timer=Timer())
    assert directory.by_handle("@JO") == "U0JO00001"
    assert directory.by_handle("sam") is None  # two people: no guess
    assert directory.by_handle("nobody") is None
    assert with_mentions("@jo, mon wed", directory.by_handle) == "<@U0JO00001>, mon wed"
    assert with_mentions("<@U0X00001|jo> @sam", directory.by_handle) == "<@U0X00001|jo> @sam"
    assert lookup.asked.count("users.list") == 1  # one users.list, cached


# --- forms ---

def test_the_same_day_safeguard_error_fits_a_form_field_whole() -> None:
    from handlers.views import _field_errors

    shown = _field_errors({"safeguard": SAME_DAY_SAFEGUARD}, {"safeguard"})["safeguard"]
    assert len(shown) <= FIELD_ERROR_LIMIT and shown.endswith("notice.")
    assert "…" not in shown and "`" not in shown


def test_the_safeguard_field_is_required_for_a_same_day_risk() -> None:
    def safeguard(risk: Risk | None) -> dict[str, Any]:
        view = create_modal(RecordKind.DEPENDENCY, {}, owner=None, manager=None, risk=risk,
                            channel_id="C0CARE01", missing=[]).to_dict()
        block: dict[str, Any] = next(b for b in view["blocks"]
                                     if b.get("block_id") == "safeguard")
        return block

    assert safeguard(Risk.SAME_DAY)["optional"] is False
    other = safeguard(None)
    assert other["optional"] is True
    assert "required for a same-day risk" in other["label"]["text"]


# --- texts that describe rules ---

def test_the_ladder_text_names_exactly_the_roles_that_may_change_it() -> None:
    text = pages.LADDER_CHANGE.lower()
    for role in Role:
        may = allowed(Act.CHANGE_LADDER, Actor("U0X", frozenset({role})))
        assert (f"{role.value}s" in text.split(" may ")[0]) is may, role


def test_a_page_after_a_late_acknowledgement_says_when_and_how_late() -> None:
    due = AT
    rec = _record(status="acknowledged", acknowledged_at=due + timedelta(hours=2, minutes=5))
    work = SimpleNamespace(reason="overdue", acked_by=None, acked_at=None, id=1, tier=1)
    said = pages.settled_text(rec, work)
    assert said is not None
    assert said.startswith("Northside Home Care acknowledged <!date^")
    assert said.endswith(", 2h 5m after the response deadline")
    row = pages.page_row(rec, work, due + timedelta(hours=3))
    assert "no partner acknowledgement" not in row
    assert [b.text.text for b in pages.page_buttons(rec, work)] == ["Record interim action",
                                                               "Resolve"]
    assert pages.needing([(work, rec)]) == 0
    assert "needs you any more" in pages.page_text("<@U0BOB0001>", "Service Manager", 1, 0,
                                                   late=False)
    still = _record(status="overdue", acknowledged_at=None)
    assert pages.needing([(work, rec), (work, still)]) == 1
    assert pages.settled_text(still, work) is None
    assert "no partner acknowledgement" in pages.page_row(still, work, due + timedelta(hours=1))


def _record(*, status: str = "pending", acknowledged_at: datetime | None = None) -> Any:
    return SimpleNamespace(
        id=1, reference="H-1", kind="handoff", person_ref="P-1042", status=status,
        partner=SimpleNamespace(display_name="Northside Home Care"), due_at=AT, risk=None,
        owner_id=OWNER, acknowledged_at=acknowledged_at, closed_at=None, missing_action=None,
        interim_action=None, safeguard_until=None, escalation_tier=1, tracked=False)
