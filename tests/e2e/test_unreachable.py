"""Escalations never stall silently: what the time engine does when Slack refuses a post for
good (a channel Baton can't post in, a person it can't DM, a token Slack revoked), and its
thread lines, paced and retried like pages. The real app and engine against the emulator,
time moved on the injected clock (never slept), on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.slack.ids import ActionId
from scheduler.engine import Engine, Pacer
from store import queries
from store.db import transaction
from store.models import AuditEvent, DueWork, Record
from tests.conftest import ALICE, BOB, CHANNEL, TEAM, blocks_of
from tests.fakes.ladder import at, ladder_config, two_tier_ladder

ESCALATION = "C0ESCAL01"
COORDINATION = "C0COORD01"
TIER1 = "C0PAGE001"  # tier 1's channel; each test makes it unreachable its own way
COORDINATOR = "U0COORD01"

LADDER = two_tier_ladder(tier1_channel=TIER1, tier2_channel=ESCALATION)

HANDOFF = ("person: P-1042 to: Northside Home Care contact: intake desk 555-0100 "
           "due: tomorrow 5pm risk: short-term")
DEADLINE = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)  # Tuesday 17:00 EST


@pytest.fixture
def start(serve_factory, database_url, tmp_path, slack):
    """Baton with the ladder above; `coordination` and `coordinator` as the test needs."""
    cfg = ladder_config(tmp_path, slack, LADDER, [BOB])
    slack.add_user(COORDINATOR, name="cora")

    def go(*, coordination: bool = True, coordinator: bool = True, ladder: str | None = None):
        if ladder is not None:
            cfg.write_text(ladder)
        extra = {"BATON_CONFIG": str(cfg)}
        if coordination:
            extra["BATON_COORDINATION_CHANNEL"] = COORDINATION
        if coordinator:
            extra["BATON_COORDINATOR"] = COORDINATOR
        baton = serve_factory(database_url, **extra)
        # Slack's per-channel rate counts on the injected clock too: moving time refills it.
        slack.monotonic = lambda: baton.clock.now().timestamp()
        return baton

    return go


def posted(baton, channel: str | None = None) -> list:
    return [c for c in baton.slack.calls_to("chat.postMessage") if c.response.get("ok")
            and (channel is None or c.response.get("channel") == channel)]


def pages_in(baton, channel: str) -> list:
    return [c for c in posted(baton, channel) if not c.params.get("thread_ts")
            and "Escalation tier" in c.params.get("text", "")]


def events(baton, kind: str) -> list[AuditEvent]:
    with baton.sessions() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.kind == kind)
                              .order_by(AuditEvent.id)))


def works(baton, kind: str) -> list[DueWork]:
    with baton.sessions() as s:
        return list(s.scalars(select(DueWork).where(DueWork.kind == kind)
                              .order_by(DueWork.id)))


def record(baton, number: int = 1) -> Record:
    with baton.sessions() as s:
        return s.scalars(select(Record).where(Record.number == number)).one()


def page_work_ids(call) -> list[int]:
    return [int(b["block_id"].split(":")[1]) for b in blocks_of(call)
            if b["type"] == "actions" and b.get("block_id", "").startswith("page:")]


def errors(caplog, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.ERROR and text in r.getMessage()]


# --- a page to a channel Baton cannot post in ---

def test_private_channel_never_invited_pages_the_coordination_channel_at_once(
        start, slack, caplog):
    slack.add_channel(TIER1, "care-private", is_private=True, is_member=False)
    baton = start()
    baton.command("/handoff", HANDOFF)
    at(baton, DEADLINE)
    assert pages_in(baton, TIER1) == []
    (page,) = pages_in(baton, COORDINATION)
    text = str(blocks_of(page))
    assert page.params["text"].startswith(f"<@{BOB}>")  # the tier's target, named there
    assert (f":warning: Baton could not post this page in <#{TIER1}>: the channel does not "
            "exist, or it is private and Baton was never invited.") in text
    assert f"To fix: /invite @Baton in <#{TIER1}>" in text
    assert "H-1" in text and "Northside Home Care" in text
    buttons = [e["text"]["text"] for b in blocks_of(page) if b["type"] == "actions"
               for e in b["elements"]]
    assert buttons == ["Acknowledge", "Record interim action", "Resolve"]
    # The trail says what happened; the page is done where it went.
    (ev,) = events(baton, "page_undeliverable")
    assert ev.record_ref == "H-1" and ev.before == TIER1 and ev.after == COORDINATION
    assert "channel_not_found" in ev.note and COORDINATION in ev.note
    (paged,) = events(baton, "paged")
    assert paged.after == 1
    (work,) = [w for w in works(baton, "page") if w.tier == 1]
    assert (work.state, work.channel_id, work.message_ts) == (
        "done", COORDINATION, page.response["ts"])
    assert work.attempts == 0  # not one blind retry
    assert len(errors(caplog, "could not be posted in")) == 1
    # The card's thread says where the page went instead.
    card = baton.slack.thread(CHANNEL, record(baton).card_ts)
    assert any(f"paged in <#{COORDINATION}> (Baton could not post in <#{TIER1}>" in m["text"]
               for m in card)
    # Tier 2 goes on time, in its own channel.
    at(baton, DEADLINE + timedelta(hours=3, minutes=59))
    assert pages_in(baton, ESCALATION) == []
    at(baton, DEADLINE + timedelta(hours=4))
    (tier2,) = pages_in(baton, ESCALATION)
    assert "tier 2" in tier2.params["text"]
    assert [e.after for e in events(baton, "paged")] == [1, 2]
    assert len(errors(caplog, "could not be posted in")) == 1  # logged once


def test_acknowledging_a_rerouted_page_works_and_keeps_the_fix_line(start, slack):
    slack.add_channel(TIER1, "care-private", is_private=True, is_member=False)
    baton = start()
    baton.command("/handoff", HANDOFF)
    at(baton, DEADLINE)
    (page,) = pages_in(baton, COORDINATION)
    (work_id,) = page_work_ids(page)
    baton.click(ActionId.PAGE_ACK, str(work_id), user=BOB, channel=COORDINATION,
                message_ts=page.response["ts"])
    (ev,) = events(baton, "page_acknowledged")
    assert ev.actor == BOB
    edit = [c for c in baton.slack.calls_to("chat.update")
            if c.params["ts"] == page.response["ts"]][-1]
    flat = str(blocks_of(edit))
    assert f"Acknowledged by <@{BOB}>" in flat and "Baton could not post this page" in flat
    at(baton, DEADLINE + timedelta(hours=5))
    assert pages_in(baton, ESCALATION) == []  # the acknowledgement stopped the climb


@pytest.mark.parametrize("how", ["not_in_channel", "is_archived"])
def test_no_coordination_channel_pages_the_owner_and_coordinator_by_dm(start, slack, how):
    if how == "not_in_channel":
        # A public channel Baton is not in, and no chat:write.public to post there anyway.
        slack.scopes = slack.scopes - {"chat:write.public"}
        slack.add_channel(TIER1, "care-public", is_member=False)
        reason, fix = "Baton is not in that channel", f"To fix: /invite @Baton in <#{TIER1}>."
    else:
        slack.add_channel(TIER1, "care-old")
        slack.archive_channel(TIER1)
        reason, fix = "the channel was archived", f"To fix: unarchive <#{TIER1}>"
    baton = start(coordination=False)
    baton.command("/handoff", HANDOFF)
    at(baton, DEADLINE)
    owner_dm, coordinator_dm = slack.dm_channel(ALICE), slack.dm_channel(COORDINATOR)
    (to_owner,) = pages_in(baton, owner_dm)
    (to_coordinator,) = pages_in(baton, coordinator_dm)
    for page in (to_owner, to_coordinator):
        text = str(blocks_of(page))
        assert f"Baton could not post this page in <#{TIER1}>: {reason}." in text and fix in text
        assert page_work_ids(page)  # the same rows and buttons
    (ev,) = events(baton, "page_undeliverable")
    assert how in ev.note and ev.after == coordinator_dm
    (work,) = [w for w in works(baton, "page") if w.tier == 1]
    assert work.state == "done" and work.channel_id == coordinator_dm
    at(baton, DEADLINE + timedelta(hours=4))
    assert len(pages_in(baton, ESCALATION)) == 1


def test_no_fallback_reachable_records_it_and_the_climb_goes_on(start, slack, caplog):
    slack.add_channel(TIER1, "care-private", is_private=True, is_member=False)
    baton = start(coordination=False, coordinator=False)
    baton.command("/handoff", HANDOFF)
    at(baton, DEADLINE - timedelta(hours=2))  # the reminder, while Alice can be reached
    slack.fail_all(200, method="conversations.open", error="user_disabled")  # Alice deactivated
    at(baton, DEADLINE)
    assert posted(baton, slack.dm_channel(ALICE))[-1].params["text"].startswith(
        ":alarm_clock:")  # only the reminder: no page reached her
    (ev,) = events(baton, "page_undeliverable")
    assert "no fallback could be reached" in ev.note and "user_disabled" in ev.note
    (work,) = [w for w in works(baton, "page") if w.tier == 1]
    assert work.state == "undeliverable" and "channel_not_found" in work.last_error
    assert len(errors(caplog, "no fallback could be reached")) == 1
    at(baton, DEADLINE + timedelta(hours=4))
    (tier2,) = pages_in(baton, ESCALATION)  # the climb never stops on one channel
    assert "tier 2" in tier2.params["text"]
    assert record(baton).escalation_tier == 2


# --- a workspace whose token Slack refuses ---

def test_revoked_token_suspends_the_workspace_once_and_resume_sends_it(start, slack, caplog):
    baton = start()
    slack.add_channel(TIER1, "care-one")
    baton.command("/handoff", HANDOFF)
    slack.revoke_token("xoxb-test")
    at(baton, DEADLINE)
    tried = len(slack.calls)
    pending = [w for w in works(baton, "page") + works(baton, "reminder")
               if w.state not in ("done", "cancelled")]
    assert pending and {w.state for w in pending} == {"suspended"}
    assert {w.last_error for w in pending} == {"token_revoked"}
    (ev,) = events(baton, "work_suspended")
    assert ev.record_ref == "H-1"
    (line,) = errors(caplog, "refuses Baton's token")
    assert TEAM in line and "token_revoked" in line and "reinstall" in line
    # No hot loop: a day later nothing more was tried, nothing more logged.
    for hours in (1, 5, 27):
        at(baton, DEADLINE + timedelta(hours=hours))
    assert len(slack.calls) == tried
    assert len(errors(caplog, "refuses Baton's token")) == 1
    assert len(events(baton, "work_suspended")) == 1
    # Reinstalled: resumed, the backlog goes out tier by tier, marked late.
    slack.restore_token()
    with transaction(baton.sessions) as s:
        assert queries.resume_team_work(s, team_id=TEAM, now=baton.clock.now()) >= 1
    at(baton, DEADLINE + timedelta(hours=27))
    (tier1,) = pages_in(baton, TIER1)
    (tier2,) = pages_in(baton, ESCALATION)
    assert "sent late" in tier1.params["text"] and "sent late" in tier2.params["text"]
    assert len(events(baton, "work_resumed")) == 1


def test_one_token_a_restart_resumes_suspended_work(start, slack):
    baton = start()
    slack.add_channel(TIER1, "care-one")
    baton.command("/handoff", HANDOFF)
    slack.revoke_token("xoxb-test", error="account_inactive")
    at(baton, DEADLINE)
    assert {w.state for w in works(baton, "page")} == {"suspended"}
    slack.restore_token()  # a new token, and a restart
    restarted = Engine(sessions=baton.sessions, client=baton.runtime.engine_client,
                       clock=baton.clock, authority=baton.runtime.engine._authority,
                       records=baton.runtime.records, pacer=Pacer(0), worker="restarted",
                       resume_at_start=True)
    restarted.run_due()
    assert len(pages_in(baton, TIER1)) == 1


# --- direct messages Slack will never take ---

def test_reminder_to_a_deactivated_owner_is_cancelled_not_retried(start, slack):
    slack.add_channel(TIER1, "care-one")
    baton = start()
    baton.command("/handoff", HANDOFF)
    slack.fail_all(200, method="conversations.open", error="user_disabled")
    at(baton, DEADLINE - timedelta(hours=2))
    (reminder,) = works(baton, "reminder")
    assert reminder.state == "cancelled" and "user_disabled" in reminder.last_error
    (ev,) = events(baton, "dm_undeliverable")
    assert ev.record_ref == "H-1" and ev.after == "user_disabled"
    opened = len(slack.calls_to("conversations.open"))
    at(baton, DEADLINE - timedelta(minutes=30))
    assert len(slack.calls_to("conversations.open")) == opened  # never tried again


# --- thread lines: paced, retried, once a thread ---

def test_many_pages_and_thread_lines_into_one_channel_keep_to_its_rate(start, slack):
    """25 records fall due at once in one channel: their pages, and each card's two lines
    (overdue, paged), all go to that channel. With Slack's real rate (a burst of 10, then
    one a second; the emulator's clock and the pacer's are one fake clock), none is
    refused and every line arrives."""
    ladder = LADDER.replace(f'channel = "{TIER1}"\n', "")  # tier 1 in the record's channel
    baton = start(coordination=False, coordinator=False, ladder=ladder)
    for n in range(25):
        baton.command("/handoff", HANDOFF.replace("P-1042", f"P-{5000 + n}"))
        baton.clock.advance(timedelta(seconds=1))  # the cards, at Slack's rate
    fake = [DEADLINE.timestamp()]  # the pacer's clock and Slack's, moved by the pacer

    def sleep(seconds: float) -> None:
        fake[0] += seconds

    slack.monotonic = lambda: fake[0]
    engine = Engine(sessions=baton.sessions, client=baton.runtime.engine_client,
                    clock=baton.clock, authority=baton.runtime.engine._authority,
                    records=baton.runtime.records, worker="paced",
                    pacer=Pacer(1.0, monotonic=lambda: fake[0], sleep=sleep))
    baton.clock.set(DEADLINE)
    engine.run_due()
    refused = [c for c in slack.calls_to("chat.postMessage") if c.status == 429]
    assert refused == []
    assert len(pages_in(baton, CHANNEL)) == 2  # 20 + 5 records
    with baton.sessions() as s:
        cards = list(s.scalars(select(Record.card_ts)))
    for ts in cards:
        lines = [m["text"] for m in slack.thread(CHANNEL, ts)]
        assert sum("marked overdue" in t for t in lines) == 1
        assert sum("escalation tier 1" in t for t in lines) == 1


def test_a_429_on_a_thread_line_is_retried_later(start, slack):
    slack.add_channel(TIER1, "care-one")
    baton = start(coordination=False, coordinator=False)
    baton.command("/handoff", HANDOFF)
    card_ts = record(baton).card_ts

    def after_the_page(call):  # the next post after the page (a thread line) is refused
        if call.method == "chat.postMessage" and "Escalation tier" in call.params.get("text", ""):
            slack.fail_next("chat.postMessage", status=429, retry_after=30)

    slack.on_call(after_the_page)
    at(baton, DEADLINE)
    assert len(pages_in(baton, TIER1)) == 1
    assert [c for c in slack.calls_to("chat.postMessage") if c.status == 429]
    lines = [m["text"] for m in slack.thread(CHANNEL, card_ts)]
    assert len(lines) == 1  # one of the two lines was refused
    (waiting,) = [w for w in works(baton, "thread_line") if w.state == "pending"]
    assert waiting.ready_at == DEADLINE + timedelta(seconds=30)  # Retry-After honoured
    at(baton, DEADLINE + timedelta(seconds=30))
    lines = [m["text"] for m in slack.thread(CHANNEL, card_ts)]
    assert sum("marked overdue" in t for t in lines) == 1
    assert sum("escalation tier 1" in t for t in lines) == 1


def test_a_grouped_climb_puts_one_line_in_the_first_page_thread(start, slack):
    slack.add_channel(TIER1, "care-one")
    baton = start(coordination=False, coordinator=False)
    for n in range(3):
        baton.command("/handoff", HANDOFF.replace("P-1042", f"P-{5000 + n}"))
    at(baton, DEADLINE)
    (tier1,) = pages_in(baton, TIER1)
    at(baton, DEADLINE + timedelta(hours=4))
    thread = [m["text"] for m in slack.thread(TIER1, tier1.response["ts"])]
    (line,) = [t for t in thread if "escalation tier 2" in t]
    assert line.startswith("H-1, H-2, H-3: escalation tier 2 (Operations Director) paged in "
                           f"<#{ESCALATION}>")
    for n in (1, 2, 3):  # and each card hears it once
        card = [m["text"] for m in slack.thread(CHANNEL, record(baton, n).card_ts)]
        assert sum("escalation tier 2" in t for t in card) == 1


def test_a_thread_line_whose_channel_was_archived_is_dropped_with_a_log_line(
        start, slack, caplog):
    slack.add_channel(TIER1, "care-one")
    baton = start(coordination=False, coordinator=False)
    baton.command("/handoff", HANDOFF)
    at(baton, DEADLINE)
    slack.archive_channel(CHANNEL)  # the record's channel, with its card
    at(baton, DEADLINE + timedelta(hours=4))
    assert len(pages_in(baton, ESCALATION)) == 1
    dropped = [w for w in works(baton, "thread_line") if w.channel_id == CHANNEL
               and w.state == "cancelled"]
    assert len(dropped) == 1 and "is_archived" in dropped[0].last_error
    assert any("dropped" in r.getMessage() and "is_archived" in r.getMessage()
               for r in caplog.records)
    at(baton, DEADLINE + timedelta(hours=5))
    assert [w for w in works(baton, "thread_line") if w.state == "pending"] == []


# --- a record logged where Baton cannot post its card ---

def test_a_record_logged_where_baton_cannot_post_is_saved_and_its_pages_rerouted(
        start, slack):
    """Saved, not refused: a handoff someone is logging must not be lost for want of an
    invitation. They are told why its card is missing, the fix, and where its pages go."""
    private = "C0PRIV001"
    slack.add_channel(private, "care-private", is_private=True, is_member=False)
    ladder = LADDER.replace(f'channel = "{TIER1}"\n', "")  # tier 1 in the record's channel
    baton = start(ladder=ladder)
    baton.command("/handoff", HANDOFF, channel=private)
    rec = record(baton)
    assert rec.channel_id == private and rec.card_ts is None
    reply = baton.last_reply()
    assert "H-1" in reply and "couldn't post its card" in reply
    assert "/invite @Baton" in reply and "its pages go to the coordination channel" in reply
    at(baton, DEADLINE)
    (page,) = pages_in(baton, COORDINATION)
    assert f"Baton could not post this page in <#{private}>" in str(blocks_of(page))
    (ev,) = events(baton, "page_undeliverable")
    assert ev.record_ref == "H-1" and ev.before == private


@pytest.mark.parametrize("error", ["invalid_blocks", "no_permission", "a_refusal_never_seen"])
def test_a_refusal_baton_does_not_know_is_not_retried_forever(start, slack, error, caplog):
    """Slack may refuse a page for a reason no list names. Retrying it would stall the
    escalation, so it is treated as its channel's: the page goes to the fallback at once."""
    slack.add_channel(TIER1, "care-intake")
    baton = start()
    baton.command("/handoff", HANDOFF)
    slack.fail_next("chat.postMessage", error=error, channel=TIER1)
    at(baton, DEADLINE)
    assert pages_in(baton, TIER1) == []
    (page,) = pages_in(baton, COORDINATION)
    assert f"Slack answered `{error}`" in str(blocks_of(page))
    (ev,) = events(baton, "page_undeliverable")
    assert error in ev.note
    (work,) = [w for w in works(baton, "page") if w.tier == 1]
    assert (work.state, work.attempts) == ("done", 0)
    at(baton, DEADLINE + timedelta(hours=4))
    (tier2,) = pages_in(baton, ESCALATION)  # the climb goes on
    assert "tier 2" in tier2.params["text"]
