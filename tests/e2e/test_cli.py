"""The `baton` command as an operator runs it: real processes, real exit codes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from bot.console.emulator import SlackEmulator
from store.db import head_revision
from tests.fakes.cli import BATON, run_baton

_run = run_baton


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_missing_setting_is_one_line_exit_2(tmp_path):
    r = _run(["serve"], {"DATABASE_URL": f"sqlite:///{tmp_path}/b.db"})
    assert r.returncode == 2
    assert r.stderr.strip() == "baton: SLACK_BOT_TOKEN is not set: this mode needs it."
    r = _run(["serve"], {"PORT": "not-a-port", "SLACK_BOT_TOKEN": "x"})
    assert r.returncode == 2 and r.stderr.startswith("baton: PORT:")
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_serve_refuses_an_unmigrated_database_then_serves_after_migrate(tmp_path):
    db = f"sqlite:///{tmp_path}/b.db"
    with SlackEmulator() as slack:
        env = {"DATABASE_URL": db, "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s",
               "SLACK_API_URL": slack.base_url}
        r = _run(["serve", "--port", str(_free_port())], env)
        assert r.returncode == 2
        assert "run `baton migrate`" in r.stderr and len(r.stderr.strip().splitlines()) == 1

        r = _run(["migrate"], env)
        assert r.returncode == 0 and f"database at {head_revision()}" in r.stdout
        r = _run(["migrate"], env)
        assert "already up to date" in r.stdout

        port = _free_port()
        base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
        proc = subprocess.Popen([*BATON, "serve", "--port", str(port), "--host", "127.0.0.1"],
                                env={**base, **env}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60  # a process starting on a busy machine
            status = None
            while time.monotonic() < deadline:
                try:
                    status = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code
                    break
                except httpx.TransportError:
                    time.sleep(0.1)  # waiting for a process to bind, not for a deadline
            assert status == 200
            unsigned = httpx.post(f"http://127.0.0.1:{port}/slack/events", content="a=b",
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert unsigned.status_code == 401
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                pytest.fail("serve did not stop within 10 s of SIGTERM")
        assert proc.returncode == 0


def test_console_runs_a_scripted_session(tmp_path):
    script = tmp_path / "s.txt"
    script.write_text(
        "/handoff person: P-1042 to: Northside Home Care contact: intake 555-0100 "
        "due: 2030-01-15 17:00\n/baton list\nclick 1\nquit\n")
    r = _run(["console", "--script", str(script)],
             {"DATABASE_URL": f"sqlite:///{tmp_path}/c.db", "BATON_TIMEZONE": "America/Chicago"})
    assert r.returncode == 0, r.stderr
    assert "== Handoff H-1 · P-1042 ==" in r.stdout
    assert "Response deadline*: Tue 15 Jan 17:00 CST" in r.stdout
    assert "Partner acknowledged receipt" in r.stdout


def test_console_clock_moves_forward_and_the_digest_arrives(tmp_path):
    # The console starts on the real clock: first leave today behind for a Sunday (no
    # digest), or a sweep after the coordinator is set would rightly send today's digest
    # too, whenever this runs on a working day after 08:30 in Chicago.
    script = tmp_path / "s.txt"
    script.write_text(
        "clock 2030-01-13 09:00\n"
        "as manager\n/baton coordinator @you monday,tuesday,wednesday,thursday,friday\nas you\n"
        "/handoff person: P-1042 to: Northside Home Care contact: intake 555-0100 "
        "due: 2030-01-14 17:00\n"
        "clock 2030-01-14 08:35\n"
        "clock +1h\n"
        "clock 2020-01-01 09:00\n"
        "/baton report from 2020-01-01 to 2030-01-31\n"
        "quit\n")
    r = _run(["console", "--script", str(script), "--files", str(tmp_path / "files")],
             {"DATABASE_URL": f"sqlite:///{tmp_path}/c.db", "BATON_TIMEZONE": "America/Chicago"})
    assert r.returncode == 0, r.stderr
    out = r.stdout
    digest = out.index("== Coordinator of the day · Mon 14 Jan ==")
    assert out.index("» it is now Mon 14 Jan 08:35 CST") > digest
    assert "Due today: 1" in out[digest:]
    assert out.count("== Coordinator of the day") == 1  # not again an hour later
    assert "» it is now Mon 14 Jan 09:35 CST" in out
    assert "The clock only moves forward" in out  # 2020 is in the past: refused
    assert ("Baton uploaded files to #care-coordination: records.csv, audit_events.csv, "
            "escalations.csv, report.html") in out
    assert "Records logged: 1 (1 handoff, 0 dependencies)" in out
    # The report's files are saved where the console says, as Baton uploaded them.
    saved = [ln for ln in out.splitlines() if ln.startswith("│ saved in ")]
    assert len(saved) == 1
    folder = saved[0].removeprefix("│ saved in ").rstrip("/")
    assert sorted(p.name for p in (tmp_path / "files").glob("*/*")) == [
        "audit_events.csv", "escalations.csv", "records.csv", "report.html"]
    assert folder.startswith(str(tmp_path / "files"))
    assert "P-1042" in Path(folder, "records.csv").read_text(encoding="utf-8")


def test_socket_mode_refuses_the_install_flow_settings(tmp_path):
    r = _run(["socket"], {"DATABASE_URL": f"sqlite:///{tmp_path}/s.db",
                          "SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s",
                          "SLACK_APP_TOKEN": "xapp-1"})
    assert r.returncode == 2
    assert r.stderr.startswith("baton: Socket Mode serves the one workspace of SLACK_BOT_TOKEN")
    assert len(r.stderr.strip().splitlines()) == 1


def test_baton_ladder_prints_the_default_and_refuses_a_bad_file(tmp_path):
    r = _run(["ladder"], {})
    assert r.returncode == 0
    assert "[ladder.default]" in r.stdout and 'page = "coordinator"' in r.stdout
    bad = tmp_path / "baton.toml"
    bad.write_text('[ladder.default]\n[[ladder.default.tiers]]\nname = "x"\npage = "owner"\n'
                   'after = "whenever"\n')
    r = _run(["ladder"], {"BATON_CONFIG": str(bad)})
    assert r.returncode == 2
    assert r.stderr.startswith("baton: ladder.default.tiers[0].after: Couldn't read the duration")
    assert len(r.stderr.strip().splitlines()) == 1
    r = _run(["serve"], {"BATON_CONFIG": str(bad), "SLACK_BOT_TOKEN": "x",
                         "SLACK_SIGNING_SECRET": "y"})
    assert r.returncode == 2 and "ladder.default.tiers[0].after" in r.stderr


def test_socket_mode_refused_token_is_one_line_exit_2(tmp_path):
    db = f"sqlite:///{tmp_path}/s.db"
    with SlackEmulator() as slack:
        env = {"DATABASE_URL": db, "SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1",
               "SLACK_API_URL": slack.base_url}
        assert _run(["migrate"], env).returncode == 0
        r = _run(["socket"], env)
        # The emulator has no apps.connections.open, as Slack refuses a bad app token.
        assert r.returncode == 2, r.stderr
        last = r.stderr.strip().splitlines()[-1]
        assert last.startswith("baton: SLACK_APP_TOKEN: Slack refused") and \
            "Traceback" not in r.stderr
        assert slack.calls_to("apps.connections.open")
    r = _run(["socket"], {"DATABASE_URL": db, "SLACK_BOT_TOKEN": "xoxb-1"})
    assert r.returncode == 2 and "SLACK_APP_TOKEN is not set" in r.stderr
