"""Editing a record, end to end: `/baton edit`, the card's Edit form, the interim-action
form's risk re-rating, and closing an acknowledged handoff; through signed requests, time
moved on the injected clock (never slept)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.slack.ids import ActionId
from store.models import AuditEvent, DueWork, Record
from tests.conftest import ALICE, BOB, CHANNEL, blocks_of
from tests.fakes.ladder import at, serve_with_ladder, two_tier_ladder

HANDOFF = ("person: P-1042 to: Northside Home Care contact: intake desk 555-0100 "
           "due: tomorrow 5pm risk: short-term")
# Alice is in New York; on Monday 2026-11-23 "tomorrow 5pm" is Tuesday 17:00 EST.
DEADLINE = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
CAROL = "U0CAROL01"  # staff; not one of H-1's people


def record(baton, ref: str = "H-1") -> Record:
    kind, number = ("handoff" if ref[0] == "H" else "dependency"), int(ref[2:])
    with baton.sessions() as s:
        return s.scalars(select(Record).where(Record.kind == kind, Record.number == number)).one()


def events(baton, kind: str | None = None) -> list[AuditEvent]:
    with baton.sessions() as s:
        q = select(AuditEvent).order_by(AuditEvent.id)
        if kind:
            q = q.where(AuditEvent.kind == kind)
        return list(s.scalars(q))


def opened_view(baton) -> dict:
    call = baton.slack.calls_to("views.open")[-1]
    view = dict(call.json_param("view"))
    view["id"] = call.response["view"]["id"]
    return view


def inputs(view: dict) -> dict:
    return {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}


def buttons(call) -> list[str]:
    return [e["text"]["text"] for b in blocks_of(call) if b["type"] == "actions"
            for e in b["elements"]]


def card_update(baton, rec: Record):
    return [c for c in baton.slack.calls_to("chat.update") if c.params["ts"] == rec.card_ts][-1]


# --- /baton edit ---

def test_edit_updates_the_card_and_its_thread_and_audits_each_field(baton):
    baton.command("/handoff", HANDOFF)
    before = record(baton)
    baton.command("/baton", "edit H-1 risk: same-day phone: intake desk 555-0111 "
                            "note: call after 2pm")
    rec = record(baton)
    assert (rec.risk, rec.receiving_contact, rec.note) == \
        ("same-day", "intake desk 555-0111", "call after 2pm")
    assert rec.due_at == before.due_at and rec.status == "pending"
    # The card, edited in place.
    flat = str(blocks_of(card_update(baton, rec)))
    assert "Same-day" in flat and "555-0111" in flat and "call after 2pm" in flat
    # One line in its thread: what changed, by whom.
    (line,) = baton.slack.thread(CHANNEL, rec.card_ts)
    assert line["text"].startswith(f"H-1: Edited by <@{ALICE}>:")
    assert "continuity risk Short-term → Same-day" in line["text"]
    assert "receiving contact “intake desk 555-0100” → “intake desk 555-0111”" in line["text"]
    assert "note added" in line["text"]
    # One audit event per field, with before and after.
    changed = [(e.field, e.before, e.after, e.actor) for e in events(baton, "field_changed")]
    assert changed == [
        ("receiving_contact", "intake desk 555-0100", "intake desk 555-0111", ALICE),
        ("risk", "short-term", "same-day", ALICE),
        ("note", None, "call after 2pm", ALICE)]
    reply = baton.last_reply()
    assert reply.startswith(":white_check_mark: H-1: Edited by")
    assert "keeps the escalation ladder it started with" in reply

    # The same again changes nothing, says so, and writes nothing.
    count, version = len(events(baton)), record(baton).version
    updates = len(baton.slack.calls_to("chat.update"))
    baton.command("/baton", "edit H-1 risk: same day note: call after 2pm")
    assert "nothing to change" in baton.last_reply()
    assert len(events(baton)) == count and record(baton).version == version
    assert len(baton.slack.calls_to("chat.update")) == updates


@pytest.mark.parametrize(("text", "words"), [
    ("edit", "Which record?"),
    ("edit H-9 risk: same-day", "No record H-9"),
    ("edit H-1", "Say what to change on H-1"),
    ("edit H-1 contcat: 555-0111", "did you mean `contact:`?"),
    ("edit H-1 summary: called twice", "Keys you can edit on H-1"),
    ("edit H-1 to: Eastside Clinic", "can't be edited"),
    ("edit H-1 due: yesterday 5pm", "past"),
    ("edit H-1 due: someday soon-ish", "`due`"),
    ("edit H-1 risk: high due: friday 5pm", "same-day, short-term or emerging"),
    ("edit H-1 owner: Bob", "@mention"),
])
def test_bad_edits_get_a_specific_reply_and_write_nothing(baton, text, words):
    baton.command("/handoff", HANDOFF)
    count, version = len(events(baton)), record(baton).version
    works = _pending(baton)
    baton.command("/baton", text)
    reply = baton.last_reply()
    assert words in reply, reply
    assert "Edited" not in reply
    assert len(events(baton)) == count and record(baton).version == version
    assert _pending(baton) == works
    assert baton.slack.calls_to("chat.update") == []


def _pending(baton) -> list[tuple[str, datetime]]:
    with baton.sessions() as s:
        return sorted((w.kind, w.due_at) for w in s.scalars(
            select(DueWork).where(DueWork.state == "pending")))


def test_an_edited_deadline_on_a_weekend_day_follows_the_working_day_rule(baton):
    """As at logging: a bare Saturday means the working day before, and the reply says so."""
    baton.command("/handoff", HANDOFF)
    baton.command("/baton", "edit H-1 due: saturday")
    reply = baton.last_reply()
    assert "is not a working day" in reply and "the working day before" in reply, reply
    # Saturday 28 Nov → Friday 27 Nov, 17:00 in Alice's New York (22:00 UTC).
    assert record(baton).due_at == datetime(2026, 11, 27, 22, 0, tzinfo=UTC)


def test_a_closed_record_cannot_be_edited(baton):
    baton.command("/handoff", HANDOFF)
    baton.command("/baton", "respond H-1 accept")
    baton.command("/baton", "close H-1 service started")
    count = len(events(baton))
    baton.command("/baton", "edit H-1 note: late addition")
    assert "H-1 is closed, so it can't be edited" in baton.last_reply()
    assert len(events(baton)) == count and record(baton).note is None
    baton.command("/dependency", "person: P-7 action: signed authorization partner: County "
                                 "risk: emerging")
    baton.command("/baton", "cancel D-1 duplicate")
    baton.command("/baton", "edit D-1 risk: short-term")
    assert "D-1 is cancelled, so it can't be edited" in baton.last_reply()
    assert record(baton, "D-1").risk == "emerging"


def test_a_dependency_rerated_same_day_needs_a_safeguard_as_at_logging(baton):
    baton.command("/dependency", "person: P-7 action: signed authorization partner: County "
                                 "risk: emerging")
    baton.command("/baton", "edit D-1 risk: same-day")
    assert "required for a same-day risk" in baton.last_reply()
    assert record(baton, "D-1").risk == "emerging" and events(baton, "field_changed") == []
    baton.command("/baton", "edit D-1 rating: same-day interim: daily welfare call by the lead")
    rec = record(baton, "D-1")
    assert (rec.risk, rec.interim_safeguard) == ("same-day", "daily welfare call by the lead")
    # Re-rated same-day, it is reviewed within two hours, as one logged same-day is.
    assert [e.field for e in events(baton, "field_changed")] == \
        ["risk", "interim_safeguard", "next_review_at"]
    assert rec.due_at == baton.clock.now() + timedelta(hours=2)
    # The coordinator of the day is told of the re-rating as of a new same-day risk.
    with baton.sessions() as s:
        nudges = list(s.scalars(select(DueWork).where(DueWork.kind == "nudge",
                                                      DueWork.reason == "same_day")))
    assert len(nudges) == 1


# --- permissions ---

ROLES = f"""
channel_post_interval = 0

