"""`baton socket` end to end: a real `baton socket` process (python -m bot.cli socket) connects
to the emulator's Socket Mode server (bot/console/emulator/socket_mode.py) with an app-level
token and is driven through a /handoff, a card button, a form and its field errors, a refresh
and an abrupt drop of its connection; and SIGKILLed with acknowledged commands unfinished.

slack_sdk's own SocketModeClient (Bolt's SocketModeHandler) is the client throughout: the
emulator is what the protocol tests check. Nothing sleeps to wait for an event: each wait is
on a condition (an ack, a call Slack received, a connection), with generous deadlines.
"""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Self

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.response import SocketModeResponse
from sqlalchemy import func, insert, select

from bot.console.emulator import SlackEmulator
from bot.console.emulator.socket_mode import SocketModeServer, accept_key
from bot.slack import wire
from bot.slack.ids import ActionId
from bot.web.inbox import genuine, sign_saved
from store.models import ReceivedRequest, Record
from tests.conftest import ALICE, BOB, CHANNEL, SECRET, TEAM
from tests.e2e.fault_kit import ROOT, SEED_TEAM, ServeProcess, db, fault_slack, serve_env

APP_TOKEN = "xapp-1-A0BATON-1-socketmodetest"
HANDOFF = ("person: {person} to: Northside Home Care contact: intake desk 555-0100 "
           "due: in 2h risk: short-term")


class SocketProcess(ServeProcess):
    """`baton socket` in a process of its own, its output in a file; started once the
    emulator sees its connection greeted. Signals, waiting, teardown and the log's tail
    are serve's (fault_kit.ServeProcess)."""

    def __init__(self, env: dict[str, str], log: Path, server: SocketModeServer) -> None:
        super().__init__(env, log)
        self.server = server

    def start(self, timeout: float = 60.0) -> Self:
        before = len(self.server.connections)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "socket"],
                                         env=self.env, cwd=ROOT, stdout=out,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"socket exited with {self.proc.returncode}:\n"
                                     f"{self.tail()}")
            with contextlib.suppress(AssertionError):
                self.server.wait_connected(before + 1, timeout=0.5)  # a condition wait
                return self
        raise AssertionError(f"socket did not connect in {timeout:g} s:\n{self.tail()}")


def socket_env(database_url: str, slack: SlackEmulator, **extra: str) -> dict[str, str]:
    env = serve_env(database_url, slack, SLACK_APP_TOKEN=APP_TOKEN, **extra)
    env.pop("SLACK_SIGNING_SECRET")  # Socket Mode needs none: saved rows are keyed by the app token
    return env


def _command(slack: SlackEmulator, server: SocketModeServer, text: str, key: str,
             command: str = "/handoff") -> str:
    return server.slash_command(wire.slash_command_payload(
        command, text, user=BOB, channel=CHANNEL, team=SEED_TEAM,
        trigger_id=slack.issue_trigger(f"sock-{key}"),
        response_url=slack.response_url(key)))


def _replies_to(slack: SlackEmulator, key: str) -> list[str]:
    return [str(c.params.get("text", "")) for c in slack.calls_to("response_url")
            if c.params.get("_key") == key]


