"""A bad setting, an unusable port or an unreachable Slack at start: one line naming it, exit
code 2, never a traceback (issue 13, item 6). Each case is a real `baton` process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time

import httpx
import pytest

from bot.console.emulator import SlackEmulator
from tests.fakes.cli import BATON, run_baton


def _run(args: list[str], env: dict[str, str], cwd: os.PathLike[str] | str) -> \
        subprocess.CompletedProcess[str]:
    return run_baton(args, env, timeout=120, cwd=cwd)


def _refused(r: subprocess.CompletedProcess[str]) -> str:
    """The one line Baton said, after checking it said only that and exited 2."""
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("baton: "), r.stderr
    return last


@pytest.mark.parametrize("url, says", [
    ("mysql://baton@db/baton", "DATABASE_URL: Baton keeps its data in SQLite or PostgreSQL, "
                               "not mysql"),
    ("postgres://baton@db/baton", "DATABASE_URL: write postgresql://, not postgres://"),
    ("garbage", "DATABASE_URL: not a database URL: use sqlite:///baton.db or postgresql://"),
    ("postgresql+asyncpg://baton@db/baton", "DATABASE_URL: the asyncpg driver is not one "
                                            "Baton installs"),
])
def test_a_database_url_baton_cannot_use_is_one_line(tmp_path, url, says):
    r = _run(["migrate"], {"DATABASE_URL": url}, tmp_path)
    assert _refused(r).startswith("baton: " + says)
    assert len(r.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())  # nothing was created


@pytest.mark.parametrize("toml, says", [
    ('end_of_dya = "17:00"\n', "BATON_CONFIG: unknown key `end_of_dya`: did you mean "
                               "`end_of_day`?"),
    ('[role]\nmanagers = ["U0MANAGER1"]\n', "BATON_CONFIG: unknown key `role`: did you mean "
                                            "`roles`?"),
    ("zzzqqq = 1\n", "BATON_CONFIG: unknown key `zzzqqq`: it is not a setting"),
])
def test_an_unknown_key_in_the_config_file_is_refused_with_the_nearest(tmp_path, toml, says):
    r = _migrate_with_config(tmp_path, toml)
    assert _refused(r).startswith("baton: " + says)
    assert not (tmp_path / "b.db").exists()


def _migrate_with_config(tmp_path, toml: str) -> subprocess.CompletedProcess[str]:
    """`baton migrate` with BATON_CONFIG naming a file that holds `toml`."""
    config = tmp_path / "baton.toml"
    config.write_text(toml, encoding="utf-8")
    return _run(["migrate"], {"BATON_CONFIG": str(config),
                              "DATABASE_URL": f"sqlite:///{tmp_path}/b.db"}, tmp_path)


def test_a_known_config_key_still_works(tmp_path):
    r = _migrate_with_config(tmp_path, 'end_of_day = "16:30"\n[roles]\nadmins = ["U0ADMIN01"]\n')
    assert r.returncode == 0, r.stderr


def _migrated(tmp_path) -> dict[str, str]:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/b.db", "SLACK_BOT_TOKEN": "xoxb-1",
           "SLACK_SIGNING_SECRET": "s"}
    assert _run(["migrate"], env, tmp_path).returncode == 0
    return env


def test_a_port_out_of_range_is_refused_before_anything_starts(tmp_path):
    env = _migrated(tmp_path)
    r = _run(["serve", "--port", "99999"], env, tmp_path)
    assert _refused(r) == ("baton: --port 99999: a port is a number from 1 to 65535 (0 for any "
                           "free one)")
    assert "serving Slack" not in r.stderr


def test_a_port_in_use_is_one_line_naming_it(tmp_path):
    env = _migrated(tmp_path)
    with SlackEmulator() as slack, socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = _run(["serve", "--host", "127.0.0.1", "--port", str(port)],
                 {**env, "SLACK_API_URL": slack.base_url}, tmp_path)
    line = _refused(r)
    assert line.startswith(f"baton: --port {port}: cannot listen on 127.0.0.1:{port}")
    assert "serving Slack" not in r.stderr


def test_slack_unreachable_at_start_is_one_line_not_a_traceback(tmp_path):
    env = _migrated(tmp_path)
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}/api/"
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    r = _run(["serve", "--host", "127.0.0.1", "--port", str(port)],
             {**env, "SLACK_API_URL": dead}, tmp_path)
    assert _refused(r).startswith(f"baton: SLACK_API_URL: Slack could not be reached at {dead}")


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if " WARNING " in line or "Traceback" in line]


def test_a_normal_serve_start_logs_no_warning(tmp_path):
    # Bolt once read SLACK_BOT_TOKEN from the environment beside Baton's client and logged
    # "As you gave `client` as well, `token` will be unused" at every start.
    env = _migrated(tmp_path)
    with SlackEmulator() as slack, socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
        free.close()
        base = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
        proc = subprocess.Popen(
            [*BATON, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env={**base, **env, "SLACK_API_URL": slack.base_url, "BATON_LOG_LEVEL": "INFO"},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        try:
            deadline = time.monotonic() + 60  # a process starting on a busy machine
            status = None
            while status != 200 and time.monotonic() < deadline and proc.poll() is None:
                try:
                    status = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code
                except httpx.TransportError:
                    time.sleep(0.1)  # waiting for a process to bind, not for a deadline
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                _, stderr = proc.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, stderr = proc.communicate()
    assert status == 200, stderr
    assert "serving Slack" in stderr  # the log was captured: INFO lines are there
    assert _warnings(stderr) == []
    assert "will be unused" not in stderr


def test_a_console_session_logs_no_warning(tmp_path):
    script = tmp_path / "s.txt"
    script.write_text("/baton help\nquit\n", encoding="utf-8")
    r = _run(["console", "--script", str(script)],
             {"DATABASE_URL": f"sqlite:///{tmp_path}/c.db"}, tmp_path)
    assert r.returncode == 0, r.stderr
    assert _warnings(r.stderr) == [] and "will be unused" not in r.stderr


def _report(tmp_path, out: str) -> subprocess.CompletedProcess[str]:
    env = _migrated(tmp_path)
    return _run(["report", "--from", "2026-11-01", "--to", "2026-11-30", "--out", out], env,
                tmp_path)


def _files(tmp_path) -> set[str]:
    """What is under tmp_path besides the database (and its lock file)."""
    return {str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")
            if not p.name.startswith("b.db")}


def test_report_out_under_a_file_is_one_line_naming_it(tmp_path):
    (tmp_path / "afile").write_text("not a folder", encoding="utf-8")
    out = tmp_path / "afile" / "report"
    r = _report(tmp_path, str(out))
    assert _refused(r) == (f"baton: --out {out}: cannot make that folder "
                           f"({tmp_path / 'afile'} is a file, not a folder)")
    assert len(r.stderr.strip().splitlines()) == 1
    assert _files(tmp_path) == {"afile"}  # nothing half-written
    assert (tmp_path / "afile").read_text(encoding="utf-8") == "not a folder"


def test_report_out_that_is_a_file_is_refused_and_the_file_kept(tmp_path):
    (tmp_path / "report.html").write_text("mine", encoding="utf-8")
    r = _report(tmp_path, str(tmp_path / "report.html"))
    assert _refused(r) == f"baton: --out {tmp_path / 'report.html'}: that is a file, not a folder"
    assert (tmp_path / "report.html").read_text(encoding="utf-8") == "mine"
    assert _files(tmp_path) == {"report.html"}


@pytest.mark.parametrize("out, says", [
    ("/proc", "cannot write in that folder"),  # refuses writes even to root
    ("/proc/baton-report", "cannot make that folder"),
])
def test_report_out_where_nothing_can_be_written_is_one_line(tmp_path, out, says):
    r = _report(tmp_path, out)
    assert _refused(r).startswith(f"baton: --out {out}: {says} (")
    assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through a folder's permissions")
def test_report_out_in_a_read_only_folder_is_one_line(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        r = _report(tmp_path, str(locked))
        assert _refused(r) == (f"baton: --out {locked}: cannot write in that folder "
                               "(permission denied)")
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


def test_report_out_that_works_writes_its_four_files_and_no_leftovers(tmp_path):
    r = _report(tmp_path, str(tmp_path / "out" / "nov"))
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "out" / "nov").iterdir()) == [
        "audit_events.csv", "escalations.csv", "records.csv", "report.html"]


# A bad pathway tracker template: one line naming its key, exit 2, for every command that
# reads the config (issue 14). The built-in templates' full example is
# bot/domain/tracker_templates.toml.
@pytest.mark.parametrize("toml, says", [
    ('[template.discharge]\nsteps = [{name="x", agency="nowhere"}]\n',
     "template.discharge.steps[0].agency: 'nowhere' is not an agency (have: provider, "),
    ('[template.discharge]\nclose_after = "3d"\n',
     "template.discharge.close_after: unknown key (expected "),
    ('[template.health-change]\nsteps = [{name="Quality check", agency="provider", '
     'due="tomorrow"}]\n',
     "template.health-change.steps[0].due: Couldn't read the duration “tomorrow”"),
    ('[template.falls]\ntitle = "Falls review"\nanchor = "fall time"\n'
     'steps = [{name="Check", agency="provider"}, {name="check", agency="housing"}]\n',
     "template.falls.steps[1].key: 'check' is used by another step"),
    ('[template.provisional]\nperiod = "21d"\n',
     "template.provisional.period: must lie between period_min and period_max"),
    ('[template.transition]\nmismatch_field = "move"\n',
     "template.transition.mismatch_field: names no time field of this template ('move')"),
    ('[template.service-change]\nurgent = ["manager", "the ceo"]\n',
     "template.service-change.urgent[1]: page target “the ceo” must be"),
    ('[template.discharge]\nladder = "urgent"\n',
     "template.discharge.ladder: no [ladder.urgent] in the config (have: default)"),
    ('[agencies]\n"Quality Team" = "Quality team"\n',
     "agencies.Quality Team: a key is lower-case letters, digits and hyphens"),
])
def test_a_bad_tracker_template_is_one_line_naming_its_key(tmp_path, toml, says):
    r = _migrate_with_config(tmp_path, toml)
    assert _refused(r).startswith("baton: " + says)
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "b.db").exists()


@pytest.mark.parametrize("command", [["serve", "--host", "127.0.0.1", "--port", "0"],
                                     ["ladder"]])
def test_serve_and_ladder_refuse_a_bad_template_before_starting(tmp_path, command):
    env = _migrated(tmp_path)
    config = tmp_path / "baton.toml"
    config.write_text('[template.discharge]\nsteps = [{name="x", agency="nowhere"}]\n',
                      encoding="utf-8")
    with SlackEmulator() as slack:
        r = _run(command, {**env, "BATON_CONFIG": str(config),
                           "SLACK_API_URL": slack.base_url}, tmp_path)
    assert _refused(r).startswith("baton: template.discharge.steps[0].agency: 'nowhere' is "
                                  "not an agency")
    assert len(r.stderr.strip().splitlines()) == 1
    assert "serving Slack" not in r.stderr


def test_a_template_override_that_works_starts(tmp_path):
    r = _migrate_with_config(tmp_path, '[agencies]\nquality = "Quality team"\n\n'
                             '[template.transition]\nescalate_to = ["<@U0COMMISS1>"]\n\n'
                             '[template.falls]\ntitle = "Falls review"\nanchor = "fall time"\n'
                             'steps = [{name="Quality review", agency="quality", due="2d"}]\n')
    assert r.returncode == 0, r.stderr