[roles]
admins = ["{BOB}"]
coordinators = ["{CAROL}"]
"""


@pytest.fixture
def roled(serve_factory, database_url, tmp_path, slack):
    cfg = tmp_path / "baton.toml"
    cfg.write_text(ROLES)
    slack.add_user(CAROL, name="carol", tz="America/New_York")
    return serve_factory(database_url, BATON_CONFIG=str(cfg))


def test_an_edit_by_someone_not_allowed_is_refused_and_audited(roled):
    baton = roled
    baton.command("/handoff", HANDOFF)  # Alice's
    before = record(baton)
    baton.command("/baton", "edit H-1 risk: same-day", user=CAROL)
    assert "Only <@U0ALICE01> (the record's people), a manager or today's coordinator can " \
           "change this record. Nothing was changed." in baton.last_reply()
    (refused,) = events(baton, "refused")
    assert refused.actor == CAROL and refused.field == "act_on_record"
    after = record(baton)
    assert (after.risk, after.version) == (before.risk, before.version)
    assert events(baton, "field_changed") == []
    # The card's Edit button is refused before the form opens.
    baton.click(ActionId.EDIT, str(before.id), user=CAROL)
    assert baton.slack.calls_to("views.open") == []
    assert "Nothing was changed" in baton.last_reply()
    assert len(events(baton, "refused")) == 2


# --- the card's Edit button ---

def test_edit_button_opens_a_prefilled_form_and_saving_applies_it(baton):
    baton.command("/handoff", HANDOFF)
    rec = record(baton)
    assert "Edit" in buttons(baton.slack.calls_to("chat.postMessage")[0])
    baton.click(ActionId.EDIT, str(rec.id), message_ts=rec.card_ts)
    view = opened_view(baton)
    assert view["callback_id"] == "record_edit" and view["title"]["text"] == "Edit H-1"
    boxes = inputs(view)
    assert boxes["contact"]["initial_value"] == "intake desk 555-0100"
    assert boxes["due"]["initial_value"] == "2026-11-24 17:00"  # Alice's zone
    assert boxes["owner"]["initial_user"] == ALICE
    assert boxes["risk"]["initial_option"]["value"] == "short-term"
    assert "initial_value" not in boxes["note"] and "initial_value" not in boxes["route"]
    assert set(boxes) == {"contact", "due", "owner", "route", "risk", "note"}

    answers = {"contact": "intake desk 555-0100", "due": "2026-11-24 17:00", "owner": ALICE,
               "route": "", "risk": "short-term", "note": ""}
    # A bad box: its error shows under it, nothing saved.
    body = baton.submit(view, {**answers, "due": "yesterday"}).json()
    assert body["response_action"] == "errors" and list(body["errors"]) == ["due"]
    assert record(baton).version == rec.version
    # Nothing touched: nothing written, and the editor is told.
    assert baton.submit(view, answers).text == ""
    assert "nothing to change" in baton.last_reply() and events(baton, "field_changed") == []
    # Two boxes changed: those two, and only those, are written.
    resp = baton.submit(view, {**answers, "due": "wednesday 5pm", "owner": BOB})
    assert resp.status_code == 200 and resp.text == ""
    rec = record(baton)
    assert rec.due_at == DEADLINE + timedelta(days=1) and rec.owner_id == BOB
    assert rec.tz == "America/Los_Angeles"  # the reminders' offsets follow the new owner
    changed = [(e.field, e.before, e.after) for e in events(baton, "field_changed")]
    assert changed == [("response_deadline", DEADLINE.isoformat(),
                        (DEADLINE + timedelta(days=1)).isoformat()),
                       ("owner_id", ALICE, BOB)]
    flat = str(blocks_of(card_update(baton, rec)))
    assert f"<@{BOB}>" in flat
    assert "Edited by" in baton.slack.thread(CHANNEL, rec.card_ts)[-1]["text"]
    assert "Reminders and escalation now count from" in baton.last_reply()


def test_the_edit_form_asks_about_a_name_and_saves_only_what_was_confirmed(baton):
    """The Edit form passes the name guard: it comes back with the warning and a tick box
    (its boxes and what they were opened with kept); ticked, only the changed box is
    written, with the choice audited."""
    baton.command("/handoff", HANDOFF)
    rec = record(baton)
    baton.click(ActionId.EDIT, str(rec.id), message_ts=rec.card_ts)
    view = opened_view(baton)
    answers = {"contact": "intake desk 555-0100", "due": "2026-11-24 17:00", "owner": ALICE,
               "route": "", "risk": "short-term", "note": "ask for Mrs Delgado at the desk"}
    body = baton.submit(view, answers).json()
    assert body["response_action"] == "update" and "“Mrs Delgado”" in str(body["view"])
    assert record(baton).version == rec.version  # nothing written before the choice
    shown = dict(body["view"], id=view["id"])
    assert shown["private_metadata"] == view["private_metadata"]
    (tick,) = [b["element"]["options"][0]["value"] for b in shown["blocks"]
               if b.get("block_id") == "guard_confirm"]
    assert baton.submit(shown, {**answers, "guard_confirm": tick}).text == ""
    assert record(baton).note == "ask for Mrs Delgado at the desk"
    assert [(e.kind, e.field) for e in events(baton)
            if e.kind in ("field_changed", "name_warning_overridden")] == \
        [("field_changed", "note"), ("name_warning_overridden", "note")]


# --- closing an acknowledged handoff ---

def test_an_acknowledged_handoff_can_be_closed_with_its_outcome(baton):
    baton.command("/handoff", HANDOFF)
    baton.command("/handoff", HANDOFF.replace("P-1042", "P-2"))
    baton.command("/baton", "close H-1 service started")
    assert "H-1 is pending, so it can't be closed" in baton.last_reply()
    assert "Partner acknowledged" in baton.last_reply()
    baton.command("/baton", "ack H-1")
    rec = record(baton)
    assert buttons(card_update(baton, rec)) == ["Record response", "Close", "Edit", "Cancel"]
    baton.command("/baton", "resolve H-1 partner confirmed by phone; service started Tuesday")
    rec = record(baton)
    assert (rec.status, rec.outcome) == ("closed",
                                         "partner confirmed by phone; service started Tuesday")
    assert rec.closed_at == baton.clock.now()
    (closed,) = events(baton, "closed")
    assert (closed.field, closed.after, closed.actor) == ("outcome", rec.outcome, ALICE)
    moves = [(e.before, e.after) for e in events(baton, "status_changed") if e.record_id == rec.id]
    assert moves == [("pending", "acknowledged"), ("acknowledged", "closed")]
    update = card_update(baton, rec)
    assert buttons(update) == [] and "partner confirmed by phone" in str(blocks_of(update))

    # The Close button on an acknowledged card: the outcome form, then closed.
    baton.click(ActionId.PARTNER_ACK, str(record(baton, "H-2").id))
    baton.click(ActionId.RESOLVE, str(record(baton, "H-2").id))
    view = opened_view(baton)
    assert view["callback_id"] == "record_resolve" and view["title"]["text"] == "Close handoff"
    assert baton.submit(view, {"text": "start confirmed in writing"}).text == ""
    assert record(baton, "H-2").status == "closed"


# --- the deadline's due work, rescheduled ---

LADDER = two_tier_ladder(remind_before=("24h", "2h"), manager="U0MGR0001")


@pytest.fixture
def laddered(serve_factory, database_url, tmp_path, slack):
    return serve_with_ladder(serve_factory, database_url, tmp_path, slack, LADDER,
                             ["U0DIR0001"])


def dms(baton) -> list:
    return [c for c in baton.slack.calls_to("chat.postMessage")
            if str(c.params.get("channel", "")).startswith("D")]


def pages_in(baton, channel: str) -> list:
    return [c for c in baton.slack.calls_to("chat.postMessage")
            if c.params.get("channel") == channel and not c.params.get("thread_ts")
            and "Escalation tier" in c.params.get("text", "")]


def test_moving_the_deadline_moves_its_reminders_and_pages(laddered):
    baton = laddered
    baton.command("/handoff", HANDOFF)
    new = DEADLINE + timedelta(days=2)  # Thursday 17:00 in New York
    baton.command("/baton", "edit H-1 due: thursday 5pm")
    assert record(baton).due_at == new
    with baton.sessions() as s:
        work = list(s.scalars(select(DueWork).order_by(DueWork.id)))
    old = [(w.kind, w.due_at, w.state) for w in work if w.due_at <= DEADLINE]
    assert old and all(state == "cancelled" for _, _, state in old)
    assert sorted((w.due_at, w.kind) for w in work if w.state == "pending") == [
        (new - timedelta(hours=24), "reminder"), (new - timedelta(hours=2), "reminder"),
        (new, "deadline")]

    # Nothing at the old times: no reminder, no overdue, no page.
    at(baton, DEADLINE - timedelta(hours=24))
    at(baton, DEADLINE - timedelta(hours=2))
    at(baton, DEADLINE + timedelta(minutes=1))
    assert dms(baton) == [] and pages_in(baton, CHANNEL) == []
    assert record(baton).status == "pending"
    # At the new ones: the reminders, then overdue and the tier-1 page.
    at(baton, new - timedelta(hours=24))
    assert len(dms(baton)) == 1 and "1d left" in dms(baton)[-1].params["text"]
    at(baton, new - timedelta(hours=2))
    assert len(dms(baton)) == 2
    at(baton, new - timedelta(seconds=1))
    assert pages_in(baton, CHANNEL) == []
    at(baton, new)
    assert record(baton).status == "overdue"
    (page,) = pages_in(baton, CHANNEL)
    assert "tier 1" in page.params["text"]


def test_an_overdue_handoff_keeps_its_missed_deadline(laddered):
    baton = laddered
    baton.command("/handoff", HANDOFF)
    at(baton, DEADLINE)
    assert record(baton).status == "overdue"
    baton.command("/baton", "edit H-1 due: friday 5pm")
    assert "already missed its response deadline" in baton.last_reply()
    assert record(baton).due_at == DEADLINE and events(baton, "field_changed") == []
    # Its other fields can still change.
    baton.command("/baton", "edit H-1 risk: same-day")
    assert record(baton).risk == "same-day"


def test_moving_a_safeguard_end_moves_its_check(laddered):
    baton = laddered
    baton.command("/dependency", "person: P-7 action: signed authorization partner: County "
                                 "risk: short-term safeguard: daily call until: tomorrow 5pm "
                                 "review: friday 5pm")
    baton.command("/baton", "edit D-1 until: wednesday 5pm")
    new = DEADLINE + timedelta(days=1)
    assert record(baton, "D-1").safeguard_until == new
    with baton.sessions() as s:
        checks = [(w.due_at, w.state) for w in s.scalars(
            select(DueWork).where(DueWork.reason == "safeguard").order_by(DueWork.id))]
    assert checks == [(DEADLINE, "cancelled"), (new, "pending")]
    at(baton, DEADLINE)
    assert events(baton, "safeguard_due") == []
    at(baton, new)
    assert len(events(baton, "safeguard_due")) == 1


# --- the interim-action form re-rates the risk ---

def test_the_interim_action_form_re_rates_the_risk(laddered):
    baton = laddered
    baton.command("/handoff", HANDOFF)
    at(baton, DEADLINE)
    rec = record(baton)
    baton.click(ActionId.INTERIM, str(rec.id), user=BOB)
    view = opened_view(baton)
    assert view["callback_id"] == "record_interim"
    risk = inputs(view)["risk"]
    assert risk["type"] == "static_select" and risk["initial_option"]["value"] == "short-term"
    assert baton.submit(view, {"text": "start held; family informed", "risk": "same-day"},
                        user=BOB).text == ""
    rec = record(baton)
    assert rec.risk == "same-day" and rec.interim_action == "start held; family informed"
    (rerated,) = events(baton, "field_changed")
    assert (rerated.field, rerated.before, rerated.after, rerated.actor, rerated.note) == \
        ("risk", "short-term", "same-day", BOB, "re-rated")
    line = baton.slack.thread(CHANNEL, rec.card_ts)[-1]["text"]
    assert "Interim action recorded by" in line and "Short-term → Same-day" in line

    # Left as it was, the risk is not touched.
    baton.click(ActionId.INTERIM, str(rec.id), user=BOB)
    view = opened_view(baton)
    assert inputs(view)["risk"]["initial_option"]["value"] == "same-day"
    assert baton.submit(view, {"text": "partner called back", "risk": "same-day"},
                        user=BOB).text == ""
    assert len(events(baton, "field_changed")) == 1


def test_moving_a_review_already_escalated_starts_its_climb_again(laddered):
    baton = laddered
    review = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)  # Monday 11:00 in New York
    baton.command("/dependency", "person: P-7 action: signed authorization partner: County "
                                 "risk: short-term review: today 11am")
    at(baton, review)
    (page,) = pages_in(baton, CHANNEL)
    assert "tier 1" in page.params["text"] and record(baton, "D-1").escalation_tier == 1
    with baton.sessions() as s:
        climb = [(w.tier, w.due_at) for w in s.scalars(
            select(DueWork).where(DueWork.state == "pending", DueWork.kind == "page"))]
    assert climb == [(2, review + timedelta(hours=4))]
    baton.clock.advance(timedelta(minutes=30))
    baton.command("/baton", "edit D-1 review: tomorrow 11am")
    rec = record(baton, "D-1")
    assert rec.due_at == review + timedelta(days=1) and rec.escalation_tier is None
    with baton.sessions() as s:
        pending = sorted((w.kind, w.tier, w.due_at) for w in s.scalars(
            select(DueWork).where(DueWork.state == "pending", DueWork.kind != "thread_line")))
    # The tier-2 page due at +4h is gone; the new review's deadline (and reminder) wait.
    assert ("page", 2, review + timedelta(hours=4)) not in pending
    assert ("deadline", None, review + timedelta(days=1)) in pending
    at(baton, review + timedelta(hours=5))
    assert len(pages_in(baton, CHANNEL)) == 1
    at(baton, review + timedelta(days=1))
    _first, again = pages_in(baton, CHANNEL)
    assert "tier 1" in again.params["text"]
    # The new page can be acknowledged: it is the climb's latest.
    work_id = next(int(b["block_id"].split(":")[1]) for b in blocks_of(again)
                   if b["type"] == "actions" and b.get("block_id", "").startswith("page:"))
    baton.click(ActionId.PAGE_ACK, str(work_id), user=BOB, message_ts=again.response["ts"])
    assert [e.actor for e in events(baton, "page_acknowledged")] == [BOB]


def test_the_interim_form_wont_rate_a_dependency_same_day_without_a_safeguard(laddered):
    baton = laddered
    baton.command("/dependency", "person: P-7 action: signed authorization partner: County "
                                 "risk: short-term review: today 11am")
    at(baton, datetime(2026, 11, 23, 16, 0, tzinfo=UTC))
    baton.click(ActionId.INTERIM, str(record(baton, "D-1").id), user=BOB)
    view = opened_view(baton)
    body = baton.submit(view, {"text": "chased county", "risk": "same-day"}, user=BOB).json()
    assert body["response_action"] == "errors" and "interim safeguard" in body["errors"]["risk"]
    rec = record(baton, "D-1")
    assert (rec.risk, rec.interim_action) == ("short-term", None)


def test_emptying_a_box_in_the_form_removes_the_field_and_its_check(baton):
    baton.command("/dependency", "person: P-7 action: signed authorization partner: County "
                                 "risk: short-term safeguard: daily call until: tomorrow 5pm "
                                 "route: county portal")
    rec = record(baton, "D-1")
    baton.click(ActionId.EDIT, str(rec.id), message_ts=rec.card_ts)
    view = opened_view(baton)
    boxes = inputs(view)
    assert boxes["until"]["initial_value"] == "2026-11-24 17:00"
    assert boxes["safeguard"]["initial_value"] == "daily call"
    assert boxes["review"]["initial_value"] == "2026-11-24 17:00"  # the default review
    answers = {"risk": "short-term", "safeguard": "daily call", "until": "",
               "route": "county portal", "review": "2026-11-24 17:00", "manager": "",
               "owner": ALICE}
    assert baton.submit(view, answers).text == ""
    rec = record(baton, "D-1")
    assert rec.safeguard_until is None and rec.interim_safeguard == "daily call"
    (ev,) = events(baton, "field_changed")
    assert (ev.field, ev.before, ev.after) == ("safeguard_until", DEADLINE.isoformat(), None)
    with baton.sessions() as s:
        checks = [w.state for w in s.scalars(select(DueWork).where(
            DueWork.reason == "safeguard"))]
    assert checks == ["cancelled"]
    assert "No safeguard end is checked any more" in baton.last_reply()
    # A required box emptied is refused under it, nothing saved.
    body = baton.submit(view, {**answers, "until": "", "review": ""}).json()
    assert body["response_action"] == "errors" and "can't be empty" in body["errors"]["review"]


def test_an_edit_s_thread_line_uses_the_card_s_words_for_a_risk_never_rated(baton):
    baton.command("/handoff", "person: P-1042 to: Northside Home Care contact: intake desk "
                              "555-0100 due: tomorrow 5pm")
    baton.command("/baton", "edit H-1 risk: same-day")
    (line,) = baton.slack.thread(CHANNEL, record(baton).card_ts)
    assert "continuity risk not rated → Same-day" in line["text"]
    assert "none" not in line["text"]