def _wait(done: Any, timeout: float, what: str) -> None:
    """Another process's progress, seen through the database: a deadline, not a sleep."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"not within {timeout:g} s: {what}"
        time.sleep(0.05)


def _records(url: str) -> list[Record]:
    with db(url) as engine, engine.connect() as c:
        return list(c.execute(select(Record).order_by(Record.id)).all())


def _cards(slack: SlackEmulator) -> list[Any]:
    return [c for c in slack.calls_to("chat.postMessage")
            if c.params.get("channel") == CHANNEL and not c.params.get("thread_ts")]


def test_socket_mode_command_button_form_refresh_and_drop(database_url, tmp_path):
    with fault_slack() as slack:
        server = slack.enable_socket_mode(app_token=APP_TOKEN)
        slack.add_user(BOB, tz="America/New_York")
        baton = SocketProcess(socket_env(database_url, slack), tmp_path / "socket.log", server)
        try:
            started = time.monotonic()
            baton.start()
            first = server.wait_connected(1)
            (opened,) = slack.calls_to("apps.connections.open")
            assert opened.headers.get("authorization") == f"Bearer {APP_TOKEN}"
            assert opened.response["url"].startswith(f"ws://127.0.0.1:{server.port}/link/?ticket=")

            # 1. A /handoff: acknowledged on the connection (nothing in the ack: the reply
            # comes through the response URL), then the card and the reply.
            eid = _command(slack, server, HANDOFF.format(person="P-6001"), "h1")
            ack = server.wait_for_ack(eid, timeout=30)
            assert ack.connection == first.number and ack.payload is None
            assert server.delivery(eid).accepts_response_payload
            slack.wait_for("response_url", count=1, timeout=30)
            assert any("Logged *H-1*" in t for t in _replies_to(slack, "h1")), \
                _replies_to(slack, "h1")
            (card,) = _cards(slack)
            (rec,) = _records(database_url)
            assert (rec.kind, rec.number) == ("handoff", 1)
            assert rec.person_ref == "P-6001" and rec.card_ts == card.response["ts"]

            # 2. "Partner acknowledged" on the card: an interactive envelope, no payload in
            # its ack, the card updated in place.
            eid = server.interactive(wire.block_actions_payload(
                action_id=ActionId.PARTNER_ACK, value=str(rec.id), user=BOB, team=SEED_TEAM,
                channel=CHANNEL, message_ts=rec.card_ts, trigger_id="sock-click-1",
                response_url=slack.response_url("c1")))
            ack = server.wait_for_ack(eid, timeout=30)
            assert not server.delivery(eid).accepts_response_payload and ack.payload is None
            (update,) = slack.wait_for("chat.update", count=1, timeout=30)
            assert update.params["ts"] == rec.card_ts
            _wait(lambda: _records(database_url)[0].status == "acknowledged", 30,
                  "the handoff acknowledged")

            # 3. A /handoff with fields missing opens the form; its submission's field
            # errors go back in the ack's payload (Socket Mode's response_action).
            eid = _command(slack, server, "person: P-6002 to: Riverside Behavioral Health", "h2")
            server.wait_for_ack(eid, timeout=30)
            (opened_view,) = slack.wait_for("views.open", count=1, timeout=30)
            assert opened_view.params["trigger_id"] == "sock-h2"
            view = dict(opened_view.json_param("view"))
            view["id"] = opened_view.response["view"]["id"]
            answers = {"person": "P-6002", "to": "Riverside Behavioral Health", "contact": "",
                       "due": "yesterday", "owner": BOB, "risk": "short-term"}
            eid = server.interactive(wire.view_submission_payload(
                view=view, values=wire.state_for(view, answers), user=BOB, team=SEED_TEAM))
            ack = server.wait_for_ack(eid, timeout=30)
            assert server.delivery(eid).accepts_response_payload
            assert ack.payload is not None and ack.payload["response_action"] == "errors"
            assert set(ack.payload["errors"]) == {"contact", "due"}
            assert len(_records(database_url)) == 1
            answers.update(contact="front desk 555-0111", due="2 business days")
            eid = server.interactive(wire.view_submission_payload(
                view=view, values=wire.state_for(view, answers), user=BOB, team=SEED_TEAM))
            ack = server.wait_for_ack(eid, timeout=30)
            assert ack.payload is None  # accepted: the form closes
            _wait(lambda: len(_cards(slack)) == 2, 30, "the form's record card")
            second_rec = _records(database_url)[1]
            assert second_rec.person_ref == "P-6002"
            assert second_rec.request_key == f"view:{view['id']}"

            # 4. Slack asks for a refresh: the client opens a new connection (a fresh
            # apps.connections.open and ticket), closes the old, and works on the new one.
            server.disconnect("refresh_requested", first)
            second = server.wait_connected(2, timeout=30)
            server.wait_closed(first, timeout=30)
            assert len(slack.calls_to("apps.connections.open")) == 2
            assert second.ticket != first.ticket
            eid = _command(slack, server, HANDOFF.format(person="P-6003"), "h3")
            assert server.wait_for_ack(eid, timeout=30).connection == second.number
            _wait(lambda: len(_cards(slack)) == 3, 30, "the card after the refresh")

            # 5. The connection is cut (a TCP reset, no close frame): the client notices,
            # reconnects within its ping interval, and the next command works.
            server.drop(second)
            third = server.wait_connected(3, timeout=60)
            eid = _command(slack, server, HANDOFF.format(person="P-6004"), "h4")
            assert server.wait_for_ack(eid, timeout=30).connection == third.number
            _wait(lambda: len(_cards(slack)) == 4, 30, "the card after the drop")
            took = time.monotonic() - started
        finally:
            baton.stop()
        # SIGTERM: a clean exit.
        assert baton.proc is not None and baton.proc.returncode == 0, baton.tail()

    refs = [(r.person_ref, r.status) for r in _records(database_url)]
    print(f"\nsocket mode end to end [{database_url.split(':')[0]}]: {took:.1f} s, "
          f"{len(server.connections)} connections, {len(server.acks)} acks, records {refs}")
    assert [p for p, _ in refs] == ["P-6001", "P-6002", "P-6003", "P-6004"]
    assert server.unacked() == [] and server.unknown_acks == []
    with db(database_url) as engine, engine.connect() as c:
        assert c.execute(select(func.count()).select_from(ReceivedRequest)).scalar() == 0


def test_sigkill_socket_with_acknowledged_commands_unfinished_then_restart_does_every_one(
        database_url, tmp_path):
    """Twenty /handoff envelopes are acknowledged while Slack takes 5 s over each reply, so
    the four workers are each in the middle of one and sixteen have not started when
    `baton socket` is SIGKILLed. Each was saved right after its ack, signed by Baton (no
    Slack signature in Socket Mode): the next `baton socket` finds the dead process's rows,
    checks Baton's signature and redoes them. Every command ends with exactly one record,
    every person gets their reply, and the only repeats are replies Slack had already heard
    at the kill (at most one a worker)."""
    commands = 20
    with fault_slack() as slack:
        server = slack.enable_socket_mode(app_token=APP_TOKEN)
        slack.add_user(BOB, tz="America/New_York")
        env = socket_env(database_url, slack, BATON_WORKERS="4", BATON_SWEEP_SECONDS="0.5")
        first = SocketProcess(env, tmp_path / "socket-1.log", server)
        second = SocketProcess(env, tmp_path / "socket-2.log", server)
        try:
            first.start()
            slack.set_latency(5.0, method="response_url")
            envelopes = [_command(slack, server, HANDOFF.format(person=f"P-{7001 + n}"),
                                  f"k{n}") for n in range(commands)]
            for eid in envelopes:
                assert server.wait_for_ack(eid, timeout=30).payload is None
            slack.wait_for("response_url", count=4, timeout=30)  # all four workers busy

            def saved() -> int:
                with db(database_url) as eng, eng.connect() as c:
                    return int(c.execute(select(func.count())
                                         .select_from(ReceivedRequest)).scalar() or 0)

            _wait(lambda: saved() == commands, 20, "every acknowledged envelope saved")
            first.signal(signal.SIGKILL)
            assert first.wait(10) == -signal.SIGKILL
            heard_before_kill = {c.params["_key"] for c in slack.calls_to("response_url")}
            assert len(heard_before_kill) <= 4
            with db(database_url) as eng, eng.connect() as c:
                rows = c.execute(select(ReceivedRequest)).all()
            assert len(rows) == commands  # none finished: each reply was still with Slack
            assert all(r.signature.startswith("baton-sm1:app_token=") for r in rows)
            assert all(r.content_type == "application/json" and r.team_id == SEED_TEAM
                       for r in rows)

            slack.set_latency(0, method="response_url")
            second.start()
            _wait(lambda: {c.params["_key"] for c in slack.calls_to("response_url")} >=
                  {f"k{n}" for n in range(commands)}, 60, "every command's reply")
            _wait(lambda: saved() == 0, 30, "every saved request finished")
        finally:
            first.stop()
            second.stop()
    with db(database_url) as eng, eng.connect() as c:
        refs = c.execute(select(Record.person_ref, func.count()).group_by(Record.person_ref)
                         ).all()
    assert sorted(refs) == [(f"P-{7001 + n}", 1) for n in range(commands)]  # once each
    replies = Counter(c.params["_key"] for c in slack.calls_to("response_url"))
    repeated = {k for k, n in replies.items() if n > 1}
    print(f"\nSIGKILL socket [{database_url.split(':')[0]}]: {len(heard_before_kill)} replies "
          f"with Slack at the kill, {len(repeated)} repeated after the restart")
    assert repeated <= heard_before_kill and all(n <= 2 for n in replies.values())
    assert all("Logged" in str(c.params.get("text", "")) for c in
               slack.calls_to("response_url"))
    assert "redoing received request" in second.tail(300)
    assert len(server.acks) == commands  # acknowledged once each: nothing was redelivered


# --- what the replay trusts ---

def _row(body: str, signature: str, stamp: str, team: str | None = SEED_TEAM) -> Any:
    return SimpleNamespace(id=1, body=body, signature=signature, signed_at=stamp,
                           team_id=team)


def test_a_saved_socket_request_is_redone_only_with_baton_s_own_signature():
    body = '{"command":"/handoff","text":"x"}'
    stamp = str(int(time.time()))
    app_only = {"signing_secret": "", "app_token": APP_TOKEN}
    both = {"signing_secret": "s3cret", "app_token": APP_TOKEN}
    sig = sign_saved(app_only, team_id=SEED_TEAM, body=body, stamp=stamp)
    assert sig.startswith("baton-sm1:app_token=") and len(sig) <= 100  # the column's width
    assert genuine(_row(body, sig, stamp), app_only)
    assert genuine(_row(body, sig, stamp), both)
    # Any change to what was signed, or another key, and it is refused.
    assert not genuine(_row(body.replace("x", "y"), sig, stamp), app_only)
    assert not genuine(_row(body, sig, str(int(stamp) + 1)), app_only)
    assert not genuine(_row(body, sig, stamp, team="T0OTHER"), app_only)
    assert not genuine(_row(body, sig, stamp), {"signing_secret": "", "app_token": "xapp-2"})
    assert not genuine(_row(body, sig, stamp), {"signing_secret": "s3cret", "app_token": ""})
    # With a signing secret Baton signs with it, so a `serve` replica can check the row too.
    sig = sign_saved(both, team_id=SEED_TEAM, body=body, stamp=stamp)
    assert sig.startswith("baton-sm1:signing_secret=")
    assert genuine(_row(body, sig, stamp), {"signing_secret": "s3cret", "app_token": ""})
    # A row claiming Slack's v0 signature is checked as Slack's, never with no secret.
    v0 = wire.signed_headers(body, "s3cret", timestamp=int(stamp))["X-Slack-Signature"]
    assert genuine(_row(body, v0, stamp), both)
    assert not genuine(_row(body, v0, stamp), app_only)
    # Forged Baton signatures: no key named, an unknown key, nothing after the '='.
    for forged in ("baton-sm1:=abc", "baton-sm1:nobody=" + "0" * 64, "baton-sm1:app_token="):
        assert not genuine(_row(body, forged, stamp), both)


# --- the emulator's Socket Mode, with slack_sdk's own client ---

def test_apps_connections_open_takes_an_app_token_and_tickets_are_single_use():
    with SlackEmulator() as slack:
        server = slack.enable_socket_mode(app_token=APP_TOKEN)
        client = WebClient(base_url=slack.base_url)
        for token, error in (("xoxb-bot", "not_allowed_token_type"),
                             ("xapp-1-other", "invalid_auth"), ("", "not_authed")):
            with pytest.raises(SlackApiError) as err:
                client.apps_connections_open(app_token=token)
            assert err.value.response["error"] == error, token
        url = client.apps_connections_open(app_token=APP_TOKEN)["url"]
        host, _, path = url.removeprefix("ws://").partition("/")

        def upgrade() -> bytes:
            with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
                s.sendall((f"GET /{path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                           "Sec-WebSocket-Version: 13\r\n\r\n").encode())
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                while data.startswith(b"HTTP/1.1 101") and b'"type":"hello"' not in data:
                    # The server greets a new connection with hello, unmasked, at once.
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                return data

        first = upgrade()
        # RFC 6455's own example key and accept value.
        assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        assert first.startswith(b"HTTP/1.1 101") and b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in first
        assert b'"type":"hello"' in first and b'"app_id":"A0BATON"' in first
        assert upgrade().startswith(b"HTTP/1.1 401")  # the ticket is spent
        assert server.refused_tickets == 1


def test_socket_mode_protocol_with_slack_sdk_client():
    """hello, an envelope of each kind and its ack (with and without payload), a ping
    answered, each disconnect reason followed by a fresh connection, an unacknowledged
    envelope delivered again with retry_attempt/retry_reason (on an injected clock), and
    an abrupt drop followed by a reconnect."""
    now = [1000.0]
    with SlackEmulator() as slack:
        server = slack.enable_socket_mode(app_token=APP_TOKEN, redeliver_after=5.0,
                                          clock=lambda: now[0])
        seen: list[Any] = []

        def listener(client: Any, req: Any) -> None:
            seen.append(req)
            if req.payload.get("ignore_first") and req.retry_attempt == 0:
                return  # not acknowledged: Slack delivers it again
            answer = {"text": "ok"} if req.accepts_response_payload else None
            client.send_socket_mode_response(SocketModeResponse(req.envelope_id, answer))

        client = SocketModeClient(app_token=APP_TOKEN,
                                  web_client=WebClient(base_url=slack.base_url),
                                  ping_interval=1)
        client.socket_mode_request_listeners.append(listener)
        try:
            client.connect()
            conn = server.wait_connected(1)
            eid = server.slash_command({"command": "/x", "text": "é" * 40_000})  # > 64 KiB
            assert server.wait_for_ack(eid).payload == {"text": "ok"}
            assert seen[-1].payload["text"] == "é" * 40_000
            eid = server.interactive({"type": "block_actions"})
            assert server.wait_for_ack(eid).payload is None
            eid = server.event({"type": "event_callback", "event": {"type": "app_home_opened"}})
            assert server.wait_for_ack(eid).payload is None
            assert (seen[-1].type, seen[-1].retry_attempt, seen[-1].retry_reason) == \
                ("events_api", 0, "")
            assert server.ping(conn)

            eid = server.event({"type": "event_callback", "ignore_first": True})
            _wait(lambda: len(seen) == 4, 10, "the first delivery")
            assert server.redeliver_due() == []  # not yet 5 s on the injected clock
            now[0] += 5.0
            ack = server.wait_for_ack(eid, timeout=10)  # the emulator's timer redelivered it
            assert [(r.retry_attempt, r.retry_reason) for r in seen[3:]] == \
                [(0, ""), (1, "timeout")]
            assert len(server.delivery(eid).attempts) == 2 and ack.connection == conn.number

            count = 1
            for reason in ("warning", "refresh_requested", "link_disabled"):
                server.disconnect(reason)
                count += 1
                new = server.wait_connected(count, timeout=20)
                eid = server.interactive({"type": "block_actions", "reason": reason})
                assert server.wait_for_ack(eid, timeout=10).connection == new.number
            server.drop()
            new = server.wait_connected(count + 1, timeout=30)
            eid = server.interactive({"type": "block_actions", "after": "drop"})
            assert server.wait_for_ack(eid, timeout=10).connection == new.number
            assert server.tickets_issued == count + 1
        finally:
            client.close()


def test_serve_redoes_a_request_baton_socket_saved_and_refuses_one_edited(baton):
    """With the signing secret set, `baton socket` keys its rows with it: a `serve` replica
    on the same database finishes a dead socket process's requests (and refuses a row whose
    body was edited after it was signed)."""
    dead = f"{socket.gethostname()}:{2**22 + 9}:sock01"  # a pid that cannot exist here
    keys = {"signing_secret": SECRET, "app_token": APP_TOKEN}
    now = baton.clock.now()
    ids = {}
    for n, edit in ((1, False), (2, True)):
        payload = wire.slash_command_payload(
            "/handoff", HANDOFF.format(person=f"P-810{n}"), user=ALICE, channel=CHANNEL,
            team=TEAM, trigger_id=f"socket-saved-{n}",
            response_url=baton.slack.response_url(f"s{n}"))
        raw = json.dumps(payload, separators=(",", ":"))
        stamp = str(int(time.time()))
        signature = sign_saved(keys, team_id=TEAM, body=raw, stamp=stamp)
        if edit:
            raw = raw.replace("P-8102", "P-8199")
        with baton.sessions.begin() as s:
            ids[n] = s.execute(insert(ReceivedRequest).values(
                team_id=TEAM, received_at=now - timedelta(seconds=5),
                taken_at=now - timedelta(seconds=5), content_type="application/json",
                body=raw, signature=signature, signed_at=stamp, taken_by=dead, attempts=1,
                state="taken").returning(ReceivedRequest.id)).scalar_one()
    assert baton.runtime.inbox.recover() == 1
    baton.runtime.wait_idle()
    assert baton.runtime.inbox.flush()
    with baton.sessions() as s:
        assert sorted(s.scalars(select(Record.person_ref))) == ["P-8101"]
        left = {r.id: r.state for r in s.scalars(select(ReceivedRequest))}
    assert left == {ids[2]: "abandoned"}
    assert any("Logged *H-1*" in str(c.params.get("text")) for c in
               baton.slack.calls_to("response_url"))
