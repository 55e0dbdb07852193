"""Fixtures: a migrated database (SQLite by default, PostgreSQL where reachable), the Slack
emulator on loopback, and Baton's real WSGI app served by waitress on a free port."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bot.app import build_app, wsgi_app
from bot.clock import FixedClock
from bot.console.emulator import SlackEmulator
from bot.settings import Settings, load_settings
from bot.slack import wire
from bot.slack.clients import make_client
from bot.web.server import make_server
from store.db import make_engine, make_session_factory, migrate

SECRET = "test-signing-secret"
TEAM = "T0BATON"
CHANNEL = "C0CARE01"
ALICE = "U0ALICE01"  # a care coordinator, America/New_York
BOB = "U0BOB0001"  # a service manager, America/Los_Angeles
WORKSPACE_CHANNELS = {
    CHANNEL: "care-coordination", "C0CARE02": "care-east", "C0CARE001": "care-west",
    "C0OTHER01": "intake", "C0ESCAL01": "escalations", "C0COORD01": "coordination",
    "C0GOVERN1": "clinical-governance", "C0GOVONE1": "governance-agency-one",
    "C0GLOBAL1": "all-agencies", "C0GOV": "governance",
}
# A Monday morning in New York: 2026-11-23 09:00 EST.
START = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)

PG_URL = os.environ.get("BATON_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_available() -> str | None:
    try:
        eng = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1),
                            connect_args={"connect_timeout": 2})
        with eng.connect() as c:
            c.execute(text("SELECT 1"))
        eng.dispose()
        return None
    except Exception as exc:  # any failure: say why and skip
        return f"PostgreSQL not reachable at {PG_URL} ({type(exc).__name__}); set " \
               "BATON_TEST_DATABASE_URL to run these tests"


# Dropped however the run ends. A hung test is ended by pytest-timeout with os._exit (no
# fixture teardown after it), CI may SIGKILL the run: a database left behind each time would
# pile up on the shared server. A process of its own, in its own session (so a Ctrl-C or a
# signal to the run's process group does not reach it), holds the names of this run's
# databases and drops them when its stdin closes, which is when this process ends, however.
_JANITOR = """
import sys
from sqlalchemy import create_engine, text
names = [line.strip() for line in sys.stdin if line.strip()]  # until the run has ended
if not names:
    sys.exit(0)
admin = create_engine(sys.argv[1], isolation_level="AUTOCOMMIT")
with admin.connect() as c:
    for name in names:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
