"""Faults, each a test: the process killed mid-burst, Slack down for half an hour, the
database gone for a while, and a clean SIGTERM.

The process tests run a real `baton serve` (python -m bot.cli serve) against the Slack
emulator on loopback in this process, on the wall clock: their deadlines are already past
when serve starts, so nothing waits for a deadline. The in-process tests move the injected
clock (FixedClock) and sweep by hand, or let the engine's own Waker sweep.
"""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import func, select, text

from bot.clock import FixedClock
from bot.console.emulator import SlackEmulator
from bot.slack import wire
from bot.slack.ids import ActionId
from scheduler.engine import ALARM_AFTER, MAX_BACKOFF
from store.db import migrate
from store.models import (
    AuditEvent,
    DueWork,
    PartnerAgency,
    ReceivedRequest,
    Record,
    ReferenceCounter,
)
from tests.conftest import BOB, CHANNEL, PG_URL, START
from tests.e2e.fault_kit import (
    SEED_TEAM,
    Outage,
    PageLog,
    ServeProcess,
    admin_engine,
    claimed_rows,
    db,
    fault_slack,
    paged_events,
    record_of_work,
    seed_overdue,
    serve_env,
    work_states,
)

BURST = 1000
PER_CHANNEL = 10


def _fresh(url: str) -> None:
    """The database_url fixture migrates SQLite and truncates PostgreSQL; nothing else."""
    assert work_states(url) == {}, "expected an empty database"


# --- 1. SIGKILL in the middle of a burst ---

def test_sigkill_mid_burst_then_restart_delivers_every_page_with_duplicates_bounded(
        database_url, tmp_path):
    """1,000 records, ten to a channel in 100 channels, are overdue when `serve` starts, so
    1,000 tier-1 pages fall due at once and go out as 100 grouped messages of 10 records
    (pages group per channel and tier); what is counted is records paged. While Slack holds
    its answer to page message #40 (the message is recorded: Slack has it), the process is
    SIGKILLed. A second `serve` on the same database must take over the killed process's
    claims (not wait out their 5-minute lease) and deliver the rest.

    The duplicate bound: the engine sends from one thread (scheduler.wake's engine loop),
    one message at a time, and marks its items done in a transaction right after Slack
    answers. So at most one message is "sent but not marked" at any instant: the one in
    flight. A kill can therefore duplicate at most that one message's records: at most
    pages.PAGE_GROUP (20), here 10, and only those records. Every other page was either
    marked done before the kill (not resent) or not yet sent.

    No latency is added to the emulator: the burst takes a few seconds as it is, and the
    kill is placed inside one send, which is what a per-call delay was for.
    """
    _fresh(database_url)
    seed_overdue(database_url, BURST, due_at=datetime.now(UTC) - timedelta(minutes=10),
                 per_channel=PER_CHANNEL)
    kill_at = 40
    with fault_slack() as slack:
        log = PageLog(slack)
        env = serve_env(database_url, slack)
        first = ServeProcess(env, tmp_path / "serve-1.log")
        second = ServeProcess(env, tmp_path / "serve-2.log")
        killed = threading.Event()
        in_flight: list[list[int]] = []

        def kill() -> None:  # inside the emulator, before it answers message #kill_at
            first.signal(signal.SIGKILL)
            in_flight.append(log.messages[kill_at - 1])
            killed.set()

        log.at(kill_at, kill)
        try:
            started = time.monotonic()
            first.start()
            assert killed.wait(60), f"no page #{kill_at} within 60 s:\n{first.tail()}"
            assert first.wait(10) == -signal.SIGKILL
            sent_before_kill = log.count()
            assert sent_before_kill == kill_at  # nothing after the kill came from it
            left_claimed = claimed_rows(database_url)
            restarted = time.monotonic()
            second.start()
            everything = log.wait_until(lambda pl: len(pl.copies()) >= BURST, 60)
            delivered_in = time.monotonic() - restarted
            assert everything, (f"only {len(log.copies())} of {BURST} pages after restart:\n"
                                f"{second.tail()}")
        finally:
            first.stop()
            second.stop()
        total = time.monotonic() - started

    copies = log.copies()
    duplicates = {work_id: n for work_id, n in copies.items() if n > 1}
    records = record_of_work(database_url)
    print(f"\nSIGKILL mid-burst [{database_url.split(':')[0]}]: {sent_before_kill} page "
          f"messages ({sum(map(len, log.messages[:kill_at]))} records) before the kill, "
          f"{len(left_claimed)} claims left by the killed process, all {BURST} records paged "
          f"{delivered_in:.1f} s after the restart ({total:.1f} s in all), {log.count()} page "
          f"messages, {len(duplicates)} records paged twice: {sorted(duplicates)} (in flight "
          f"at the kill: {in_flight})")

    # The killed process left claims behind (so the takeover was exercised) ...
    assert left_claimed, "the kill left no claim behind: the test did not test the takeover"
    # ... and every page went out: each record in a page message, each paged exactly once.
    assert set(copies) == set(records) and len(records) == BURST
    assert {records[w] for w in copies} == set(range(1, BURST + 1))
    paged = paged_events(database_url)
    assert len(paged) == BURST and {ref for ref, _ in paged} == {
        f"H-{i}" for i in range(1, BURST + 1)}
    assert work_states(database_url) == {("deadline", "done"): BURST, ("page", "done"): BURST}
    assert claimed_rows(database_url) == []
    # Duplicates: the one message in flight at the kill, and only its records, each posted
    # twice (once by the dead process, Slack had it; once by the next), never more.
    assert len(in_flight[0]) == PER_CHANNEL
    assert duplicates == {work_id: 2 for work_id in in_flight[0]}
    assert sum(map(len, log.messages)) == BURST + len(duplicates)
    # The restart took the dead process's claims back at once instead of waiting 5 minutes.
    assert "whose process is gone" in second.log.read_text(), second.tail()


