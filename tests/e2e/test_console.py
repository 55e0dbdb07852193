"""`baton console` as a simulator, run in-process with an injected clock (no real waiting):
the real Bolt app against the Slack emulator, driven line by line as a script would."""

from __future__ import annotations

import io
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.clock import FixedClock
from bot.console.terminal import HELP, Console, list_lines, run
from bot.settings import load_settings

NY = ZoneInfo("America/New_York")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def console_run(tmp_path: Path, lines: list[str], start: datetime, *, db: str = "c.db",
                config: Path | None = None) -> str:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/{db}", "BATON_TIMEZONE": "America/New_York"}
    if config is not None:
        env["BATON_CONFIG"] = str(config)
    # Posts in a channel are paced a second apart on the real clock: not in a test.
    settings = load_settings(env).model_copy(update={"channel_post_interval": 0})
    out = io.StringIO()
    console = Console(settings, out=out, lines=list_lines(lines, echo=True),
                      clock=FixedClock(start), files_dir=tmp_path / "files")
    try:
        run(console)  # the banner, the catch-up, then the lines
    finally:
        console.close()
    return out.getvalue()


HANDOFF = ("/handoff person: P-1042 to: Northside Home Care contact: intake desk 555-0100 "
           "due: {due} risk: short-term")


def test_two_sessions_on_one_database_both_log_their_handoff(tmp_path):
    # The same start time twice: nothing the second session mints may repeat the first's.
    # A command's trigger_id and a form's view ID are request keys: both ways, each session.
    start = datetime(2026, 12, 8, 9, 0, tzinfo=NY)
    # Four people: the same person and partner twice would be asked about (a duplicate).
    def form(person: str) -> list[str]:
        return [f"/handoff person: {person} to: Northside Home Care", "", "",
                "intake 555-0100", "tomorrow 5pm", "", "", "", ""]

    def typed(person: str) -> str:
        return HANDOFF.format(due="tomorrow 5pm").replace("P-1042", person)

    first = console_run(tmp_path, [*form("P-1042"), typed("P-1043"), "quit"], start)
    second = console_run(tmp_path, [*form("P-1044"), typed("P-1045"), "quit"], start)
    for ref, person in (("H-1", "P-1042"), ("H-2", "P-1043")):
        assert f"== Handoff {ref} · {person} ==" in first
    for ref, person in (("H-3", "P-1044"), ("H-4", "P-1045")):
        assert f"== Handoff {ref} · {person} ==" in second
        assert f"Logged *{ref}*" in second
    assert first.count("» submitted") == second.count("» submitted") == 1


def test_clock_steps_through_every_due_moment_in_order(tmp_path):
    # Default ladder: reminders 24h and 2h before, tier 1 at the deadline, tier 2 an hour on.
    start = datetime(2026, 12, 8, 9, 0, tzinfo=NY)
    out = console_run(tmp_path, [HANDOFF.format(due="in 3h"), "clock +5h", "/baton show H-1",
                                 "quit"], start)
    assert "sent late" not in out and "catching up" not in out
    moved = out.index("baton> clock +5h")
    order = [out.index(s, moved) for s in (
        "» Tue 08 Dec 10:00 EST", "2h left before its response deadline",
        "» Tue 08 Dec 12:00 EST", "*Status*: :red_circle: Overdue",
        "Escalation tier 1, Internal owner", "overdue *just now*",
        "» Tue 08 Dec 13:00 EST", "Escalation tier 2, Coordinator of the day",
        "overdue by *1h*", "» it is now Tue 08 Dec 14:00 EST")]
    assert order == sorted(order)
    trail = out[out.index("baton> /baton show H-1"):]
    assert re.search(r"Tue 08 Dec 10:00 EST · Baton sent a reminder", trail)
    assert re.search(r"Tue 08 Dec 12:00 EST · Baton changed status: pending → overdue", trail)
    assert re.search(r"Tue 08 Dec 12:00 EST · Baton paged escalation tier 1", trail)
    assert re.search(r"Tue 08 Dec 13:00 EST · Baton paged escalation tier 2", trail)
    # Each thread line says which thread it went to, and tier 2's is told once.
    assert "replied in the thread of H-1's card in #care-coordination\n│ Reminder sent" in out
    assert out.count("H-1: escalation tier 2 (Coordinator of the day) paged in") == 1


