"""Messages in people's words, end to end (issue 13, item 4): the audit trail as sentences,
a page that says the partner acknowledged late, a climb told once per channel, Baton's own
answer to a command it has not got (or typed in capitals), and "@name" typed as text."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.slack.ids import ActionId
from store.models import Record
from tests.conftest import ALICE, BOB, CHANNEL, blocks_of
from tests.fakes.ladder import at, serve_with_ladder, two_tier_ladder

ESCALATION = "C0ESCAL01"
MANAGER = "U0MGR0001"
DIRECTOR = "U0DIR0001"
LADDER = two_tier_ladder(tier2_channel=ESCALATION, manager=MANAGER)
HANDOFF = ("person: P-1042 to: Northside Home Care contact: intake desk 555-0100 "
           "due: tomorrow 5pm risk: short-term")
# Alice is in New York; on Monday 2026-11-23 "tomorrow 5pm" is Tuesday 17:00 EST.
DEADLINE = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)


@pytest.fixture
def baton(serve_factory, database_url, tmp_path, slack):
    return serve_with_ladder(serve_factory, database_url, tmp_path, slack, LADDER, [DIRECTOR])


def record(baton) -> Record:
    with baton.sessions() as s:
        return s.scalars(select(Record)).one()


def pages_in(baton, channel: str) -> list:
    return [c for c in baton.slack.calls_to("chat.postMessage")
            if c.params.get("channel") == channel and not c.params.get("thread_ts")
            and "Escalation tier" in c.params.get("text", "") and c.response.get("ok")]


def shown(baton) -> str:
    """The last ephemeral answer's blocks, as text."""
    call = baton.slack.calls_to("response_url")[-1]
    return "\n".join(b["text"]["text"] for b in call.params.get("blocks") or []
                     if b.get("type") == "section" and "text" in b)


def test_show_reads_the_audit_trail_as_sentences(baton):
    baton.command("/handoff", HANDOFF)
    baton.command("/baton", "show H-1")
    assert "*Audit trail* (1 event)" in shown(baton)  # not "(1 events)"
    at(baton, DEADLINE)
    baton.command("/baton", "respond H-1 condition start Monday")
    baton.command("/baton", "show H-1")
    trail = shown(baton)
    assert "*Audit trail* (7 events)" in trail
    assert "<@U0ALICE01> logged the record" in trail
    assert "Baton changed status: pending → overdue" in trail
    assert f"Baton paged escalation tier 1 _(Service Manager, in <#{CHANNEL}>" in trail
    assert ("<@U0ALICE01> recorded the partner's response: Accept with a condition: "
            "“start Monday”") in trail
    # Nothing of how it is stored: no JSON, no null, no bare channel ID, no enum value.
    words = re.sub(r"<!date\^[^>]*>", "WHEN", trail)  # Slack's date tokens carry braces
    assert words.count("WHEN ·") == 7
    for raw in ("{", "null", "None", f"channel {CHANNEL}", "accept_with_condition",
                "acknowledged_at"):
        assert raw not in words, raw


def test_a_page_refreshed_after_a_late_acknowledgement_says_so(baton):
    baton.command("/handoff", HANDOFF)
    at(baton, DEADLINE)
    (page,) = pages_in(baton, CHANNEL)
    assert "no partner acknowledgement" in str(blocks_of(page))
    baton.clock.set(DEADLINE + timedelta(hours=2, minutes=5))
    rec = record(baton)
    baton.click(ActionId.PARTNER_ACK, str(rec.id), message_ts=rec.card_ts)
    edits = [c for c in baton.slack.calls_to("chat.update")
             if c.params["ts"] == page.response["ts"]]
    assert edits, "the page was not updated after the partner acknowledged"
    flat = str(blocks_of(edits[-1]))
    assert "Northside Home Care acknowledged" in flat
    assert "2h 5m after the response deadline" in flat
    assert "no partner acknowledgement" not in flat
    buttons = [e["text"]["text"] for b in blocks_of(edits[-1]) if b["type"] == "actions"
               for e in b["elements"]]
    assert "Acknowledge" not in buttons  # nothing left to stop climbing
    assert edits[-1].params["text"] == (":white_check_mark: Escalation tier 1, Service Manager: "
                                        "nothing on this page needs you any more.")
    assert "Acknowledge stops the climb" not in flat


def test_a_climb_is_told_once_in_each_channel_saying_where_it_went(baton):
    baton.command("/handoff", HANDOFF)
    at(baton, DEADLINE)
    (page1,) = pages_in(baton, CHANNEL)
    at(baton, DEADLINE + timedelta(hours=4))
    assert len(pages_in(baton, ESCALATION)) == 1
    lines = [c.params["text"] for c in baton.slack.calls_to("chat.postMessage")
             if c.params.get("thread_ts") and c.params["channel"] == CHANNEL]
    climb = [t for t in lines if "tier 2" in t]
    # Once in the record's channel (the card's thread: the first page is there too),
    # naming the channel the page went to.
    assert climb == [f"H-1: escalation tier 2 (Operations Director) paged in <#{ESCALATION}>."]
    assert baton.slack.thread(CHANNEL, page1.response["ts"]) == []


