"""Helpers for tests/e2e/test_faults.py: many due pages seeded straight into the database, a
real `baton serve` process, the pages the Slack emulator received, and a database outage.

Nothing here sleeps to pass a deadline: the subprocess tests run on the wall clock with
deadlines already past when they start, and the in-process tests move the injected clock.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Self

import httpx
from sqlalchemy import Engine, create_engine, event, func, insert, select, text

from bot.console.emulator import Call, SlackEmulator
from bot.domain.ladder import Ladder, Target, Tier
from store.db import make_engine
from store.models import AuditEvent, DueWork, PartnerAgency, Record, ReferenceCounter

ROOT = Path(__file__).resolve().parents[2]
SEED_TEAM = "T0FAULTS"
PAGER = "U0PAGER01"  # tier 1 of the seeded ladder pages this user
OWNER = "U0OWNER01"
COORDINATION = "C0COORD01"  # where housekeeping notices go, away from the pages
GOVERNANCE = "C0GOVERN1"

# One tier, no reminders: each seeded record makes exactly one page, its tier-1 page.
ONE_TIER = Ladder(name="faults", tiers=(Tier("Service Manager", Target("user", PAGER)),),
                  remind_before=(), ack_timeout=timedelta(hours=4))


def fault_slack(team_id: str = SEED_TEAM, **options: Any) -> SlackEmulator:
    """The Slack these tests run against: the workspace's channels (those seed_overdue
    uses among them, Baton a member of each) and its people, as in the conftest fixture."""
    from tests.conftest import ALICE, BOB, WORKSPACE_CHANNELS

    emu = SlackEmulator(team_id=team_id, **options)
    for channel_id, name in WORKSPACE_CHANNELS.items():
        emu.add_channel(channel_id, name)
    for i in range(400):  # seed_overdue's channels: C0F000000 ...
        emu.add_channel(f"C0F{i:06d}", f"seeded-{i}")
    for user in (ALICE, BOB, PAGER, OWNER):
        emu.add_user(user)
    return emu


def seed_overdue(url: str, count: int, *, due_at: datetime, per_channel: int = 1) -> None:
    """`count` pending handoffs H-1..H-count, deadline `due_at`, with their deadline work:
    the engine marks them overdue and pages tier 1 for each. Pages group per channel and
    tier (up to pages.PAGE_GROUP a message), so the records go `per_channel` to a channel,
    H-1..H-n in the first: with 1, each page is a message of its own."""
    engine = make_engine(url)
    try:
        with engine.begin() as c:
            partner = c.execute(insert(PartnerAgency).returning(PartnerAgency.id), {
                "team_id": SEED_TEAM, "key": "northside home care",
                "display_name": "Northside Home Care", "created_at": due_at}).scalar_one()
            c.execute(insert(ReferenceCounter), [{"team_id": SEED_TEAM, "kind": "handoff",
                                                  "last": count}])
            c.execute(insert(Record), [{
                "id": i, "team_id": SEED_TEAM, "kind": "handoff", "number": i,
                "person_ref": f"P-{1000 + i}", "partner_id": partner, "risk": "short-term",
                "status": "pending", "due_at": due_at, "owner_id": OWNER,
                "channel_id": f"C0F{(i - 1) // per_channel:06d}", "created_by": OWNER,
                "created_at": due_at - timedelta(days=1), "updated_at": due_at,
                "receiving_contact": "intake desk 555-0100", "ladder": ONE_TIER.to_json(),
                "tz": "America/New_York", "version": 1,
            } for i in range(1, count + 1)])
            c.execute(insert(DueWork), [{
                "team_id": SEED_TEAM, "record_id": i, "kind": "deadline", "due_at": due_at,
                "ready_at": due_at, "tier": None, "reason": "overdue", "state": "pending",
                "attempts": 0, "created_at": due_at - timedelta(days=1),
            } for i in range(1, count + 1)])
            if engine.dialect.name == "postgresql":
                c.execute(text("SELECT setval(pg_get_serial_sequence('records', 'id'), :n)"),
                          {"n": count})
    finally:
        engine.dispose()


@contextlib.contextmanager
def db(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def paged_events(url: str) -> list[tuple[str, int]]:
    """(record reference, tier) of every 'paged' audit event."""
    with db(url) as engine, engine.connect() as c:
        return [(r, t) for r, t in c.execute(
            select(AuditEvent.record_ref, AuditEvent.after).where(AuditEvent.kind == "paged")
            .order_by(AuditEvent.id))]


def work_states(url: str) -> Counter[tuple[str, str]]:
    """(kind, state) -> how many due_work rows."""
    with db(url) as engine, engine.connect() as c:
        return Counter({(k, s): n for k, s, n in c.execute(
            select(DueWork.kind, DueWork.state, func.count()).group_by(DueWork.kind,
                                                                       DueWork.state))})


def claimed_rows(url: str) -> list[tuple[int, str | None]]:
    """(id, claimed_by) of every due_work row still claimed."""
    with db(url) as engine, engine.connect() as c:
        return [(i, w) for i, w in c.execute(
            select(DueWork.id, DueWork.claimed_by).where(DueWork.state == "claimed"))]


def record_of_work(url: str) -> dict[int, int]:
    """due_work id -> record id, for the page rows."""
    with db(url) as engine, engine.connect() as c:
        return dict(c.execute(select(DueWork.id, DueWork.record_id)
                              .where(DueWork.kind == "page")).all())


# --- the pages Slack received ---

def page_ids(call: Call) -> list[int]:
    """The due_work ids of the page rows a message carries (`page:<id>` action blocks)."""
    blocks = call.json_param("blocks") or []
    return [int(str(b["block_id"]).split(":", 1)[1]) for b in blocks
            if isinstance(b, dict) and str(b.get("block_id", "")).startswith("page:")]


class PageLog:
    """Every page message the emulator accepted, in arrival order, as the due_work ids it
    carried; and hooks run inside the emulator while it holds the n-th page's answer (the
    message is recorded: Slack has it; the sender has not heard back yet)."""

    def __init__(self, slack: SlackEmulator) -> None:
        self.messages: list[list[int]] = []
        self.failed = 0  # page messages Slack refused
        self._hooks: dict[int, Callable[[], None]] = {}
        self._cond = threading.Condition()
        slack.on_call(self._seen)

    def _seen(self, call: Call) -> None:
        if call.method != "chat.postMessage" or call.params.get("thread_ts"):
            return
        ids = page_ids(call)
        if not ids:
            return
        with self._cond:
            if not call.response.get("ok"):
                self.failed += 1
                return
            self.messages.append(ids)
            hook = self._hooks.pop(len(self.messages), None)
            self._cond.notify_all()
        if hook is not None:
            hook()

    def at(self, n: int, hook: Callable[[], None]) -> None:
        with self._cond:
            self._hooks[n] = hook

    def count(self) -> int:
        with self._cond:
            return len(self.messages)

    def copies(self) -> Counter[int]:
        """due_work id -> in how many accepted messages it was."""
        with self._cond:
            return Counter(i for ids in self.messages for i in ids)

    def wait_until(self, done: Callable[[PageLog], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not done(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))
            return True


# --- a real `baton serve` ---

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_env(database_url: str, slack: SlackEmulator, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
        "DATABASE_URL": database_url, "SLACK_BOT_TOKEN": "xoxb-faults",
        "SLACK_SIGNING_SECRET": "faults-secret", "SLACK_API_URL": slack.base_url,
        "BATON_COORDINATION_CHANNEL": COORDINATION, "BATON_GOVERNANCE_CHANNEL": GOVERNANCE,
        "BATON_LOG_LEVEL": "INFO", **extra,
    }


class ServeProcess:
    """`baton serve` in a process of its own, its output in a file (a pipe nobody reads
    would fill and stall it)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> Self:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "serve", "--port", str(self.port), "--host",
                 "127.0.0.1", "--threads", "4"],
                env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # waiting for a process to bind, not a deadline
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz",
                             timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"serve did not answer /healthz in {timeout:g} s:\n{self.tail()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self) -> None:
        """Teardown: SIGTERM, then SIGKILL if it lingers; always reaped."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(10)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


# --- the database going away ---

class Outage:
    """The database becomes unreachable, at once or in the middle of a transaction.

    PostgreSQL: really. The database stops accepting connections (ALLOW_CONNECTIONS false)
    and every backend serving it is terminated, so open connections die mid-use and new
    ones are refused, as when the server goes down. SQLite (a file, it cannot go away):
    every statement on Baton's engine fails with sqlite3.OperationalError until it ends.
    """

    def __init__(self, url: str, admin: Engine | None = None, name: str | None = None) -> None:
        self.url = url
        self._admin = admin
        self._name = name
        self.active = False
        self._armed: str | None = None
        self.triggered = threading.Event()
        self.before_trigger: list[str] = []  # statements run after arm(), up to the trigger

    def attach(self, engine: Engine) -> None:
        """Watch Baton's own engine (for arm(), and for SQLite's failures)."""
        event.listen(engine, "before_cursor_execute", self._before_execute)

    def _before_execute(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # The engine's own thread (its sweeps and housekeeping also write audit events) never
        # springs the trap: it is set for a request's work.
        if self._armed is not None and threading.current_thread().name != "baton-engine":
            if statement.lstrip().upper().startswith(self._armed):
                self._armed = None
                self.triggered.set()  # before start(): that waits for backends to exit
                self.start()
            else:
                self.before_trigger.append(" ".join(statement.split()[:3]).upper())
        if self.active and self._admin is None:
            raise sqlite3.OperationalError("unable to open database file")

    def arm(self, statement_prefix: str) -> None:
        """Start the outage when Baton next runs a statement beginning so (that statement
        and the rest of its transaction fail)."""
        self.before_trigger.clear()
        self._armed = statement_prefix.upper()

    def start(self) -> None:
        self.active = True
        if self._admin is not None:
            with self._admin.connect() as c:
                c.execute(text(f'ALTER DATABASE "{self._name}" ALLOW_CONNECTIONS false'))
                alive = text("SELECT pid FROM pg_stat_activity WHERE datname = :name")
                c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = :name"), {"name": self._name})
                deadline = time.monotonic() + 30
                while c.execute(alive, {"name": self._name}).first() is not None:
                    assert time.monotonic() < deadline, "backends outlived pg_terminate_backend"
                    time.sleep(0.01)  # a backend takes a moment to exit

    def end(self) -> None:
        if self._admin is not None:
            with self._admin.connect() as c:
                c.execute(text(f'ALTER DATABASE "{self._name}" ALLOW_CONNECTIONS true'))
        self.active = False


def admin_engine(pg_url: str) -> Engine:
    return create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1),
                         isolation_level="AUTOCOMMIT")