def test_real_downtime_still_says_late(tmp_path):
    start = datetime(2026, 12, 8, 9, 0, tzinfo=NY)
    console_run(tmp_path, [HANDOFF.format(due="in 1h"), "quit"], start)
    # Three hours later, a new session on the same database: Baton was not running.
    out = console_run(tmp_path, ["quit"], datetime(2026, 12, 8, 12, 0, tzinfo=NY))
    assert "sent late: Baton was catching up" in out


def test_a_digest_caught_up_in_the_afternoon_says_what_it_is(tmp_path):
    sunday = datetime(2026, 12, 6, 10, 0, tzinfo=NY)
    console_run(tmp_path, ["as manager", "/baton coordinator @you monday,tuesday,wednesday,"
                           "thursday,friday", "quit"], sunday)
    # Baton was away over Monday's digest time: it is caught up at 16:28.
    out = console_run(tmp_path, ["quit"], datetime(2026, 12, 7, 16, 28, tzinfo=NY))
    assert "Good morning" not in out
    assert "Digest for Monday (caught up at Mon 07 Dec 16:28 EST)" in out
    # On time, it is a morning greeting.
    out = console_run(tmp_path, ["clock tuesday 8:45am", "quit"],
                      datetime(2026, 12, 7, 17, 0, tzinfo=NY))
    assert "» Tue 08 Dec 08:30 EST" in out
    assert "Good morning @you" in out and "caught up" not in out.split("Console commands")[1]


def test_people_buttons_by_label_and_forms_in_scripts(tmp_path):
    start = datetime(2026, 12, 8, 9, 0, tzinfo=NY)
    out = console_run(tmp_path, [
        "as nobody",
        "as sam",
        HANDOFF.format(due="tomorrow 5pm"),
        "as you",
        "/handoff person: P-2077 to: Riverside Behavioral Health contact: intake 555-0199 "
        "due: tomorrow 5pm",
        'click "Partner acknowledged"',
        "click Nope",
        'click "Partner acknowledged" H-2',
        "/handoff person: P-3310",
        "/baton list",
        "/handoff person: P-3310",
        "cancel",
        "as",
        "quit",
    ], start)
    assert "There is nobody called “nobody” here." in out
    assert "» you are now typing as @sam (staff, America/Chicago)" in out
    assert "Logged by @sam" in out
    assert ("More than one button fits “\"Partner acknowledged\"”: "
            "`click \"Partner acknowledged\" H-1`, `click \"Partner acknowledged\" H-2`") in out
    assert "No button “Nope”. Buttons you can press:" in out
    assert "» @you pressed “Partner acknowledged” (H-2)" in out
    assert "H-2: Partner acknowledged receipt, recorded by @you." in out
    # A slash command where the form wanted an answer: one line, and the command runs.
    m = re.search(r"line 10: the form for /handoff was still asking for `[^`]+` when "
                  r"`/baton list` came; answer the form or add `cancel`\.", out)
    assert m, out
    after = out[m.end():]
    assert after.count("baton> /baton list") == 1  # taken back and run, once
    assert "H-1" in after and "H-2" in after  # the list was shown
    assert after.count("» form closed without submitting") == 2  # the stopped one, `cancel`
    assert "H-3" not in out
    assert "  sam      staff                America/Chicago" in after  # `as` lists them
    assert "C0CONSOLE1" not in out and "C0GOVERNAN" not in out


def test_help_and_banner_list_every_console_command(tmp_path):
    out = console_run(tmp_path, ["help", "quit"], datetime(2026, 12, 8, 9, 0, tzinfo=NY))
    banner = out[:out.index("baton> help")]
    for text in (HELP, banner):
        for command in ("as PERSON", "click LABEL", "clock +2h", "clock monday 8:35am",
                        "wait 30s", "cancel", "help", "quit", "/baton"):
            assert command in text
    for person in ("you ", "manager ", "admin ", "sam "):
        assert f"  {person}" in banner


# Start times for the examples: weekday morning and afternoon, Friday evening, Sunday, and
# the two daylight-saving changes in New York (1 Nov 2026 02:00 EDT → 01:00 EST; 14 Mar
# 2027 02:00 EST → 03:00 EDT), started just before them.
STARTS = [
    datetime(2026, 12, 9, 8, 0, tzinfo=NY),
    datetime(2026, 12, 9, 16, 0, tzinfo=NY),
    datetime(2026, 12, 11, 19, 0, tzinfo=NY),
    datetime(2026, 12, 13, 11, 0, tzinfo=NY),
    datetime(2026, 11, 1, 1, 59, 40, tzinfo=NY),
    datetime(2027, 3, 14, 1, 59, 40, tzinfo=NY),
]
IDS = ["weekday-0800", "weekday-1600", "friday-evening", "sunday", "dst-november",
       "dst-march"]


