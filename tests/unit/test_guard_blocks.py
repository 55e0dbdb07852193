"""The warning before posting, as Block Kit (bot/slack/blocks/guard.py): valid as Slack
checks it however much was found, and a form shown twice carries one warning."""

from __future__ import annotations

from bot.console.emulator.blockkit import block_kit_problem
from bot.domain.records import RecordKind
from bot.services.guard import DUPLICATE, NAMES, Findings, OpenRecord
from bot.slack.blocks import records as blocks
from bot.slack.blocks.guard import confirmed_in_form, form_with_warning, warning_blocks
from bot.slack.ids import ActionId, GuardBlock

OPEN = OpenRecord("H-3", "handoff", "Northside Home Care", "P-1042", "C0CARE0001", None, None)


def test_warning_blocks_are_valid_and_say_what_was_found() -> None:
    many = Findings({"note": [f"Person{i} Name{i} *<&>*" for i in range(400)],
                     "contact": ["Jane Smith"]}, OPEN)
    out = warning_blocks(many, value="{}", link=None)
    assert block_kit_problem(out) is None
    text = out[0]["text"]["text"]
    assert "H-3 in <#C0CARE0001>" in text and "and 392 more" in text
    assert "“Jane Smith”" in text and "&lt;&amp;&gt;" in text
    labels = [b["text"]["text"] for b in out[1]["elements"]]
    assert labels == ["Edit", "Post anyway", "Cancel"]
    only_duplicate = warning_blocks(Findings({}, OPEN), value="{}", link="https://x/p1")
    assert "<https://x/p1|H-3>" in only_duplicate[0]["text"]["text"]
    assert [b["text"]["text"] for b in only_duplicate[1]["elements"]] == [
        "Edit", "Log anyway", "Cancel"]
    too_long = warning_blocks(many, value=None, link=None)
    assert [b["action_id"] for b in too_long[1]["elements"]] == [ActionId.GUARD_CANCEL]


def test_a_form_shown_again_keeps_its_answers_and_one_warning() -> None:
    view = blocks.create_modal(RecordKind.HANDOFF, {}, owner="U0ALICE", manager=None,
                               risk=None, channel_id="C0CARE0001", missing=[]).to_dict()
    values = {"person": "P-1", "to": "Northside", "note": "son Kevin has the key",
              "owner": "U0BOB"}
    found = Findings({"note": ["Kevin"]}, OPEN)
    once = form_with_warning(view, values, found)
    twice = form_with_warning(once, values, found)
    assert block_kit_problem(twice["blocks"]) is None
    ids = [b.get("block_id") for b in twice["blocks"]]
    assert ids.count(GuardBlock.CONFIRM) == 1 and ids.count(GuardBlock.WARNING) == 1
    inputs = {b["block_id"]: b["element"] for b in twice["blocks"] if b["type"] == "input"}
    assert inputs["note"]["initial_value"] == "son Kevin has the key"
    assert inputs["owner"]["initial_user"] == "U0BOB"
    option = inputs[GuardBlock.CONFIRM]["options"][0]
    assert {NAMES, DUPLICATE} < set(option["value"].split())
    ticked = dict(values, **{GuardBlock.CONFIRM: option["value"]})
    assert confirmed_in_form(ticked) == [DUPLICATE, NAMES]
    # Changed after the warning, the tick confirms nothing: the new text is checked again.
    assert confirmed_in_form(dict(ticked, note="son Kevin Walsh has the key")) == []
    assert confirmed_in_form({GuardBlock.CONFIRM: "everything"}) == []