# --- 2. Slack answers 503 for 30 minutes of the injected clock ---

OTHER = "C0CARE02"
FAULT_LADDER = f"""
channel_post_interval = 0

[ladder.default]
remind_before = []
ack_timeout = "4h"

[[ladder.default.tiers]]
name = "Service Manager"
page = "<@{BOB}>"
after = "0m"
"""


def _handoff(person: str, minutes: int) -> str:
    return (f"person: {person} to: Northside Home Care contact: intake desk 555-0100 "
            f"due: in {minutes}m risk: short-term")


@pytest.fixture
def faulty_baton(serve_factory, database_url, tmp_path):
    cfg = tmp_path / "baton.toml"
    cfg.write_text(FAULT_LADDER)
    return serve_factory(database_url, BATON_CONFIG=str(cfg))


@pytest.mark.parametrize("step", [60, 17], ids=["sweep-each-minute", "sweep-every-17s"])
def test_slack_503_for_30_minutes_then_everything_in_deadline_order_once(
        faulty_baton, slack, caplog, step):
    """Six handoffs in two channels fall due 2 to 27 minutes into a 30-minute Slack outage
    (every call answered 503, on the injected clock), the engine sweeping every `step`
    seconds. Nothing may reach Slack during the outage; afterwards every page goes out,
    each record exactly once, none dropped, within MAX_BACKOFF of the recovery, and in
    deadline order: pages falling due together in one channel are one grouped message
    (by design), so the order is that of the messages' earliest deadlines, each message's
    rows in deadline order, and each channel's pages in deadline order.

    (Before the engine held all sends while Slack was down, each page backed off on its
    own: the most overdue had the longest backoff, so after the outage the newest pages
    went out first and H-1, 28 minutes late, up to 5 minutes after them.)"""
    baton = faulty_baton
    deadlines, channels = {}, {}
    for n, minutes in enumerate((2, 7, 12, 17, 22, 27), start=1):
        channel = CHANNEL if n % 2 else OTHER
        assert baton.command("/handoff", _handoff(f"P-{2000 + n}", minutes),
                             channel=channel).status_code == 200
        deadlines[f"H-{n}"] = START + timedelta(minutes=minutes)
        channels[f"H-{n}"] = channel
    with baton.sessions() as s:
        assert {r.reference: r.due_at for r in s.scalars(select(Record))} == deadlines
    log = PageLog(slack)
    outage_end = START + timedelta(minutes=30)
    slack.fail_all(503, until=lambda: baton.clock.now() >= outage_end)

    step = timedelta(seconds=step)
    minute = START
    while minute < outage_end - step:
        minute += step
        baton.clock.set(minute)
        baton.runtime.engine.run_due()
    assert log.count() == 0 and log.failed > 0  # Slack was really down, and really asked
    with baton.sessions() as s:
        status = {r.reference: r.status for r in s.scalars(select(Record))}
    assert set(status.values()) == {"overdue"}  # the deadlines themselves were handled

    recovered_at = None
    while minute < outage_end + 2 * MAX_BACKOFF:
        minute += step
        baton.clock.set(minute)
        baton.runtime.engine.run_due()
        if recovered_at is None and log.count():
            recovered_at = minute
        if len(log.copies()) == len(deadlines):
            break
    first_after, all_after = recovered_at - outage_end, minute - outage_end

    records = record_of_work_in(baton)
    messages = [[records[w] for w in ids] for ids in log.messages]
    order = [ref for refs in messages for ref in refs]
    print(f"\n503 for 30 min, sweeping every {step}: {log.failed} page messages refused "
          f"during the outage; after it, first page {first_after}, all {len(set(order))} by "
          f"{all_after}, messages {messages}")
    assert sorted(set(order)) == sorted(deadlines)  # nothing dropped
    assert len(order) == len(set(order)) == len(deadlines)  # no duplicate

    def in_deadline_order(refs: list[str]) -> bool:
        return [deadlines[r] for r in refs] == sorted(deadlines[r] for r in refs)

    assert all(in_deadline_order(refs) for refs in messages), messages
    assert in_deadline_order([refs[0] for refs in messages]), messages
    for channel in (CHANNEL, OTHER):
        assert in_deadline_order([r for r in order if channels[r] == channel]), messages
    assert all_after <= MAX_BACKOFF
    assert [ref for ref, _ in events_of(baton, "paged")] == order
    with baton.sessions() as s:
        pages = s.scalars(select(DueWork).where(DueWork.kind == "page")).all()
    assert {w.state for w in pages} == {"done"} and len(pages) == len(deadlines)
    assert any("still retrying" in r.getMessage() for r in caplog.records
               if r.levelname == "ERROR"), f"no error logged after {ALARM_AFTER} of failure"