def _no_console_mistakes(out: str) -> None:
    shown = "\n".join(ln for ln in out.split("Console commands")[1].splitlines()
                      if not ln.startswith("baton> "))  # what was said, not what was typed
    for wrong in ("No button", "More than one button", "There is no button", "still asking",
                  "Start with a slash command", "sent late", "catching up", "caught up",
                  "Slack answered", "Traceback", "C0CONSOLE1", "C0GOVERNAN"):
        assert wrong not in shown, wrong


@pytest.mark.parametrize("start", STARTS, ids=IDS)
def test_coordination_example_keeps_its_promises_at_any_start(tmp_path, start):
    lines = (EXAMPLES / "coordination.txt").read_text(encoding="utf-8").splitlines()
    out = console_run(tmp_path, lines, start)
    _no_console_mistakes(out)
    body = out[out.index("baton> clock next working day 8:00am"):]
    # The manager names you coordinator for every weekday.
    assert ("@you is coordinator of the day every Monday, Tuesday, Wednesday, Thursday, "
            "Friday.") in body
    # Your morning digest at 08:30, its own time.
    digest = body.index("== Coordinator of the day ·")
    assert re.search(r"» \w{3} \d\d \w{3} 08:30 E[SD]T\n┌ Baton sent @you a DM\n"
                     r"│ == Coordinator of the day", body)
    assert "Good morning @you" in body[digest:]
    # sam's same-day dependency nudges you.
    assert ("Coordinator nudge: a new *same-day risk* dependency *D-1* (P-4121 → County "
            "Managed Care) was logged by @sam") in body
    # Three missed deadlines, each paged at its own time: 10:00, 11:00, 12:00.
    for hour, ref in ((10, "H-1"), (11, "H-2"), (12, "H-3")):
        assert re.search(rf"\*Handoff {ref}\* · P-\d+ · Northside Home Care\n│ past its "
                         rf"response deadline with no partner acknowledgement: overdue "
                         rf"\*just now\* \(since \w{{3}} \d\d \w{{3}} {hour}:00 E[SD]T\)",
                         body), ref
    assert "Escalation tier 1 acknowledged by @you." in body
    # Governance sees the pattern.
    notice = body.index("┌ Baton posted in #clinical-governance\n│ == Systemic pattern: "
                        "Northside Home Care · hospital discharge ==")
    # Next working day: the digest (again at 08:30), the huddle, a next action from it.
    assert body.count("== Coordinator of the day ·") == 2
    assert body.index("== Joint caseload huddle roster ==") > notice
    assert re.search(r"H-2: Next action for @you by \w{3} \d\d \w{3} 11:00 E[SD]T: chase "
                     r"Northside intake manager by phone", body)
    # The manager classifies it.
    assert "Classified *Systemic* by @manager" in body
    assert "corrective route: *Senior partner meeting* · executive owner @manager" in body
    assert body.count("» submitted") == 2
    # The partner's figures and the report, saved.
    assert "== Partner trends: Northside Home Care ==" in body
    assert "Records logged: 4 (3 handoffs, 1 dependency)" in body
    saved = re.search(r"│ saved in (\S+)/\n", body)
    assert saved and (Path(saved.group(1)) / "report.html").is_file()


@pytest.mark.parametrize("start", STARTS, ids=IDS)
def test_escalation_example_keeps_its_promises_at_any_start(tmp_path, start):
    lines = (EXAMPLES / "escalation.txt").read_text(encoding="utf-8").splitlines()
    out = console_run(tmp_path, lines, start, config=EXAMPLES / "console-ladder.toml")
    _no_console_mistakes(out)
    body = out[out.index("baton> /handoff"):]
    order = [body.index(s) for s in (
        "H-2: Partner acknowledged receipt, recorded by @you.",
        "20s left before its response deadline",
        "Escalation tier 1, Internal owner",
        "Escalation tier 2, Operations Director",
        "Only @manager or a manager can acknowledge tier 2 (Operations Director)",
        "H-1: Escalation tier 2 acknowledged by @manager.",
        "*Audit trail*")]
    assert order == sorted(order)
    assert "*Handoff H-2* ·" not in body  # never paged
    assert "overdue by *15s*" in body  # tier 2, 15 seconds after the deadline
    trail = body[body.index("*Audit trail*"):].splitlines()
    # What Baton did by itself, in the trail's words (bot/domain/audit_words.py).
    did = [ln.split(" · Baton ", 1)[1].split(" _(")[0] for ln in trail if " · Baton " in ln]
    assert did == ["sent a reminder", "changed status: pending → overdue",
                   "paged escalation tier 1", "paged escalation tier 2"]


