"""The time engine end to end: records made through signed requests, time moved on the
injected clock (never slept), and what reaches the Slack emulator."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot.slack.ids import ActionId
from scheduler.engine import Engine, Pacer
from store.db import transaction
from store.models import AuditEvent, DueWork, Record
from tests.conftest import ALICE, BOB, CHANNEL, blocks_of
from tests.fakes.ladder import DIRECTORS, at, serve_with_ladder, two_tier_ladder

ESCALATION = "C0ESCAL01"
MANAGER = "U0MGR0001"
DIRECTOR = "U0DIR0001"

URGENT = """
[ladder.urgent]
remind_before = ["30m"]
ack_timeout = "1h"

[[ladder.urgent.tiers]]
name = "Coordinator of the day"
page = "coordinator"
after = "0m"
"""
LADDER = two_tier_ladder(remind_before=("24h", "2h"), tier2_channel=ESCALATION, manager=MANAGER,
                         more=URGENT)

HANDOFF = ("person: P-1042 to: Northside Home Care contact: intake desk 555-0100 "
           "due: tomorrow 5pm risk: short-term")
# Alice is in New York; on Monday 2026-11-23 "tomorrow 5pm" is Tuesday 17:00 EST.
DEADLINE = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)


@pytest.fixture
def baton(serve_factory, database_url, tmp_path, slack):
    return serve_with_ladder(serve_factory, database_url, tmp_path, slack, LADDER, [DIRECTOR])


def sweep(baton) -> int:
    return baton.runtime.engine.run_due()


def posts(baton, channel: str, *, threads: bool = False) -> list:
    return [c for c in baton.slack.calls_to("chat.postMessage")
            if c.params.get("channel") == channel and bool(c.params.get("thread_ts")) == threads
            and c.response.get("ok")]


def pages_in(baton, channel: str) -> list:
    return [c for c in posts(baton, channel) if "Escalation tier" in c.params.get("text", "")]


def page_work_ids(call) -> list[int]:
    return [int(b["block_id"].split(":")[1]) for b in blocks_of(call)
            if b["type"] == "actions" and b.get("block_id", "").startswith("page:")]


def record(baton, ref: str = "H-1") -> Record:
    kind, number = ("handoff" if ref[0] == "H" else "dependency"), int(ref[2:])
    with baton.sessions() as s:
        return s.scalars(select(Record).where(Record.kind == kind, Record.number == number)).one()


def events(baton, kind: str) -> list[AuditEvent]:
    with baton.sessions() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.kind == kind)
                              .order_by(AuditEvent.id)))


def dms(baton) -> list:
    return [c for c in baton.slack.calls_to("chat.postMessage")
            if str(c.params.get("channel", "")).startswith("D")]


def test_reminders_at_each_offset_by_dm_and_in_the_card_thread(baton):
    baton.command("/handoff", HANDOFF)
    card_ts = record(baton).card_ts
    assert at(baton, DEADLINE - timedelta(hours=24, seconds=1)) == 0
    assert dms(baton) == []
    at(baton, DEADLINE - timedelta(hours=24))
    (dm,) = dms(baton)
    assert baton.slack.calls_to("conversations.open")[-1].params["users"] == ALICE
    assert "H-1" in dm.params["text"] and "Northside Home Care" in dm.params["text"]
    assert "1d left" in dm.params["text"]
    buttons = [e["text"]["text"] for b in blocks_of(dm) if b["type"] == "actions"
               for e in b["elements"]]
    assert buttons == ["Partner acknowledged", "Record response", "Edit", "Cancel"]
    thread = baton.slack.thread(CHANNEL, card_ts)
    assert "Reminder sent to <@U0ALICE01>" in thread[-1]["text"]

    at(baton, DEADLINE - timedelta(hours=2, minutes=1))
    assert len(dms(baton)) == 1
    at(baton, DEADLINE - timedelta(hours=2))
    assert len(dms(baton)) == 2 and "2h left" in dms(baton)[-1].params["text"]
    assert len(events(baton, "reminded")) == 2
    assert sweep(baton) == 0  # each reminder goes out once


def test_overdue_pages_tier_one_then_climbs_to_tier_two_in_its_channel(baton):
    baton.command("/handoff", HANDOFF)
    at(baton, DEADLINE - timedelta(seconds=1))
    assert pages_in(baton, CHANNEL) == []
    at(baton, DEADLINE)
    rec = record(baton)
    assert rec.status == "overdue"
    (ev,) = [e for e in events(baton, "status_changed") if e.after == "overdue"]
    assert ev.actor == "baton" and ev.before == "pending"
    (page,) = pages_in(baton, CHANNEL)
    text = page.params["text"]
    assert text.startswith(f"<@{BOB}>") and "tier 1, Service Manager" in text
    assert "Record the continuity risk and interim action" in text
    flat = str(blocks_of(page))
    assert "H-1" in flat and "P-1042" in flat and "Northside Home Care" in flat
    assert "Short-term" in flat and "overdue *just now*" in flat
    buttons = [e["text"]["text"] for b in blocks_of(page) if b["type"] == "actions"
               for e in b["elements"]]
    assert buttons == ["Acknowledge", "Record interim action", "Resolve"]
    # The card shows the new status.
    assert "Overdue" in str(blocks_of(baton.slack.calls_to("chat.update")[-1]))

    at(baton, DEADLINE + timedelta(hours=3, minutes=59))
    assert pages_in(baton, ESCALATION) == []
    at(baton, DEADLINE + timedelta(hours=4))
    (page2,) = pages_in(baton, ESCALATION)
    assert page2.params["text"].startswith(f"<!subteam^{DIRECTORS}>")
    assert "tier 2, Operations Director" in page2.params["text"]
    assert "overdue by *4h*" in str(blocks_of(page2))
    # The climb is told once in the record's channel: in the card's thread, not again in
    # the first page's (the same channel), saying where the page went.
    first_thread = baton.slack.thread(CHANNEL, page.response["ts"])
    assert not any("tier 2 (Operations Director)" in m["text"] for m in first_thread)
    card_thread = baton.slack.thread(CHANNEL, record(baton).card_ts)
    assert [m["text"] for m in card_thread if "tier 2" in m["text"]] == [
        f"H-1: escalation tier 2 (Operations Director) paged in <#{ESCALATION}>."]
    assert [e.after for e in events(baton, "paged")] == [1, 2]
    # The ladder has no tier 3: no more pages, however long we wait (only the coordinator's
    # nudge, and with no coordinator named it is dropped).
    at(baton, DEADLINE + timedelta(days=3))
    assert len(pages_in(baton, ESCALATION)) == 1 and len(pages_in(baton, CHANNEL)) == 1
    assert [e.after for e in events(baton, "paged")] == [1, 2]
    assert at(baton, DEADLINE + timedelta(days=4)) == 0


def test_acknowledge_stops_the_climb_and_edits_the_page(baton):
    baton.command("/handoff", HANDOFF)
    at(baton, DEADLINE)
    (page,) = pages_in(baton, CHANNEL)
    (work_id,) = page_work_ids(page)
    baton.clock.advance(timedelta(minutes=7))
    baton.click(ActionId.PAGE_ACK, str(work_id), user=BOB, message_ts=page.response["ts"])
    edit = [c for c in baton.slack.calls_to("chat.update")
            if c.params["ts"] == page.response["ts"]][-1]
    flat = str(blocks_of(edit))
    assert f"Acknowledged by <@{BOB}>" in flat and "Acknowledge'" not in flat
    (ev,) = events(baton, "page_acknowledged")
    assert ev.actor == BOB and ev.at == DEADLINE + timedelta(minutes=7)
    at(baton, DEADLINE + timedelta(hours=5))
    assert pages_in(baton, ESCALATION) == []  # tier 2 was due at +4h: stopped


def test_ack_timeout_resumes_the_ladder_when_nothing_follows(baton):
    baton.command("/handoff", HANDOFF)
    at(baton, DEADLINE)
    (work_id,) = page_work_ids(pages_in(baton, CHANNEL)[0])
    baton.click(ActionId.PAGE_ACK, str(work_id), user=BOB)
    at(baton, DEADLINE + timedelta(hours=5, minutes=59))
    assert pages_in(baton, ESCALATION) == []
    at(baton, DEADLINE + timedelta(hours=6))
    (page2,) = pages_in(baton, ESCALATION)
    assert "tier 2" in page2.params["text"]
    (ev,) = events(baton, "escalation_resumed")
    assert ev.after == 2


def test_interim_action_after_acknowledge_keeps_the_ladder_stopped(baton):
    baton.command("/handoff", HANDOFF)
    at(baton, DEADLINE)
    page = pages_in(baton, CHANNEL)[0]
    (work_id,) = page_work_ids(page)
    baton.click(ActionId.PAGE_ACK, str(work_id), user=BOB)
    rec = record(baton)
    baton.clock.advance(timedelta(hours=1))
    baton.click(ActionId.INTERIM, str(rec.id), user=BOB)
    call = baton.slack.calls_to("views.open")[-1]
    view = dict(call.json_param("view"))
    view["id"] = call.response["view"]["id"]
    assert view["callback_id"] == "record_interim"
    assert baton.submit(view, {"text": "called Northside director; start held, family "
                                       "informed"}, user=BOB).text == ""
    assert record(baton).interim_action.startswith("called Northside director")
    at(baton, DEADLINE + timedelta(days=2))
    assert pages_in(baton, ESCALATION) == [] and events(baton, "escalation_resumed") == []


def test_acknowledge_refused_for_someone_else_changes_nothing(baton, slack):
    baton.command("/handoff", HANDOFF)
    at(baton, DEADLINE)
    (work_id,) = page_work_ids(pages_in(baton, CHANNEL)[0])
    baton.click(ActionId.PAGE_ACK, str(work_id), user=ALICE)
    reply = baton.last_reply()
    assert "Only <@U0BOB0001> or a manager can acknowledge tier 1" in reply
    assert events(baton, "page_acknowledged") == []
    with baton.sessions() as s:
        assert s.get(DueWork, work_id).acked_by is None
    # The climb goes on as if nobody had pressed.
    at(baton, DEADLINE + timedelta(hours=4))
    (page2,) = pages_in(baton, ESCALATION)
    # Tier 2 is a user group: a member may acknowledge, an outsider may not; so may a manager.
    (w2,) = page_work_ids(page2)
    baton.click(ActionId.PAGE_ACK, str(w2), user=BOB)
    assert "Only <!subteam^S0DIRECT1> or a manager" in baton.last_reply()
    baton.click(ActionId.PAGE_ACK, str(w2), user=DIRECTOR)
    assert [e.actor for e in events(baton, "page_acknowledged")] == [DIRECTOR]
    assert baton.slack.calls_to("usergroups.users.list")[-1].params["usergroup"] == DIRECTORS


def test_late_partner_acknowledgement_stops_everything(baton):
    baton.command("/handoff", HANDOFF)
    at(baton, DEADLINE)
    rec = record(baton)
    baton.click(ActionId.PARTNER_ACK, str(rec.id), message_ts=rec.card_ts)
    rec = record(baton)
    assert rec.status == "acknowledged"
    assert "late" in baton.slack.thread(CHANNEL, rec.card_ts)[-1]["text"]
    at(baton, DEADLINE + timedelta(days=1))
    assert pages_in(baton, ESCALATION) == []
    with baton.sessions() as s:
        assert s.scalar(select(func.count()).select_from(DueWork)
                        .where(DueWork.state.in_(("pending", "claimed")))) == 0


def test_resolving_before_the_deadline_sends_nothing(baton):
    baton.command("/handoff", HANDOFF)
    baton.command("/baton", "cancel H-1 referral withdrawn")
    at(baton, DEADLINE + timedelta(days=1))
    assert dms(baton) == [] and pages_in(baton, CHANNEL) == []


def test_restart_after_downtime_catches_up_tier_by_tier_grouped_and_marked_late(baton):
    baton.command("/handoff", HANDOFF)
    baton.command("/handoff", HANDOFF.replace("P-1042", "P-2077"))
    # Down for the whole window: no sweeps until well past tier 2's time.
    baton.clock.set(DEADLINE + timedelta(hours=9))
    fresh = Engine(sessions=baton.sessions, client=baton.runtime.engine_client,
                   clock=baton.clock, authority=baton.runtime.engine._authority,
                   records=baton.runtime.records, pacer=Pacer(0), worker="restarted")
    fresh.run_due()
    assert dms(baton) == []  # reminders for a deadline already past are dropped
    tier1, tier2 = pages_in(baton, CHANNEL), pages_in(baton, ESCALATION)
    assert len(tier1) == 1 and len(tier2) == 1  # one grouped message per tier
    for page in (tier1[0], tier2[0]):
        assert "2 records need you" in page.params["text"]
        assert "sent late" in page.params["text"]
        assert len(page_work_ids(page)) == 2
    order = [c.params["channel"] for c in baton.slack.calls_to("chat.postMessage")
             if "Escalation tier" in c.params.get("text", "")]
    assert order == [CHANNEL, ESCALATION]  # tier by tier, in order
    assert sorted(e.record_ref for e in events(baton, "paged")) == ["H-1", "H-1", "H-2", "H-2"]


def test_slack_429_and_500_for_a_while_still_delivers_once(baton, slack):
    baton.command("/handoff", HANDOFF)
    # The first failure hits the card's thread line (best effort, logged); the second the page.
    slack.fail_next("chat.postMessage", status=429, times=2, retry_after=30)
    at(baton, DEADLINE)
    assert pages_in(baton, CHANNEL) == []
    with baton.sessions() as s:
        page = s.scalars(select(DueWork).where(DueWork.kind == "page")).one()
        assert page.state == "pending" and page.attempts == 1
        assert page.ready_at == DEADLINE + timedelta(seconds=30)  # Retry-After honoured
    slack.fail_next("chat.postMessage", status=500, times=2)
    at(baton, DEADLINE + timedelta(seconds=30))
    at(baton, DEADLINE + timedelta(minutes=1))
    assert pages_in(baton, CHANNEL) == []
    at(baton, DEADLINE + timedelta(minutes=10))
    assert len(pages_in(baton, CHANNEL)) == 1
    assert "sent late" in pages_in(baton, CHANNEL)[0].params["text"]
    at(baton, DEADLINE + timedelta(minutes=20))
    assert len(pages_in(baton, CHANNEL)) == 1 and len(events(baton, "paged")) == 1


def test_dependency_review_time_pages_while_still_open(baton):
    baton.command("/dependency", "person: P-3 action: unsigned authorization partner: County "
                  "Managed Care risk: emerging review: today 3pm")
    review = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
    at(baton, review)
    (page,) = pages_in(baton, CHANNEL)
    assert "D-1" in str(blocks_of(page)) and "at its review time" in str(blocks_of(page))
    assert "Missing: unsigned authorization" in str(blocks_of(page))


def test_safeguard_past_its_intended_end_pages(baton):
    baton.command("/dependency", "person: P-3 action: discharge summary partner: St Mary's "
                  "risk: short-term safeguard: daily nurse visit until: tomorrow noon "
                  "review: friday")
    at(baton, datetime(2026, 11, 24, 17, 0, tzinfo=UTC))
    (page,) = pages_in(baton, CHANNEL)
    assert "interim safeguard past its intended end" in str(blocks_of(page))
    assert events(baton, "safeguard_due")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_engines_on_one_postgres_page_each_item_exactly_once(baton):
    # About claims, not pacing (Pacer(0) below): Slack's per-channel rate is waived by name.
    baton.slack.lenient = baton.slack.lenient | {"rate_limits"}
    for n in range(40):
        baton.command("/handoff", HANDOFF.replace("P-1042", f"P-{5000 + n}"))
    baton.clock.set(DEADLINE + timedelta(hours=5))
    runtime = baton.runtime
    engines = [Engine(sessions=baton.sessions, client=runtime.engine_client, clock=baton.clock,
                      authority=runtime.engine._authority, records=runtime.records,
                      pacer=Pacer(0), worker=f"replica-{k}", batch=7) for k in range(2)]
    start = threading.Barrier(2)

    def run(engine: Engine) -> None:
        start.wait()
        engine.run_due()

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    paged = events(baton, "paged")
    assert len(paged) == 80  # 40 records x 2 tiers, each exactly once
    assert len({(e.record_ref, e.after) for e in paged}) == 80
    ids_in_pages = [i for c in pages_in(baton, CHANNEL) + pages_in(baton, ESCALATION)
                    for i in page_work_ids(c)]
    assert len(ids_in_pages) == len(set(ids_in_pages)) == 80
    with baton.sessions() as s:
        workers = set(s.scalars(select(DueWork.claimed_by).where(DueWork.kind == "page")))
    assert workers == {"replica-0", "replica-1"}  # both did a share


def test_reminders_stay_on_local_time_across_the_daylight_saving_change(baton):
    # Friday 2026-10-30 10:00 EDT. New York falls back on Sunday 2026-11-01 at 02:00.
    baton.clock.set(datetime(2026, 10, 30, 14, 0, tzinfo=UTC))
    baton.command("/handoff", HANDOFF.replace("tomorrow 5pm", "sunday 5pm"))
    deadline = datetime(2026, 11, 1, 22, 0, tzinfo=UTC)  # Sunday 17:00 EST
    assert record(baton).due_at == deadline
    # "24h before" is 17:00 the day before on the owner's clock: Saturday 17:00 EDT,
    # which is 25 elapsed hours earlier, not 24.
    at(baton, datetime(2026, 10, 31, 20, 59, tzinfo=UTC))
    assert dms(baton) == []
    at(baton, datetime(2026, 10, 31, 21, 0, tzinfo=UTC))
    assert len(dms(baton)) == 1
    # "2h before" is elapsed time: 15:00 EST.
    at(baton, deadline - timedelta(hours=2))
    assert len(dms(baton)) == 2
    at(baton, deadline)
    assert len(pages_in(baton, CHANNEL)) == 1


def test_nothing_is_sent_for_a_record_resolved_between_claim_and_send(baton):
    baton.command("/handoff", HANDOFF)
    at(baton, DEADLINE)  # overdue, tier 1 paged
    baton.clock.set(DEADLINE + timedelta(hours=4))
    engine = baton.runtime.engine
    claimed = engine.claim()  # tier 2 and the coordinator's nudge are claimed ...
    with baton.sessions() as s:
        assert sorted(s.get(DueWork, i).kind for i in claimed) == ["nudge", "page"]
    baton.command("/baton", "cancel H-1 partner called back, referral withdrawn")  # ... then
    engine.process(claimed)
    assert pages_in(baton, ESCALATION) == []
    with baton.sessions() as s:
        assert [s.get(DueWork, i).state for i in claimed] == ["cancelled", "cancelled"]


def test_failing_for_ten_minutes_logs_an_error_and_keeps_trying(baton, slack, caplog):
    baton.command("/handoff", HANDOFF)
    slack.fail_next("chat.postMessage", status=503, times=1000)  # Slack is down
    at(baton, DEADLINE)  # overdue; the tier 1 page fails and is rescheduled
    minute = DEADLINE
    for _ in range(20):
        minute += timedelta(minutes=1)
        at(baton, minute)
    errors = [r for r in caplog.records if r.levelname == "ERROR" and "still retrying" in
              r.getMessage()]
    assert errors, "no error logged after 10 minutes of failure"
    assert pages_in(baton, CHANNEL) == []
    slack.clear_failures()  # the outage is over
    at(baton, minute + timedelta(minutes=6))
    assert len(pages_in(baton, CHANNEL)) == 1 and len(events(baton, "paged")) == 1


def test_pacer_keeps_a_second_between_posts_to_one_channel():
    waits: list[float] = []
    clock = [100.0]

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    pacer = Pacer(1.0, monotonic=lambda: clock[0], sleep=sleep)
    pacer.wait("C1")
    pacer.wait("C2")  # another channel: no wait
    pacer.wait("C1")
    clock[0] += 0.4
    pacer.wait("C1")
    assert waits == pytest.approx([1.0, 0.6])


def test_baton_ladder_shows_and_only_an_admin_changes_it(baton):
    baton.command("/baton", "ladder")
    shown = str(baton.slack.calls_to("response_url")[-1].params["blocks"])
    assert "uses the *default* ladder" in shown and "Operations Director" in shown
    assert "<#C0ESCAL01>" in shown and "4h after the previous page" in shown
    baton.command("/baton", "ladder use urgent", user=ALICE)
    assert "Only an admin can change an escalation ladder" in baton.last_reply()
    (refused,) = events(baton, "refused")  # the refusal is evidence too
    assert (refused.actor, refused.field) == (ALICE, "change_ladder")
    baton.command("/baton", "ladder use nonsense", user=MANAGER)
    assert "no ladder named `nonsense`" in baton.last_reply()
    baton.command("/baton", "ladder use urgent", user=MANAGER)
    shown = str(baton.slack.calls_to("response_url")[-1].params["blocks"])
    assert "uses the *urgent* ladder" in shown
    (ev,) = events(baton, "ladder_changed")
    assert (ev.actor, ev.before, ev.after) == (MANAGER, None, "urgent")
    # New records start on it; a record made before keeps its own.
    baton.command("/handoff", HANDOFF)
    assert record(baton).ladder["name"] == "urgent"
    baton.command("/baton", "ladder reset", user=MANAGER)
    baton.command("/handoff", HANDOFF.replace("P-1042", "P-7"))
    assert record(baton, "H-2").ladder["name"] == "default"
    assert record(baton, "H-1").ladder["name"] == "urgent"
    # The coordinator tier with nobody named falls back to @here at the deadline.
    at(baton, DEADLINE)
    texts = [c.params["text"] for c in pages_in(baton, CHANNEL)]
    assert any(t.startswith("<!here>") and "Coordinator of the day" in t for t in texts)


def test_an_acknowledgement_while_a_page_is_on_its_way_plans_no_further_tier(baton, slack):
    """The review's race: tier 2 is being posted when tier 1 is acknowledged. The tier-2
    message went out, but the acknowledgement wins: nothing further is planned."""
    baton.command("/handoff", HANDOFF)
    at(baton, DEADLINE)
    (tier1,) = pages_in(baton, CHANNEL)
    (work1,) = page_work_ids(tier1)
    engine = baton.runtime.engine
    baton.clock.set(DEADLINE + timedelta(hours=4))
    claimed = engine.claim()

    def ack_during_send(call):
        if call.method == "chat.postMessage" and "tier 2" in call.params.get("text", ""):
            # Bob acknowledges tier 1 while the tier-2 post is in flight, writing as Baton
            # does: a plain BEGIN that reads first lost its write to any commit in between
            # on SQLite ("database is locked": the inbox deletes finished requests on a
            # thread of its own), and the emulator only logs an observer's exception.
            with transaction(baton.sessions) as s:
                from store import queries
                s.get(DueWork, work1).acked_by = BOB
                queries.cancel_work(s, record_id=record(baton).id, kinds=("page",))
            acked.set()

    acked = threading.Event()
    slack.on_call(ack_during_send)
    engine.process(claimed)
    assert acked.is_set(), "the acknowledgement during the send failed (see the log)"
    assert len(pages_in(baton, ESCALATION)) == 1
    with baton.sessions() as s:
        planned = s.scalars(select(DueWork).where(DueWork.kind == "page", DueWork.tier == 3)).all()
        tier2 = s.scalars(select(DueWork).where(DueWork.kind == "page", DueWork.tier == 2)).one()
    assert planned == []  # (this ladder has no tier 3 anyway; nothing at all was planned)
    assert tier2.state == "cancelled" and tier2.message_ts is not None
    assert [e.after for e in events(baton, "paged")] == [1]


def test_a_stale_lower_tier_page_cannot_be_acknowledged(baton):
    baton.command("/handoff", HANDOFF)
    at(baton, DEADLINE)
    (work1,) = page_work_ids(pages_in(baton, CHANNEL)[0])
    at(baton, DEADLINE + timedelta(hours=4))
    baton.click(ActionId.PAGE_ACK, str(work1), user=BOB)
    assert "has since been escalated to tier 2" in baton.last_reply()
    assert events(baton, "page_acknowledged") == []
    # The stale page is shown again as it now stands: no Acknowledge, pointing on.
    page = pages_in(baton, CHANNEL)[0]
    refreshed = [c for c in baton.slack.calls_to("chat.update")
                 if c.params["ts"] == page.response["ts"]][-1]
    flat = str(blocks_of(refreshed))
    assert "Escalated to tier 2 since: acknowledge the latest page." in flat
    assert ActionId.PAGE_ACK not in flat and ActionId.INTERIM in flat


def test_interim_action_on_an_escalated_record_needs_the_tier_authority(baton):
    baton.command("/handoff", HANDOFF)
    at(baton, DEADLINE)
    rec = record(baton)
    baton.click(ActionId.INTERIM, str(rec.id), user=ALICE)
    call = baton.slack.calls_to("views.open")[-1]
    view = dict(call.json_param("view"))
    view["id"] = call.response["view"]["id"]
    body = baton.submit(view, {"text": "waiting"}, user=ALICE).json()
    assert body["response_action"] == "errors"
    assert "Only <@U0BOB0001> or a manager" in body["errors"]["text"]
    assert record(baton).interim_action is None
    assert baton.submit(view, {"text": "called their director"}, user=BOB).text == ""
    assert record(baton).interim_action == "called their director"


def test_moving_the_review_keeps_the_safeguard_deadline(baton):
    baton.command("/dependency", "person: P-3 action: discharge summary partner: St Mary's "
                  "risk: short-term safeguard: daily nurse visit until: friday 5pm "
                  "review: tomorrow 9am")
    rec = record(baton, "D-1")
    baton.click(ActionId.INTERIM, str(rec.id))
    call = baton.slack.calls_to("views.open")[-1]
    view = dict(call.json_param("view"))
    view["id"] = call.response["view"]["id"]
    assert baton.submit(view, {"text": "chased ward clerk", "review": "thursday 9am"}).text == ""
    with baton.sessions() as s:
        pending = {(w.reason, w.due_at) for w in s.scalars(
            select(DueWork).where(DueWork.state == "pending", DueWork.kind == "deadline"))}
    assert pending == {("review", datetime(2026, 11, 26, 14, 0, tzinfo=UTC)),
                       ("safeguard", datetime(2026, 11, 27, 22, 0, tzinfo=UTC))}


def test_a_review_day_on_a_weekend_moves_to_friday_and_the_person_is_told(baton):
    baton.command("/dependency", "person: P-3 action: discharge summary partner: St Mary's "
                  "risk: short-term review: tomorrow 9am")
    rec = record(baton, "D-1")
    baton.click(ActionId.INTERIM, str(rec.id))
    call = baton.slack.calls_to("views.open")[-1]
    view = dict(call.json_param("view"))
    view["id"] = call.response["view"]["id"]
    # Monday 23 Nov 2026: Sunday 29 Nov has no working hours, so Friday's end of day.
    assert baton.submit(view, {"text": "chased ward clerk", "review": "sunday"}).text == ""
    baton.runtime.wait_idle(timeout=60)
    assert record(baton, "D-1").due_at == datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
    assert baton.last_reply() == ("`review`: Sun 29 Nov is not a working day: read as "
                                  "Fri 27 Nov 17:00 (the working day before).")


def test_free_text_never_becomes_a_mention_in_thread_lines(baton):
    baton.command("/handoff", HANDOFF)
    baton.command("/baton", "cancel H-1 <!channel> see <https://evil.example|the form>")
    rec = record(baton)
    line = baton.slack.thread(CHANNEL, rec.card_ts)[-1]["text"]
    assert "<!channel>" not in line and "&lt;!channel&gt;" in line
    assert "<https://evil.example" not in line


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_click_at_the_deadline_and_the_engine_never_deadlock(baton, caplog):
    """Lock order: a record before its due work. A click (acknowledge, resolve, cancel)
    updates the record and then cancels its due work; the engine, handling the deadline it
    claimed, must not hold that due work while it waits for the record. Here the click's
    transaction holds the record when the engine starts; the other way round PostgreSQL
    found a deadlock and rolled one of them back (bench/load saw it at 50 clients)."""
    from sqlalchemy import text

    baton.command("/handoff", HANDOFF)
    rec = record(baton)
    at(baton, DEADLINE - timedelta(hours=1))  # the reminders go first
    baton.clock.set(DEADLINE)
    engine = baton.runtime.engine
    claimed = engine.claim()
    assert len(claimed) == 1
    with baton.engine.connect() as c:
        deadlocks_before = c.execute(text(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")).scalar()
    click = baton.engine.connect()
    done = threading.Event()
    worker = threading.Thread(target=lambda: (engine.process(claimed), done.set()))
    try:
        tx = click.begin()
        click.execute(text("SET LOCAL lock_timeout = '10s'"))
        click.execute(text("UPDATE records SET version = version + 1, status = 'acknowledged' "
                           "WHERE id = :id"), {"id": rec.id})
        holder = click.execute(text("SELECT pg_backend_pid()")).scalar()
        worker.start()
        # Until the engine waits for the click's lock. Each look is a transaction of its own:
        # within one, pg_stat_activity is a snapshot taken at its first read, and the
        # engine's wait (begun a moment later) never showed in it.
        blocked = text("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                       "current_database() AND wait_event_type = 'Lock' "
                       "AND :holder = ANY(pg_blocking_pids(pid))")
        deadline = time.monotonic() + 60  # the engine's thread may start late on a busy box
        waiting = 0
        with baton.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as watch:
            while not waiting and worker.is_alive() and time.monotonic() < deadline:
                waiting = watch.execute(blocked, {"holder": holder}).scalar()
                if not waiting:
                    threading.Event().wait(0.05)  # polling another process, not moving time
        assert waiting == 1, "the engine never waited for the click's record"
        # The click goes on to cancel the record's due work, as an acknowledgement does.
        click.execute(text("UPDATE due_work SET state = 'cancelled' WHERE record_id = :id "
                           "AND state IN ('pending', 'claimed')"), {"id": rec.id})
        tx.commit()
    finally:
        click.close()  # a transaction still open is rolled back: the engine goes on
        if worker.ident is not None:  # started
            worker.join(60)
    assert done.is_set()
    with baton.engine.connect() as c:
        deadlocks_after = c.execute(text(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")).scalar()
    assert deadlocks_after == deadlocks_before
    assert "deadline batch failed" not in caplog.text
    # The click won: the engine found its claim cancelled and neither marked it overdue
    # nor planned a page.
    assert record(baton).status == "acknowledged"
    with baton.sessions() as s:
        assert s.scalars(select(DueWork).where(DueWork.kind == "page")).all() == []
    assert events(baton, "status_changed") == []