"""


@pytest.fixture(scope="session")
def drop_at_exit() -> Iterator[Any]:
    """drop_at_exit(name): the PostgreSQL database `name` is dropped when this test run
    ends, even if it ends by os._exit or SIGKILL (its fixture drops it first if it can)."""
    janitor = subprocess.Popen(
        [sys.executable, "-c", _JANITOR,
         PG_URL.replace("postgresql://", "postgresql+psycopg://", 1)],
        stdin=subprocess.PIPE, text=True, start_new_session=True)
    assert janitor.stdin is not None

    def drop(name: str) -> None:
        janitor.stdin.write(name + "\n")
        janitor.stdin.flush()

    yield drop
    janitor.stdin.close()
    janitor.wait(timeout=60)


@pytest.fixture(scope="session")
def pg_template(drop_at_exit: Any) -> Iterator[str]:
    """A private database for this test run, migrated once."""
    why = _pg_available()
    if why:
        if os.environ.get("BATON_REQUIRE_POSTGRES") == "1":
            pytest.fail(why)
        pytest.skip(why)
    name = f"baton_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_URL.replace("postgresql://", "postgresql+psycopg://", 1),
                          isolation_level="AUTOCOMMIT")
    drop_at_exit(name)
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = PG_URL.rsplit("/", 1)[0] + "/" + name
        eng = make_engine(url)
        migrate(eng)
        eng.dispose()
        yield url
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# What a test that failed half-way may leave behind: a connection idle in a transaction
# that holds locks (its test never reached its rollback). The next test's TRUNCATE would
# wait behind it for ever; it is ended instead. Only this run's own database is touched.
_LEFT_OPEN = text(
    "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid() "
    "AND state IN ('idle in transaction', 'idle in transaction (aborted)')")
_OTHERS = text(
    "SELECT pid, state, wait_event_type, wait_event, left(query, 120) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()")


def _truncate(engine: Engine) -> None:
    # Every table the models know (a new one can't be forgotten here).
    from store.models import Base

    tables = ", ".join(Base.metadata.tables)
    for attempt in range(3):
        with engine.connect() as c:
            c = c.execution_options(isolation_level="AUTOCOMMIT")
            c.execute(_LEFT_OPEN).all()
        try:
            with engine.begin() as c:
                # A lock still held (a backend busy for a test that is over) fails the
                # TRUNCATE in seconds, to be tried again, instead of hanging the run.
                c.execute(text("SET LOCAL lock_timeout = '10s'"))
                c.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
            return
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != "55P03" or attempt == 2:  # lock_not_available
                with engine.connect() as c:
                    others = c.execute(_OTHERS).all()
                raise RuntimeError(f"could not empty the test database: {exc.orig}; other "
                                   f"connections to it: {others}") from exc


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'baton.db'}"
        eng = make_engine(url)
        migrate(eng)
        eng.dispose()
        yield url
    else:
        url = request.getfixturevalue("pg_template")
        eng = make_engine(url)
        _truncate(eng)
        eng.dispose()
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Any) -> str:
    url = f"sqlite:///{tmp_path / 'baton.db'}"
    eng = make_engine(url)
    migrate(eng)
    eng.dispose()
    return url


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def slack(clock: FixedClock) -> Iterator[SlackEmulator]:
    emu = SlackEmulator(team_id=TEAM).start()
    emu.follow_clock(clock.now)  # moving Baton's clock moves Slack's too
    emu.add_user(ALICE, name="alice", tz="America/New_York")
    emu.add_user(BOB, name="bob", tz="America/Los_Angeles", is_admin=True)  # a Slack admin
    # The workspace's channels, Baton a member of each (a test of an unreachable channel
    # adds its own with is_member=False or archives one).
    for channel_id, name in WORKSPACE_CHANNELS.items():
        emu.add_channel(channel_id, name)
    yield emu
    emu.stop()


@dataclass
class Served:
    """A running `serve`: Baton's WSGI app on waitress, talking to the emulator."""

    url: str
    slack: SlackEmulator
    sessions: sessionmaker[Session]
    engine: Engine
    clock: FixedClock
    runtime: Any
    http: httpx.Client
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def post(self, body: str, *, headers: dict[str, str] | None = None,
             timestamp: int | None = None) -> httpx.Response:
        h = headers if headers is not None else wire.signed_headers(body, SECRET,
                                                                    timestamp=timestamp)
        return self.http.post(f"{self.url}/slack/events", content=body, headers=h)

    def command(self, command: str, text: str, *, user: str = ALICE, channel: str = CHANNEL,
                team: str = TEAM, trigger_id: str | None = None) -> httpx.Response:
        n = next(self._ids)
        body = wire.slash_command(command, text, user=user, channel=channel, team=team,
                                  trigger_id=self.slack.issue_trigger(trigger_id),
                                  response_url=self.slack.response_url(f"r{n}"))
        resp = self.post(body)
        self.runtime.wait_idle(timeout=60)
        return resp

    def click(self, action_id: str, value: str, *, user: str = ALICE, channel: str = CHANNEL,
              message_ts: str = "1.0", team: str = TEAM) -> httpx.Response:
        n = next(self._ids)
        body = wire.block_actions(action_id=action_id, value=value, user=user, team=team,
                                  channel=channel, message_ts=message_ts,
                                  trigger_id=self.slack.issue_trigger(),
                                  response_url=self.slack.response_url(f"c{n}"))
        resp = self.post(body)
        self.runtime.wait_idle(timeout=60)
        return resp

    def submit(self, view: dict[str, Any], answers: dict[str, str], *, user: str = ALICE,
               team: str = TEAM) -> httpx.Response:
        body = wire.view_submission(view=view, values=wire.state_for(view, answers), user=user,
                                    team=team)
        resp = self.post(body)
        self.runtime.wait_idle(timeout=60)
        return resp

    def replies(self) -> list[str]:
        """Texts only the caller saw (response_url posts and ephemerals), oldest first."""
        out = []
        for call in self.slack.calls:
            if call.method in ("response_url", "chat.postEphemeral"):
                out.append(str(call.params.get("text", "")))
        return out

    def last_reply(self) -> str:
        replies = self.replies()
        assert replies, "Baton sent no ephemeral reply"
        return replies[-1]


def make_settings(database_url: str, slack: SlackEmulator, **extra: Any) -> Settings:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SECRET,
        "DATABASE_URL": database_url,
        "SLACK_API_URL": slack.base_url,
    }
    env.update({k: str(v) for k, v in extra.items()})
    return load_settings(env)


def _serve_until_closed(server: Any) -> None:
    # close() closes every socket in waitress's map, which ends its loop: that is the stop.
    with contextlib.suppress(OSError, ValueError):
        server.run()


@pytest.fixture
def serve_factory(slack: SlackEmulator, clock: FixedClock) -> Iterator[Any]:
    started: list[tuple[Any, Any, Any, httpx.Client]] = []

    def start(database_url: str, *, wall_clock: Any = None, **extra: Any) -> Served:
        settings = make_settings(database_url, slack, **extra)
        engine = make_engine(database_url)
        sessions = make_session_factory(engine)
        app, runtime = build_app(settings, client=make_client(settings), session_factory=sessions,
                                 clock=clock, redo="http")
        # The same server `baton serve` runs (bot.web.server.make_server: its limits and deadlines).
        server = make_server(wsgi_app(app, runtime, sessions, wall_clock=wall_clock), settings,
                             host="127.0.0.1", port=0, threads=8)
        port = server.effective_listen[0][1]
        thread = threading.Thread(target=_serve_until_closed, args=(server,), daemon=True)
        thread.start()
        http = httpx.Client(timeout=10)
        started.append((server, runtime, engine, http))
        return Served(f"http://127.0.0.1:{port}", slack, sessions, engine, clock, runtime, http)

    yield start
    for server, runtime, engine, http in started:
        http.close()
        server.close()
        runtime.close()
        engine.dispose()


@pytest.fixture
def baton(serve_factory: Any, database_url: str) -> Served:
    return serve_factory(database_url)


def blocks_of(call: Any) -> list[dict[str, Any]]:
    value = call.json_param("blocks")
    return json.loads(value) if isinstance(value, str) else (value or [])