# --- a database reused across sessions, forms meeting console commands, the help ---

def test_an_earlier_sessions_card_and_page_are_edited_in_a_later_session(tmp_path, caplog):
    start = datetime(2026, 12, 8, 9, 0, tzinfo=NY)
    # Session A: H-1 logged, its deadline passes, tier 1 is paged; H-2 logged.
    first = console_run(tmp_path, [HANDOFF.format(due="in 1h"), "clock +1h",
                                   HANDOFF.format(due="tomorrow 5pm").replace("P-1042",
                                                                              "P-1043"),
                                   "quit"], start)
    assert "Escalation tier 1, Internal owner" in first
    # Session B, later the same day: the emulator starts empty, but H-1's card and page
    # and H-2's card are still in Slack, as they would be.
    caplog.clear()
    second = console_run(tmp_path, ["/baton edit H-2 risk: same-day",
                                    "/baton cancel H-1 a duplicate of a phoned referral",
                                    "clock +1h", "quit"],
                         datetime(2026, 12, 8, 10, 30, tzinfo=NY))
    assert "message_not_found" not in second and "Slack answered" not in second
    assert not [r for r in caplog.records if r.levelname == "WARNING"], caplog.records
    edited = second[second.index("baton> /baton edit H-2"):]
    assert re.search(r"┌ Baton edited its message in #care-coordination\n│ == Handoff H-2 · "
                     r"P-1043 ==", edited)
    # Cancelling H-1 updates its card and its tier 1 page, both from session A.
    h1 = edited[edited.index("baton> /baton cancel H-1"):edited.index("baton> clock +1h")]
    assert "┌ Baton edited its message in #care-coordination\n│ == Handoff H-1 · P-1042 ==" in h1
    assert ("┌ Baton edited its message in #care-coordination\n│ :white_check_mark: Escalation "
            "tier 1, Internal owner: nothing on this page needs you any more.") in h1
    # A thread line under session A's card says whose card it is.
    assert "Baton replied in the thread of H-1's card in #care-coordination" in h1
    assert "Escalation tier 2" not in second  # cancelled: the ladder stopped


def test_the_emulator_still_refuses_a_message_nobody_seeded(tmp_path):
    from bot.console.emulator import SlackEmulator

    with SlackEmulator(token="xoxb-seed") as emulator:
        emulator.add_channel("C0SEEDED01", "seeded")
        emulator.seed_message("C0SEEDED01", "1765200000.000100", text="earlier")
        with pytest.raises(ValueError):  # a channel that does not exist for Baton
            emulator.seed_message("C0NOWHERE1", "1765200000.000100", text="earlier")
        with pytest.raises(ValueError):  # a ts already taken
            emulator.seed_message("C0SEEDED01", "1765200000.000100", text="again")
        from slack_sdk import WebClient
        from slack_sdk.errors import SlackApiError

        client = WebClient(token="xoxb-seed", base_url=emulator.base_url)
        client.chat_update(channel="C0SEEDED01", ts="1765200000.000100", text="now")
        assert emulator.message("C0SEEDED01", "1765200000.000100")["text"] == "now"
        with pytest.raises(SlackApiError) as refused:
            client.chat_update(channel="C0SEEDED01", ts="1765200000.000200", text="now")
        assert refused.value.response["error"] == "message_not_found"
        # A message posted now is minted after the seeded one, never at its ts.
        posted = client.chat_postMessage(channel="C0SEEDED01", text="new")
        assert float(posted["ts"]) > 1765200000.0001


