"""One Baton process per SQLite file: a second `serve`, `socket` or `console` on the file is
refused at start in one line (exit code 2); the lock dies with its process, SIGKILL too.
`migrate` (when there is nothing to do), `report` and `audit verify` run beside it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from bot.console.emulator import SlackEmulator
from store.db import DatabaseInUse, sole_writer, sqlite_file
from tests.conftest import PG_URL
from tests.e2e.fault_kit import ROOT, SEED_TEAM, ServeProcess, serve_env

BATON = [sys.executable, "-m", "bot.cli"]


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(BATON + args, env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


def _refusal(database: Path, pid: int) -> str:
    return (f"baton: another Baton process (pid {pid}) is using {database}: one SQLite file "
            "takes one Baton process; stop it first, or use PostgreSQL "
            "(DATABASE_URL=postgresql://...) to run replicas")


def test_a_second_process_on_one_sqlite_file_is_refused_and_a_restart_after_sigkill_is_not(
        sqlite_url, tmp_path):
    database = sqlite_file(sqlite_url)
    assert database is not None
    with SlackEmulator(team_id=SEED_TEAM) as slack:
        env = serve_env(sqlite_url, slack)
        first = ServeProcess(env, tmp_path / "serve-1.log")
        third = ServeProcess(env, tmp_path / "serve-3.log")
        script = tmp_path / "console.txt"
        script.write_text("/baton list\nquit\n")
        try:
            first.start()
            assert (database.parent / "baton.db.lock").read_text().strip() == str(first.pid)
            refused = {
                "serve": _run(["serve", "--port", "0", "--host", "127.0.0.1"], env),
                "socket": _run(["socket"], {**env, "SLACK_APP_TOKEN": "xapp-1"}),
                "console": _run(["console", "--script", str(script)], env),
            }
            for name, r in refused.items():
                assert r.returncode == 2, (name, r.stdout, r.stderr)
                assert r.stderr.splitlines() == [_refusal(database, first.pid)], (name, r.stderr)
            assert not slack.calls_to("apps.connections.open")  # refused before Slack

            # Beside it: a migrate with nothing to do, the report, the chain's check.
            r = _run(["migrate"], env)
            assert r.returncode == 0 and "already up to date" in r.stdout, r.stderr
            r = _run(["audit", "verify"], env)
            assert r.returncode == 0, r.stderr
            r = _run(["report", "--from", "2026-11-01", "--to", "2026-11-30", "--out",
                      str(tmp_path / "report")], env)
            assert r.returncode == 0 and (tmp_path / "report" / "report.html").exists(), \
                r.stderr

            # The first keeps serving, none the worse.
            assert first.proc is not None and first.proc.poll() is None
            health = httpx.get(f"http://127.0.0.1:{first.port}/healthz", timeout=5)
            assert health.status_code == 200

            first.signal(signal.SIGKILL)
            assert first.wait(10) == -signal.SIGKILL
            third.start()  # the dead process's lock went with it
            assert (database.parent / "baton.db.lock").read_text().strip() == str(third.pid)
        finally:
            first.stop()
            third.stop()


def test_an_upgrade_is_not_started_under_a_running_baton(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"  # not migrated: an upgrade is due
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
           "DATABASE_URL": url}
    database = tmp_path / "old.db"
    with sole_writer(url) as held:  # as a running serve holds it
        assert held is not None
        r = _run(["migrate"], env)
        assert r.returncode == 2
        assert r.stderr.splitlines() == [_refusal(database.resolve(), os.getpid())
                                         + "; the schema upgrade was not started"]
    r = _run(["migrate"], env)  # once it has stopped
    assert r.returncode == 0 and "(was empty)" in r.stdout, r.stderr
    # migrate let the lock go again: a serve may take it.
    with sole_writer(url) as held:
        assert held is not None


def test_which_databases_take_the_lock(tmp_path):
    assert sole_writer(PG_URL) is None  # replicas share PostgreSQL
    assert sole_writer("sqlite://") is None and sole_writer("sqlite:///:memory:") is None
    assert sole_writer("sqlite:///file:x?mode=memory&uri=true") is None
    assert sqlite_file(f"sqlite:///{tmp_path}/a.db") == (tmp_path / "a.db").resolve()
    url = f"sqlite:///{tmp_path}/a.db"
    with sole_writer(url), pytest.raises(DatabaseInUse,
                                         match=r"another Baton process \(pid \d+\)"):
        sole_writer(url)  # a second open file, even in one process, is refused
    with sole_writer(url) as again:  # released: taken again
        assert again is not None