def test_a_command_in_capitals_works_and_an_unknown_one_gets_baton_s_help(baton, caplog):
    caplog.set_level(logging.WARNING)
    resp = baton.command("/Handoff", HANDOFF)
    assert resp.status_code == 200 and record(baton).reference == "H-1"
    baton.command("/BATON", "list")
    assert "H-1" in str(baton.slack.calls_to("response_url")[-1].params)
    resp = baton.command("/handof", "person: P-1")
    assert resp.status_code == 200  # never Slack's "/handof failed"
    reply = baton.last_reply()
    assert reply.startswith(":warning: Baton has no `/handof` command: its commands are "
                            "`/handoff`, `/dependency` and `/baton`.")
    assert "`/baton help`" in reply  # the help follows
    assert not [r for r in caplog.records if "Unhandled request" in r.getMessage()
                or "@app.command" in r.getMessage()]


def test_an_unknown_button_is_answered_not_a_404(baton):
    resp = baton.click("an_old_button", "1")
    assert resp.status_code == 200
    assert "That button is not one Baton knows" in baton.last_reply()


def test_coordinator_typed_as_an_at_name_is_the_person_so_named(baton):
    baton.command("/baton", "coordinator @bob,", user=MANAGER)
    assert baton.last_reply() == f"<@{BOB}> is coordinator of the day on Mon 23 Nov 2026."
    baton.command("/baton", "coordinator @nobody-here", user=MANAGER)
    reply = baton.last_reply()
    assert "no one in this workspace goes by “@nobody-here”" in reply
    assert "Pick the person from the list Slack shows as you type @" in reply
    baton.command("/handoff", HANDOFF + " owner: @alice")
    assert record(baton).owner_id == ALICE
    # The same in an edit: "@bob" typed is bob; in a note it stays text, never a mention.
    baton.command("/baton", "edit H-1 owner: @bob note: ask @bob at intake")
    assert record(baton).owner_id == BOB
    assert record(baton).note == "ask @bob at intake"


def _opened_view(baton) -> dict:
    call = baton.slack.calls_to("views.open")[-1]
    view = dict(call.json_param("view"))
    view["id"] = call.response["view"]["id"]
    return view


def test_the_response_form_offers_what_it_then_takes(baton):
    baton.command("/handoff", HANDOFF)
    rec = record(baton)
    baton.click(ActionId.RECORD_RESPONSE, str(rec.id), message_ts=rec.card_ts)
    view = _opened_view(baton)
    (select_,) = [b["element"] for b in view["blocks"] if b.get("block_id") == "category"]
    assert [o["text"]["text"] for o in select_["options"]] == [
        "Accept", "Accept with a condition", "Ask for clarification", "Decline with a reason"]
    # Nothing chosen (Slack's client would not send it; a forged one): said plainly.
    body = baton.submit(view, {"text": "start Monday"}).json()
    assert body["response_action"] == "errors"
    said = " ".join(body["errors"].values())
    assert "“”" not in said and "got" not in said
    # The option as Slack sends it back, picked by its words.
    assert baton.submit(view, {"category": "Accept with a condition",
                               "text": "start Monday"}).status_code == 200
    rec = record(baton)
    assert (rec.response_category, rec.response_text) == ("accept_with_condition",
                                                          "start Monday")


def test_the_same_day_safeguard_is_asked_for_whole_in_the_form(baton):
    baton.command("/dependency", "person: P-1042 action: unsigned authorization "
                                 "partner: County Managed Care risk: same-day")
    view = _opened_view(baton)
    (safeguard,) = [b for b in view["blocks"] if b.get("block_id") == "safeguard"]
    assert safeguard["optional"] is False  # Slack marks it required
    answers = {"person": "P-1042", "action": "unsigned authorization",
               "partner": "County Managed Care", "risk": "short-term", "owner": ALICE,
               "safeguard": ""}
    # Left empty (as if the risk were changed to same-day in the form, or the request
    # forged): refused under the field in a whole sentence, nothing saved.
    body = baton.submit(view, {**answers, "risk": "same-day"}).json()
    said = body["errors"]["safeguard"]
    assert said == ("A same-day risk needs an interim safeguard: a temporary hold, "
                    "alternative support, internal review or commissioner notice.")
    with baton.sessions() as s:
        assert s.scalars(select(Record)).all() == []