def test_the_clock_continues_where_the_last_session_left_off(tmp_path):
    monday = datetime(2026, 12, 7, 9, 0, tzinfo=NY)
    first = console_run(tmp_path, [HANDOFF.format(due="tuesday 10am"),
                                   "clock tuesday 8:35am", "/baton edit H-1 risk: same-day",
                                   "quit"], monday)
    assert "continuing at" not in first
    # Session B starts at the real time, Monday again: the clock does not go back.
    second = console_run(tmp_path, ["clock", "/baton show H-1", "quit"], monday)
    assert ("continuing at Tue 08 Dec 08:35 EST, where this database's last session "
            "left off") in second
    assert "it is Tue 08 Dec 08:35 EST." in second.split("\n")[0]
    assert "» it is now Tue 08 Dec 08:35 EST" in second
    assert "sent late" not in second
    trail = second[second.index("*Audit trail*"):]
    assert "Mon 07 Dec 09:" not in trail.split("risk")[-1]  # nothing after the edit is earlier
    # Real downtime after that: the real time is later, so it is used, and late is late.
    third = console_run(tmp_path, ["quit"], datetime(2026, 12, 8, 12, 0, tzinfo=NY))
    assert "continuing at" not in third
    assert "sent late: Baton was catching up" in third


def test_the_banner_comes_before_a_catch_up(tmp_path):
    start = datetime(2026, 12, 8, 9, 0, tzinfo=NY)
    console_run(tmp_path, [HANDOFF.format(due="in 1h"), "quit"], start)
    out = console_run(tmp_path, ["quit"], datetime(2026, 12, 8, 12, 0, tzinfo=NY))
    assert out.startswith("Baton console — ")
    assert out.index("Console commands") < out.index("sent late: Baton was catching up")


@pytest.mark.parametrize("command, ran", [
    ("as sam", "» you are now typing as @sam"),
    ("click Acknowledge H-1", "No button “Acknowledge”"),
    ("clock +3h", "» it is now Tue 08 Dec 12:00 EST"),
    ("clock next working day 8:35am", "» it is now Wed 09 Dec 08:35 EST"),
    ("wait 30s", "» waiting 30s …"),
    ("help", "Console commands:"),
])
def test_a_console_command_in_a_form_stops_it_and_runs(tmp_path, command, ran):
    start = datetime(2026, 12, 8, 9, 0, tzinfo=NY)
    out = console_run(tmp_path, ["/handoff person: P-3310 to: Northside Home Care", command,
                                 "quit"], start)
    m = re.search(rf"line 2: the form for /handoff was still asking for `[^`]+` when "
                  rf"`{re.escape(command)}` came; answer the form or add `cancel`\.", out)
    assert m, out
    after = out[m.end():]
    assert "» form closed without submitting" in after
    assert after.count(f"baton> {command}") == 1  # taken back and run, once
    assert ran in after
    assert "» submitted" not in out