def record_of_work_in(baton) -> dict[int, str]:
    with baton.sessions() as s:
        rows = s.execute(select(DueWork.id, Record.number).join(
            Record, Record.id == DueWork.record_id).where(DueWork.kind == "page")).all()
    return {work_id: f"H-{number}" for work_id, number in rows}


def events_of(baton, kind: str) -> list[tuple[str, object]]:
    with baton.sessions() as s:
        return [(e.record_ref, e.after) for e in s.scalars(
            select(AuditEvent).where(AuditEvent.kind == kind).order_by(AuditEvent.id))]


# --- 3. The database unreachable for a while ---

def says_database_down(reply: str) -> bool:
    """One clear line: the database is the trouble, nothing was saved, try again soon
    (bot.services.TryAgain and handlers.common.guarded word it the same way)."""
    return (reply.startswith(":warning:") and "database is not answering" in reply
            and "nothing was saved. Try again in a minute." in reply)


@pytest.fixture(params=["sqlite", "postgresql"])
def outage_db(request, tmp_path):
    """A database of this test's own (the PostgreSQL outage is real: it must not reach the
    shared test database) and the Outage that takes it away."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'baton.db'}"
        with db(url) as engine:
            migrate(engine)
        yield url, Outage(url)
        return
    request.getfixturevalue("pg_template")  # skips, or fails under BATON_REQUIRE_POSTGRES
    admin = admin_engine(PG_URL)
    name = f"baton_outage_{uuid.uuid4().hex[:10]}"
    request.getfixturevalue("drop_at_exit")(name)  # dropped even if the run is cut short
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_URL.rsplit("/", 1)[0] + "/" + name
    outage = Outage(url, admin, name)
    try:
        with db(url) as engine:
            migrate(engine)
        yield url, outage
    finally:
        outage.end()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def outage_baton(outage_db, serve_factory, tmp_path):
    url, outage = outage_db
    cfg = tmp_path / "baton.toml"
    cfg.write_text(FAULT_LADDER)
    baton = serve_factory(url, BATON_CONFIG=str(cfg), BATON_SWEEP_SECONDS="0.2")
    outage.attach(baton.engine)
    return baton, outage


def _stored(baton) -> dict[str, object]:
    with baton.sessions() as s:
        return {
            "records": s.scalars(select(Record.person_ref).order_by(Record.id)).all(),
            "work_for": set(s.scalars(select(DueWork.record_id))),
            "partners": s.scalars(select(PartnerAgency.display_name)
                                  .order_by(PartnerAgency.id)).all(),
            "counter": s.scalars(select(ReferenceCounter.last)).all(),
        }


def test_database_outage_commands_say_try_again_nothing_half_written_engine_resumes(
        outage_baton, slack, caplog):
    """The database goes away in the middle of a command's transaction (as it inserts its
    audit events, after the record, its partner and its due work were written) and stays
    away. That command and the ones after it are answered 200 (Slack's ack) and then get
    one clear ephemeral "try again" line; nothing of the interrupted command is stored, and
    its saved request (received_requests) is marked finished once the database is back, so
    no process redoes it behind its sender's back.
    The engine's own Waker keeps sweeping (each sweep fails and is logged) and, once the
    database is back, pages the handoff that fell due during the outage, by itself. The
    same command then succeeds, as H-2: the interrupted one did not even use up a number.
    """
    baton, outage = outage_baton
    baton.runtime.start_engine()  # the real Waker: sweeps every 0.2 s on the injected clock
    # Its first sweep tells the channel nobody is coordinator today (an audit event): let
    # it finish, so the outage armed below strikes the command and not that notice.
    assert baton.runtime.sweep_now(timeout=30)
    log = PageLog(slack)
    assert baton.command("/handoff", _handoff("P-3001", 30)).status_code == 200
    before = _stored(baton)
    assert before["records"] == ["P-3001"] and before["counter"] == [1]
    assert before["partners"] == ["Northside Home Care"]

    failed = ("person: P-3002 to: Riverside Behavioral Health contact: front desk 555-0111 "
              "due: in 45m risk: short-term")
    outage.arm("INSERT INTO audit_events")
    resp = baton.command("/handoff", failed)
    assert outage.triggered.wait(30), "the outage did not start inside the command"
    # It struck after the command had written its partner, its record and its due work:
    written = set(outage.before_trigger)
    assert {"INSERT INTO PARTNER_AGENCIES", "INSERT INTO RECORDS",
            "INSERT INTO DUE_WORK"} <= written, outage.before_trigger
    assert resp.status_code == 200 and says_database_down(baton.last_reply()), \
        baton.last_reply()
    replies = len(baton.replies())
    for command, text_ in (("/baton", "list"), ("/handoff", failed), ("/baton", "show H-1"),
                           ("/baton", "coordinator")):
        resp = baton.command(command, text_)
        assert resp.status_code == 200, (command, text_, resp.status_code)
        assert says_database_down(baton.last_reply()), (command, text_, baton.last_reply())
    resp = baton.click(ActionId.PARTNER_ACK, "1")
    assert resp.status_code == 200 and says_database_down(baton.last_reply()), \
        baton.last_reply()
    assert len(baton.replies()) == replies + 5  # one line each: not silence, not two
    assert httpx.get(f"{baton.url}/healthz", timeout=5).status_code == 503

    # H-1 falls due during the outage: the engine keeps trying, and keeps running.
    baton.clock.set(START + timedelta(minutes=31))
    for _ in range(3):
        assert baton.runtime.sweep_now(10), "the engine's loop stopped sweeping"
    assert log.count() == 0
    assert any("sweep failed" in r.getMessage() for r in caplog.records)
    # The failed command's request was saved; its row can't be deleted while the database
    # is away, and is kept (not redone) until it can.
    assert any(r.getMessage().startswith("could not mark ") and "received request(s)"
               in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.name == "baton.handlers" and r.exc_info], \
        "a database outage is one log line per command, not a traceback"

    outage.end()
    assert log.wait_until(lambda pl: pl.count() >= 1, 15), "the engine did not resume"
    assert baton.runtime.sweep_now(10)  # the sweep that sent it has committed by now
    after = _stored(baton)
    assert after["records"] == before["records"]  # nothing of P-3002 ...
    assert after["partners"] == before["partners"]  # ... not its new partner ...
    assert after["counter"] == before["counter"]  # ... nor its number ...
    assert after["work_for"] == before["work_for"] == {1}  # ... nor its due work
    with baton.sessions() as s:
        assert s.scalars(select(AuditEvent.kind).where(AuditEvent.record_ref == "H-2")).all() \
            == []
        assert s.scalar(select(Record.status).where(Record.number == 1)) == "overdue"
    assert [ref for ref, _ in events_of(baton, "paged")] == ["H-1"]
    assert httpx.get(f"{baton.url}/healthz", timeout=5).status_code == 200

    # The request whose work failed was answered ("try again"): once the database is back
    # it is marked finished, so no process redoes it behind its sender's back.
    with baton.sessions() as s:
        assert s.scalars(select(ReceivedRequest.id)).all() == []

    resp = baton.command("/handoff", failed)
    assert resp.status_code == 200 and not says_database_down(baton.last_reply())
    assert _stored(baton)["records"] == ["P-3001", "P-3002"]
    with baton.sessions() as s:
        assert s.scalar(select(Record.number).where(Record.person_ref == "P-3002")) == 2


def test_sigkill_with_answered_commands_unfinished_then_restart_does_every_one(
        database_url, tmp_path):
    """Twenty /handoff commands are answered 200 while Slack holds each reply, so
    `serve`'s four workers are each in the middle of one (its record saved, its reply with
    Slack) and sixteen have not started when the process is SIGKILLed. Every request was
    saved a moment after its 200 (received_requests): the next `serve` on the same database finds
    the dead process's requests and does them. Every command ends with exactly one record,
    every person gets their reply, and the only repeats are the replies that were with
    Slack at the kill (at most one a worker); nothing is left unfinished."""
    _fresh(database_url)
    commands = 20
    with fault_slack() as slack:
        env = serve_env(database_url, slack, BATON_WORKERS="4", BATON_SWEEP_SECONDS="0.5")
        first = ServeProcess(env, tmp_path / "serve-1.log")
        second = ServeProcess(env, tmp_path / "serve-2.log")
        slack.add_user(BOB, tz="America/New_York")
        # Slack holds each reply until the kill: not a latency, which a loaded machine could
        # outlast before the twenty requests were even sent (then replies finished, their
        # requests were forgotten, and more than four had been heard at the kill).
        release = threading.Event()
        slack.on_call(lambda call: release.wait(25) if call.method == "response_url" else None)
        try:
            first.start()
            for n in range(commands):
                body = wire.slash_command(
                    "/handoff", f"person: P-{5001 + n} to: Northside Home Care contact: "
                    "intake desk 555-0100 due: in 2h risk: short-term", user=BOB,
                    channel=CHANNEL, team=SEED_TEAM, trigger_id=f"kill-{n}",
                    response_url=slack.response_url(f"h{n}"))
                resp = httpx.post(f"http://127.0.0.1:{first.port}/slack/events", content=body,
                                  headers=wire.signed_headers(body, env["SLACK_SIGNING_SECRET"]),
                                  timeout=5)
                assert resp.status_code == 200 and resp.content == b"", resp.text
            slack.wait_for("response_url", count=4, timeout=60)  # all four workers busy
            # Each request is saved a moment after its 200 (by the saver thread): the kill
            # comes once all are, as it would a few milliseconds later in real life.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # another process's progress, not a deadline
                with db(database_url) as eng, eng.connect() as c:
                    saved = c.execute(select(func.count()).select_from(ReceivedRequest)
                                      ).scalar()
                if saved == commands:
                    break
                time.sleep(0.02)
            first.signal(signal.SIGKILL)
            assert first.wait(10) == -signal.SIGKILL
            heard_before_kill = {c.params["_key"] for c in slack.calls_to("response_url")}
            assert len(heard_before_kill) <= 4
            with db(database_url) as eng, eng.connect() as c:
                left = c.execute(select(func.count()).select_from(ReceivedRequest)).scalar()
            assert left == commands  # none finished: each reply was still with Slack

            release.set()
            second.start()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # another process's progress, not a deadline
                keys = {c.params["_key"] for c in slack.calls_to("response_url")}
                if len(keys) >= commands:
                    break
                time.sleep(0.1)
            assert len(keys) == commands, (sorted(keys), second.tail())
        finally:
            release.set()
            first.stop()
            second.stop()
    with db(database_url) as eng, eng.connect() as c:
        refs = c.execute(select(Record.person_ref, func.count()).group_by(Record.person_ref)
                         ).all()
        unfinished = c.execute(select(func.count()).select_from(ReceivedRequest)).scalar()
    assert sorted(refs) == [(f"P-{5001 + n}", 1) for n in range(commands)]  # once each
    assert unfinished == 0
    replies = Counter(c.params["_key"] for c in slack.calls_to("response_url"))
    repeated = {k for k, n in replies.items() if n > 1}
    assert repeated <= heard_before_kill  # only what Slack had heard when the process died
    assert all(n <= 2 for n in replies.values())
    assert all("Logged" in str(c.params.get("text", "")) or "H-" in str(c.params.get("text"))
               for c in slack.calls_to("response_url"))
    assert "redoing received request" in second.tail(200)


def _card_of(call) -> str | None:
    """The person reference of the record a top-level message in CHANNEL is the card of
    (from its text, so a card posted without metadata counts too)."""
    if call.method != "chat.postMessage" or call.params.get("thread_ts") or \
            call.params.get("channel") != CHANNEL or not call.response.get("ok"):
        return None
    found = re.search(r"P-\d+", str(call.params.get("text", "")))
    return found.group(0) if found else None


def test_sigkill_after_cards_reached_slack_then_restart_posts_no_second_card(
        database_url, tmp_path):
    """Eight /handoff commands while Slack takes 8 s to answer each chat.postMessage: the
    four workers each make a record and send its card, Slack has the card, and the process
    is SIGKILLed before any answer comes back, so no card's ts was saved. The next `serve`
    redoes every request: each of the four finds its card in the channel's history (by its
    message metadata) and adopts it, the other four post theirs. One card per record, each
    the one the database points at; every person gets their reply."""
    _fresh(database_url)
    commands, workers = 8, 4
    with fault_slack() as slack:
        env = serve_env(database_url, slack, BATON_WORKERS=str(workers),
                        BATON_SWEEP_SECONDS="0.5")
        first = ServeProcess(env, tmp_path / "serve-1.log")
        second = ServeProcess(env, tmp_path / "serve-2.log")
        slack.add_user(BOB, tz="America/New_York")
        cards: list[tuple[str, str]] = []  # (person ref, ts) of each card Slack accepted
        seen = threading.Condition()

        def on_call(call) -> None:
            record = _card_of(call)
            if record is not None:
                with seen:
                    cards.append((record, str(call.response["ts"])))
                    seen.notify_all()

        slack.on_call(on_call)
        try:
            first.start()
            # Slow enough that no card is answered before all eight are sent and saved on a
            # loaded machine; within the 10 s Baton's Slack client waits.
            slack.set_latency(8.0, method="chat.postMessage")
            for n in range(commands):
                body = wire.slash_command(
                    "/handoff", f"person: P-{6001 + n} to: Northside Home Care contact: "
                    "intake desk 555-0100 due: in 2h risk: short-term", user=BOB,
                    channel=CHANNEL, team=SEED_TEAM, trigger_id=f"card-{n}",
                    response_url=slack.response_url(f"k{n}"))
                resp = httpx.post(f"http://127.0.0.1:{first.port}/slack/events", content=body,
                                  headers=wire.signed_headers(body, env["SLACK_SIGNING_SECRET"]),
                                  timeout=5)
                assert resp.status_code == 200, resp.text
            with seen:  # every worker's card is with Slack, unanswered
                assert seen.wait_for(lambda: len(cards) >= workers, 30), first.tail()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # another process's progress, not a deadline
                with db(database_url) as eng, eng.connect() as c:
                    saved = c.execute(select(func.count()).select_from(ReceivedRequest)
                                      ).scalar()
                if saved == commands:
                    break
                time.sleep(0.02)
            first.signal(signal.SIGKILL)
            assert first.wait(10) == -signal.SIGKILL
            with seen:
                in_slack = dict(cards)
            with db(database_url) as eng, eng.connect() as c:
                unsaved = {p for p, ts in c.execute(select(Record.person_ref, Record.card_ts))
                           if ts is None}
            # The window this is about: cards Slack has whose ts the database lacks.
            assert len(in_slack) == workers and set(in_slack) <= unsaved, (in_slack, unsaved)

            slack.set_latency(0, method="chat.postMessage")
            second.start()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # another process's progress, not a deadline
                keys = {c.params["_key"] for c in slack.calls_to("response_url")}
                if len(keys) >= commands:
                    break
                time.sleep(0.1)
            assert len(keys) == commands, (sorted(keys), second.tail())
        finally:
            first.stop()
            second.stop()
    with db(database_url) as eng, eng.connect() as c:
        stored = dict(c.execute(select(Record.person_ref, Record.card_ts)).all())
    per_record = Counter(record for record, _ in cards)
    print(f"\nSIGKILL after cards reached Slack [{database_url.split(':')[0]}]: "
          f"{len(in_slack)} cards with Slack at the kill, their ts unsaved; after the restart "
          f"{len(cards)} cards for {len(stored)} records: {dict(per_record)}")
    assert len(stored) == commands
    assert per_record == {record: 1 for record in stored}  # one card each, never two
    # Each record points at its one card: the four adopted are those the dead process sent.
    assert {record: ts for record, ts in cards} == stored
    assert all(stored[record] == ts for record, ts in in_slack.items())
    assert "adopted, not posted again" in second.tail(200)


# --- 4. SIGTERM: the send in flight finishes, claims go back, out within 10 s ---

def test_sigterm_mid_burst_finishes_the_send_in_flight_and_gives_back_its_claims(
        database_url, tmp_path):
    """A slow Slack (50 ms a message) and 200 pages due at once, five to a channel (40
    grouped messages): SIGTERM arrives while Slack holds page message #12 (and takes a
    second to answer it). That send finishes and is recorded (done, a 'paged' event for each
    of its 5 records); nothing more is sent; the process gives back the 140 pages it had
    claimed but not sent (no row left claimed) and exits 0 within 10 s. A restart then
    sends exactly the rest: a clean stop duplicates nothing."""
    _fresh(database_url)
    count, per_channel, term_at = 200, 5, 12
    seed_overdue(database_url, count, due_at=datetime.now(UTC) - timedelta(minutes=10),
                 per_channel=per_channel)
    with fault_slack() as slack:
        slack.set_latency(0.05, "chat.postMessage")
        log = PageLog(slack)
        env = serve_env(database_url, slack)
        first = ServeProcess(env, tmp_path / "serve-1.log")
        second = ServeProcess(env, tmp_path / "serve-2.log")
        sent_at: list[float] = []
        in_flight: list[list[int]] = []

        def terminate() -> None:  # inside the emulator, before it answers message #term_at
            first.signal(signal.SIGTERM)
            sent_at.append(time.monotonic())
            in_flight.append(log.messages[term_at - 1])
            time.sleep(1.0)  # Slack is slow to answer this one: it is surely in flight

        log.at(term_at, terminate)
        try:
            first.start()
            assert log.wait_until(lambda pl: bool(sent_at), 60), first.tail()
            try:
                code = first.wait(15)
            except subprocess.TimeoutExpired:
                pytest.fail(f"serve did not exit within 15 s of SIGTERM:\n{first.tail()}")
            exit_s = time.monotonic() - sent_at[0]
            after_stop = log.count()
            states = work_states(database_url)
            left_claimed = claimed_rows(database_url)
            paged_at_stop = paged_events(database_url)
            second.start()
            everything = log.wait_until(lambda pl: len(pl.copies()) >= count, 60)
            assert everything, f"only {len(log.copies())} of {count}:\n{second.tail()}"
        finally:
            first.stop()
            second.stop()

    records = record_of_work(database_url)
    sent = term_at * per_channel
    print(f"\nSIGTERM mid-burst [{database_url.split(':')[0]}]: exit code {code} "
          f"{exit_s:.2f} s after SIGTERM; {after_stop} page messages ({sent} records) by "
          f"then (in flight: {in_flight}), {states[('page', 'pending')]} pages given back, "
          f"{len(left_claimed)} rows left claimed; after the restart {log.count()} messages "
          f"for {len(log.copies())} pages")
    assert code == 0 and exit_s < 10, first.tail()
    assert left_claimed == []  # nothing left to a lease
    # The send in flight finished and was recorded; nothing was sent after it.
    assert after_stop == term_at
    assert len(in_flight[0]) == per_channel
    assert len(paged_at_stop) == sent
    assert {(f"H-{records[w]}", 1) for w in in_flight[0]} <= set(paged_at_stop)
    assert states[("page", "done")] == sent
    assert states[("page", "pending")] == count - sent  # given back, unsent
    # A clean stop duplicates nothing: after the restart each page went out exactly once.
    assert set(log.copies().values()) == {1} and len(log.copies()) == count
    assert log.count() == count // per_channel
    assert len(paged_events(database_url)) == count
    assert claimed_rows(database_url) == []


# --- the emulator's fault modes these tests use ---

def test_emulator_outage_window_recover_and_latency():
    clock = FixedClock(START)
    with SlackEmulator() as slack:
        slack.add_channel("C1", "c1")
        client = WebClient(token="xoxb-x", base_url=slack.base_url)
        slack.fail_all(503, method="chat.postMessage",
                       until=lambda: clock.now() >= START + timedelta(minutes=30))
        for _ in range(3):
            with pytest.raises(SlackApiError) as err:
                client.chat_postMessage(channel="C1", text="down")
            assert err.value.response.status_code == 503
        assert client.auth_test()["ok"]  # other methods are not in this outage
        clock.advance(timedelta(minutes=30))
        assert client.chat_postMessage(channel="C1", text="back")["ok"]
        slack.fail_all(503)
        with pytest.raises(SlackApiError):
            client.auth_test()
        slack.recover()
        assert client.auth_test()["ok"]
        slack.set_latency(0.3, "auth.test")
        t = time.monotonic()
        client.auth_test()
        assert time.monotonic() - t >= 0.3
        slack.set_latency(0, "auth.test")
        t = time.monotonic()
        client.chat_postMessage(channel="C1", text="quick")
        assert time.monotonic() - t < 0.3
        assert [c.params["text"] for c in slack.calls_to("chat.postMessage")
                if c.response.get("ok")] == ["back", "quick"]
