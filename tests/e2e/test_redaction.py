"""No configured secret reaches a log line, through every entry point of the `baton` command.

Each command runs as a real process with every secret Settings holds set to a distinctive
value (none shaped like a Slack token, so only the configured list can redact it), and is
made to log them: at DEBUG, slack_sdk writes out the responses of the Slack stand-in here,
which echoes every secret back (serve's and socket's auth.test, socket's
apps.connections.open); and in every command, once its logging is set up, a record carries
every secret's value, as an error from a library might (the CARRIER below). None of the
values may appear in the process's stdout or stderr, and "[redacted]" must (so the secrets
did reach a record)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]

BOT_TOKEN = "bot-token-Rdx7Q2mZ9aKp"
APP_TOKEN = "app-level-token-Rdx4Vb8Nc3Lw"
SIGNING = "signing-secret-Rdx5Tg1Hy6Uo"
CLIENT_SECRET = "oauth-client-secret-Rdx2Ws9Ed4Rf"
DB_PASSWORD = "db-password-Rdx8Ik3Ol0Pj"
SECRETS = (BOT_TOKEN, APP_TOKEN, SIGNING, CLIENT_SECRET, DB_PASSWORD)

# The command, run as `python -m bot.cli` runs it, with one record more once logging is
# set up: the value of every setting given in the environment, secrets included.
CARRIER = """
import logging, os, sys
from bot import cli

configure = cli.configure_logging

def configure_logging(settings, command):
    configure(settings, command)
    carried = sorted(k for k in os.environ if k.startswith(("SLACK_", "DATABASE_URL")))
    logging.getLogger("baton.carrier").warning(
        "an error carrying the settings: %s", " ".join(f"{k}={os.environ[k]}" for k in carried))

cli.configure_logging = configure_logging
raise SystemExit(cli.main(sys.argv[1:]))
"""


class _EchoSlack(BaseHTTPRequestHandler):
    """Slack's Web API as a careless proxy might answer it: every secret the process was
    given (`echo`, set for each run) in the body."""

    echo = ""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.endswith("/auth.test"):
            answer = {"ok": True, "url": "https://example.slack.com/", "team": "Care",
                      "user": "baton", "team_id": "T0BATON", "user_id": "U0BATONBOT",
                      "bot_id": "B0BATON", "echo": self.echo}
        else:
            answer = {"ok": False, "error": "invalid_auth", "echo": self.echo}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_slack() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoSlack)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api/"
    server.shutdown()
    server.server_close()


def _given(env: dict[str, str]) -> None:
    """What the Slack stand-in echoes to the next process: the secrets `env` gives it."""
    _EchoSlack.echo = " ".join(s for s in SECRETS if any(s in v for v in env.values()))


def _env(**settings: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
            "BATON_LOG_LEVEL": "DEBUG", **settings}


def _carrier(args: list[str]) -> list[str]:
    return [sys.executable, "-c", CARRIER, *args]


def _run(args: list[str], env: dict[str, str]) -> str:
    _given(env)
    r = subprocess.run(_carrier(args), env=env, cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    return r.stdout + r.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve_briefly(env: dict[str, str]) -> str:
    """`serve` until /healthz answers (or it exits), then SIGTERM; its whole output."""
    _given(env)
    port = _free_port()
    proc = subprocess.Popen(_carrier(["serve", "--port", str(port), "--host", "127.0.0.1"]),
                            env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60  # a process starting on a busy machine
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code:
                    break
            time.sleep(0.1)  # waiting for a process to bind, not for a deadline
        assert proc.poll() is None, "serve exited before it served"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    return out


def _assert_clean(command: str, output: str) -> None:
    for secret in SECRETS:
        assert secret not in output, (command, secret, output[-2000:])
    assert "[redacted]" in output, (command, "no secret reached a record", output[-2000:])


def test_no_configured_secret_reaches_the_output_of_any_command(tmp_path, echo_slack):
    db = f"sqlite:///{tmp_path}/baton.db"
    one_workspace = _env(DATABASE_URL=db, SLACK_API_URL=echo_slack, SLACK_BOT_TOKEN=BOT_TOKEN,
                         SLACK_SIGNING_SECRET=SIGNING, SLACK_APP_TOKEN=APP_TOKEN)
    every_secret = {**one_workspace, "SLACK_CLIENT_ID": "1111.2222",
                    "SLACK_CLIENT_SECRET": CLIENT_SECRET}
    install_flow = {**every_secret}
    install_flow.pop("SLACK_BOT_TOKEN")

    _assert_clean("migrate", _run(["migrate"], every_secret))
    # serve: one workspace (auth.test answered with the secrets), and the install flow.
    _assert_clean("serve", _serve_briefly(one_workspace))
    _assert_clean("serve (install flow)", _serve_briefly(install_flow))
    # socket: auth.test, then apps.connections.open refused, both answered with the secrets.
    out = _run(["socket"], one_workspace)
    assert "SLACK_APP_TOKEN: Slack refused" in out
    _assert_clean("socket", out)
    script = tmp_path / "script.txt"
    script.write_text("/baton help\n")
    _assert_clean("console", _run(["console", "--script", str(script)],
                                  {**one_workspace, "DATABASE_URL": "sqlite://"}))
    _assert_clean("ladder", _run(["ladder"], every_secret))
    _assert_clean("report", _run(["report", "--from", "2026-11-01", "--to", "2026-11-30",
                                  "--out", str(tmp_path / "report")], every_secret))
    _assert_clean("audit verify", _run(["audit", "verify"], every_secret))
    # DATABASE_URL's password: a PostgreSQL that is not there (each command says it cannot
    # reach it, and names no password).
    away = {**every_secret,
            "DATABASE_URL": f"postgresql://baton:{DB_PASSWORD}@127.0.0.1:{_free_port()}/baton"}
    for args in (["migrate"], ["audit", "verify"],
                 ["report", "--from", "2026-11-01", "--to", "2026-11-30",
                  "--out", str(tmp_path / "away")]):
        out = _run(args, away)
        assert "cannot reach the database" in out, out[-2000:]
        _assert_clean(" ".join(args), out)