def test_typed_in_the_terminal_a_console_command_stops_a_form_too(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/c.db", "BATON_TIMEZONE": "America/New_York"}
    settings = load_settings(env).model_copy(update={"channel_post_interval": 0})
    out = io.StringIO()
    typed = ["/handoff person: P-3310 to: Northside Home Care", "as manager", "quit"]
    console = Console(settings, out=out, lines=list_lines(typed),  # not a script: no echo
                      clock=FixedClock(datetime(2026, 12, 8, 9, 0, tzinfo=NY)),
                      files_dir=tmp_path / "files")
    try:
        run(console)
    finally:
        console.close()
    text = out.getvalue()
    assert re.search(r"\nthe form for /handoff was still asking for `[^`]+` when `as manager` "
                     r"came; answer the form or add `cancel`\.", text), text
    assert "» you are now typing as @manager" in text
    assert "» submitted" not in text


def test_answers_that_only_look_like_commands_stay_answers(tmp_path):
    # `as` with nobody of that name, a clock line that reads no time: a field's answer.
    start = datetime(2026, 12, 8, 9, 0, tzinfo=NY)
    out = console_run(tmp_path, ["/handoff person: P-3310 to: Northside Home Care",
                                 "as needed intake desk", "clock tower desk 555-0100",
                                 "cancel", "quit"], start)
    assert "still asking" not in out
    assert "» form closed without submitting" in out


def test_the_help_lines_each_read(tmp_path):
    lines = HELP.splitlines()
    assert all(len(line) <= 90 for line in lines), [ln for ln in lines if len(ln) > 90]
    # The table: a command at the left, what it does from column 24, a longer description
    # going on at column 24 (never a word pushed far right, as `forward)` once was).
    table = lines[lines.index(next(ln for ln in lines if ln.startswith("  click"))):]
    for line in table:
        assert line[:2] == "  " and line[24] != " ", line
        assert (line[2] != " " and line[22:24] == "  ") or line[:24] == " " * 24, line
    assert "`clock next working day 8:35am`" in HELP
    assert any(line.startswith("  # comment ") for line in lines)
    assert any(line.startswith("  quit") and "exit" in line for line in lines)


def test_a_script_that_is_not_there_is_one_line(tmp_path):
    from tests.fakes.cli import run_baton

    r = run_baton(["console", "--script", str(tmp_path / "nonexistent")],
                  {"DATABASE_URL": f"sqlite:///{tmp_path}/b.db"}, timeout=120, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    assert r.stderr.strip() == (f"baton: --script {tmp_path / 'nonexistent'}: cannot read it "
                                "(no such file or directory)")
    assert not (tmp_path / "b.db").exists()


def test_an_example_runs_twice_in_one_folder_with_fresh(tmp_path):
    from tests.fakes.cli import run_baton

    env = {"BATON_CONFIG": str(EXAMPLES / "console-ladder.toml"),
           "DATABASE_URL": f"sqlite:///{tmp_path}/kept.db"}
    outs = [run_baton(["console", "--fresh", "--script", str(EXAMPLES / "escalation.txt")],
                      env, timeout=300, cwd=tmp_path) for _ in range(2)]
    for r in outs:
        assert r.returncode == 0, r.stderr
        assert "Traceback" not in r.stderr and "WARNING" not in r.stderr, r.stderr
        _no_console_mistakes(r.stdout)
        assert "H-1: Escalation tier 2 acknowledged by @manager." in r.stdout
        assert "== Handoff H-1 · P-1042 ==" in r.stdout
        assert "continuing at" not in r.stdout
    # DATABASE_URL was not used, and nothing of the fresh database is left behind.
    assert not (tmp_path / "kept.db").exists()
    assert not [p for p in tmp_path.iterdir() if p.suffix in (".db", ".lock")]


@pytest.mark.parametrize("start", STARTS[:2], ids=IDS[:2])
def test_trackers_example_keeps_its_promises(tmp_path, start):
    lines = (EXAMPLES / "trackers.txt").read_text(encoding="utf-8").splitlines()
    out = console_run(tmp_path, lines, start)
    _no_console_mistakes(out)
    body = out[out.index("baton> clock next working day 8:00am"):]
    # The transition: proceed refused naming the gates, the funding page to the manager.
    assert "T-1 cannot proceed (the move goes ahead) without: Confirmed move date (open)" in body
    assert re.search(r"@manager :rotating_light: Escalation tier 1, Commissioner: 1 step "
                     r"needs you\.", body)
    assert "differs from the move date" in body and "by *7 days* (later)" in body
    assert "Cost of duplicated support: 7 days of day support paid twice" in body
    assert "without: Commissioner decision: funding start date differs from the move date " \
           "(open). 1 gate still open." in body
    assert "*Approved adjustment*" in body
    assert "T-1: :arrow_forward: proceeded (the move goes ahead) by @sam" in body
    # The sprint: a refusal with how it was managed, a step escalated and acknowledged.
    assert ("T-2.4 *First visit and transportation* *refused by the person* by @sam — How "
            "the refusal was managed: declined the morning visit") in body
    assert "Escalation tier 2, Coordinator of the day" in body
    assert "T-2.6: Escalation tier 2 acknowledged by @you." in body  # the coordinator
    assert "*T-2.6* Equipment and assistive needs · Health partner · owner @sam" in body
    closed = re.search(r"T-2: :checkered_flag: The sprint closed: on time (\d+); late (\d+) "
                       r"\(([^)]*)\); not done (\d+) \(([^)]*)\); refused by the person 1 "
                       r"\(First visit and transportation\)", body)
    assert closed and "Immediate risks" in closed.group(3), body[-3000:]
    assert "Equipment and assistive needs" in closed.group(5)
    # The provisional package: two contact attempts, the decision.
    assert body.count("contact attempt") >= 2
    assert "Moved to a funded program" in body
    # The report's tracker figures.
    assert "Trackers started: 3 (transition 1, discharge 1, provisional 1)" in body
    assert "Provisional packages moved to a funded program: 100% (1 of 1)" in body
    assert "Steps refused by the person: 1" in body
