"""`baton console`: the real Bolt app in-process, a Slack emulator on loopback, a local
SQLite file, and a terminal. Type what you would type in Slack; see what Baton posts.

It is a simulator as well: a small directory of people (`as manager` switches who types),
buttons pressed by label (`click Acknowledge H-1`), and a clock that steps through every
due moment on its way to where it is sent (`clock +5h`), so each reminder, page and digest
happens at its own time, as it would have in a running Baton."""

from __future__ import annotations

import contextlib
import re
import shlex
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TextIO
from zoneinfo import ZoneInfo

from slack_bolt.request import BoltRequest

from bot.app import build_app
from bot.clock import Clock, OffsetClock
from bot.console.emulator import Call, SlackEmulator
from bot.domain.permissions import Role, RoleConfig
from bot.settings import Settings
from bot.slack import wire
from bot.slack.clients import make_client
from store import queries
from store.db import make_engine, make_session_factory, migrate

TEAM = "T0CONSOLE"
USER = "U0CONSOLE1"
CHANNEL = "C0CONSOLE1"
GOVERNANCE = "C0GOVERNAN"
SECRET = "console-signing-secret"
CHANNELS = {CHANNEL: "#care-coordination", GOVERNANCE: "#clinical-governance"}
FILES_DIR = "baton-console-files"
MAX_STEPS = 5000  # due moments one `clock` move steps through at most


@dataclass(frozen=True)
class Person:
    """Someone in the console's workspace: `as HANDLE` makes them the one typing."""

    handle: str
    user_id: str
    roles: tuple[Role, ...]
    tz: str  # "" : the console's own zone (BATON_TIMEZONE)
    slack_admin: bool = False

    def describe(self, tz: str, roles: RoleConfig) -> str:
        return f"{self.handle:<8} {', '.join(self.roles_in(roles)):<20} {self.tz or tz}"

    def roles_in(self, config: RoleConfig) -> list[str]:
        """Their roles under `config` (the console's own, or BATON_CONFIG's [roles])."""
        return [r.value for r in Role if self.user_id in config.of(r)
                or (r is Role.STAFF and not config.configured(Role.STAFF))]


PEOPLE = (
    Person("you", USER, (Role.STAFF, Role.COORDINATOR), ""),
    Person("manager", "U0CONSMGR1", (Role.STAFF, Role.MANAGER), ""),
    Person("admin", "U0CONSADM1", (Role.ADMIN,), "", slack_admin=True),
    Person("sam", "U0CONSSAM1", (Role.STAFF,), "America/Chicago"),
)
ALIASES = {"me": "you", "coordinator": "you"}  # `as coordinator`: the one on the list
NAMES = {p.user_id: p.handle for p in PEOPLE} | {"UBATON": "Baton"}


def console_roles() -> RoleConfig:
    """The console's own [roles] (used unless BATON_CONFIG has a [roles] table): everyone
    is staff (no staff list), you are on the coordinators list, manager is the manager,
    admin the admin."""
    def ids(role: Role) -> frozenset[str]:
        return frozenset(p.user_id for p in PEOPLE if role in p.roles)

    return RoleConfig({Role.ADMIN: ids(Role.ADMIN), Role.MANAGER: ids(Role.MANAGER),
                       Role.COORDINATOR: ids(Role.COORDINATOR)})


HELP = """Console commands:
  /handoff …  /dependency …  /baton …   a slash command, as you would type it in Slack:
      /handoff person: P-1042 to: Northside Home Care contact: 555-0100 due: tomorrow 5pm
      /baton list    /baton show H-1    /baton help   (@manager, @sam … become mentions)
  click LABEL [REF]     press a button Baton posted: `click Acknowledge H-1`,
                        `click "Record interim action" H-2`; `click 3` presses button [3]
  as PERSON             switch who is typing: `as manager`, `as you`; `as` lists them
  clock                 tell the console's time
  clock +2h             move time forward (never back): every reminder, page, nudge,
                        digest and partner check due on the way happens at its own
                        time, in order. To a time: `clock monday 8:35am`,
                        `clock next working day 8:35am`
  wait 30s              let 30 seconds pass (the same as `clock +30s`)
  cancel                inside a form: close it without submitting
  help                  this text
  # comment             ignored (in a script, also where a form asks for an answer)
  quit  (or exit)       leave"""


class MovableClock(Clock, Protocol):
    def advance(self, delta: timedelta) -> datetime: ...


@dataclass
class Button:
    label: str
    action_id: str
    value: str
    channel: str
    ts: str
    block_id: str
    ref: str  # the record (H-1, D-2) the button is for, read from its message; "" if none
    stale: bool = False  # its message was edited since: a newer copy exists


class Lines:
    """Where typed lines come from (a script or the terminal); a line can be put back, so a
    slash command met by a form is run, not swallowed."""

    def __init__(self, read: Callable[[str], str | None], *, echo: bool) -> None:
        self._read = read
        self._echo = echo
        self.scripted = echo  # a script's lines are echoed, and named by number
        self._back: list[str] = []
        self.number = 0  # of the last line read (a script's line number)
        self.echo: Callable[[str], None] = print  # where a script's lines are shown

    def next(self, prompt: str) -> str | None:
        if self._back:
            line: str | None = self._back.pop()
        else:
            line = self._read(prompt)
            if line is not None:
                self.number += 1
        if line is not None and self._echo:
            self.echo(f"{prompt}{line}")
        return line

    def put_back(self, line: str) -> None:
        self._back.append(line)


def script_lines(path: str) -> Lines:
    with open(path, encoding="utf-8") as handle:
        content = handle.read().splitlines()
    return list_lines(content, echo=True)


def list_lines(content: Iterable[str], *, echo: bool = False) -> Lines:
    it = iter(content)
    return Lines(lambda _prompt: next(it, None), echo=echo)


def terminal_lines() -> Lines:
    with contextlib.suppress(ImportError):  # line editing and history, where there is one
        import readline  # noqa: F401 - importing it is what makes input() edit lines

    def read(prompt: str) -> str | None:
        try:
            return input(prompt)
        except EOFError:
            return None

    return Lines(read, echo=False)


class Console:
    def __init__(self, settings: Settings, *, out: TextIO = sys.stdout,
                 lines: Lines | None = None, clock: MovableClock | None = None,
                 files_dir: str | Path = FILES_DIR) -> None:
        self.out = out
        self.clock: MovableClock = clock or OffsetClock()
        self.lines = lines or terminal_lines()
        self.lines.echo = self._print
        self._printing = threading.Lock()  # Baton's threads and the typed lines take turns
        self._heading = ""  # the time of the due moment being stepped through
        self.files_dir = Path(files_dir)
        self.tz = ZoneInfo(settings.default_timezone)
        # The console's clock is simulated: a script's day of commands runs in a moment of
        # real time, so Slack's per-second posting limit (kept by the emulator everywhere
        # else: tests, benches) would refuse what a person typing never meets.
        self.emulator = SlackEmulator(team_id=TEAM, lenient={"rate_limits"}).start()
        for p in PEOPLE:
            self.emulator.add_user(p.user_id, name=p.handle, tz=p.tz or settings.default_timezone,
                                   is_admin=p.slack_admin)
        self.person = PEOPLE[0]
        self._dms = {self.emulator.dm_channel(p.user_id): p.handle for p in PEOPLE}
        # (channel, ts) of each message Baton posted → what it is, so a thread reply says
        # which thread it went to ("the thread of H-1's card").
        self._posted: dict[tuple[str, str], str] = {}
        self.emulator.on_call(self._on_call)
        self.emulator.follow_clock(self.clock.now)  # `clock +2h`: two hours pass for Slack too
        self.emulator.add_channel(CHANNEL, "care-coordination")
        self.emulator.add_channel(GOVERNANCE, "clinical-governance")
        settings = settings.model_copy(update={
            "governance_channel": settings.governance_channel or GOVERNANCE,
            "slack_api_url": self.emulator.base_url,
            "slack_signing_secret": _secret(SECRET),
            "slack_bot_token": _secret("xoxb-console"),
        })
        if "channel_post_interval" not in settings.config_data:
            # Baton paces its posts a second apart per channel on the real clock; while the
            # console's clock steps through an afternoon that would be minutes of waiting.
            # The emulator still answers a burst as Slack would.
            settings = settings.model_copy(update={"channel_post_interval": 0.0})
        if not any(settings.roles.configured(r) for r in Role):
            object.__setattr__(settings, "_roles", console_roles())
        self.settings = settings
        self.engine = make_engine(settings.database_url)
        migrate(self.engine)
        sessions = make_session_factory(self.engine)
        self.continued_at = self._continue_clock(sessions)
        self._seed(sessions)
        self.app, self.baton = build_app(
            settings, client=make_client(settings),
            session_factory=sessions, clock=self.clock, redo=None,
        )
        self.buttons: list[Button] = []
        self.opened: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._last_input = ""  # what opened the form being filled, for its messages
        self._upload = 0
        self._begun = False

    def begin(self) -> None:
        """The banner, then Baton's engine: what fell due while away (a late digest, an
        overdue page) is caught up after the banner and before the first line."""
        if self._begun:
            return
        self._begun = True
        self._print(self.banner())
        self.baton.start_engine()
        self.baton.sweep_now(trends=True)
        self._settle()

    def _continue_clock(self, sessions: Callable[[], Any]) -> datetime | None:
        """A database an earlier session moved the clock on in: start where it left off
        (its latest audit event), never before it. None when the real time is later (real
        downtime: what fell due meanwhile is caught up, and says late)."""
        with sessions() as s:
            last = queries.last_event_at(s, team_id=TEAM)
        if last is None or last <= self.clock.now():
            return None
        self._set(last)
        return last

    def _seed(self, sessions: Callable[[], Any]) -> None:
        """The messages Baton's database says it posted in earlier sessions (cards, pages,
        notices it edits) exist in Slack still: put them in the emulator, which starts
        empty, so editing an earlier session's record updates its card as in Slack."""
        with sessions() as s:
            posted = queries.posted_messages(s, team_id=TEAM)
        dm_users = {self.emulator.dm_channel(p.user_id): p.user_id for p in PEOPLE}
        for channel, ts, what in posted:
            # A DM is reached by its person (as Slack resolves a user ID to the DM); a
            # channel the console has not (a configured one) stays unknown, as it would.
            try:
                self.emulator.seed_message(dm_users.get(channel, channel), ts,
                                           text="(posted in an earlier console session)")
            except ValueError:
                continue
            if what:
                self._posted[(channel, ts)] = what  # "the thread of H-1's card"

    @property
    def user(self) -> str:
        return self.person.user_id

    # --- talking to the app exactly as Slack would ---

    def _dispatch(self, body: str) -> tuple[int, str]:
        headers = wire.signed_headers(body, SECRET)
        resp = self.app.dispatch(BoltRequest(body=body, headers={k.lower(): v for k, v in
                                                               headers.items()}))
        return resp.status, resp.body

    def command(self, line: str) -> None:
        command, _, text = line.partition(" ")
        trigger = self._trigger()
        reply_to = self.emulator.response_url(f"cmd-{trigger}")
        body = wire.slash_command(command, self._mentions(text), user=self.user, channel=CHANNEL,
                                  team=TEAM, trigger_id=trigger, response_url=reply_to)
        self._last_input = command
        status, _ = self._dispatch(body)
        if status != 200:
            self._print(f"(Slack would show: {command} failed, HTTP {status})")
        self._settle()

    def _mentions(self, text: str) -> str:
        """`@manager` → `<@U…|manager>`: Slack escapes mentions in a command's text."""
        def one(m: re.Match[str]) -> str:
            person = self.find_person(m.group(1))
            return f"<@{person.user_id}|{person.handle}>" if person else m.group(0)

        return re.sub(r"(?<![<\w])@([A-Za-z][\w.-]*)", one, text)

    def find_person(self, name: str) -> Person | None:
        name = ALIASES.get(name.lower().lstrip("@"), name.lower().lstrip("@"))
        return next((p for p in PEOPLE if p.handle == name), None)

    def switch(self, name: str) -> None:
        if not name:
            self._print(self.people_text())
            return
        person = self.find_person(name)
        if person is None:
            self._print(f"There is nobody called “{name}” here. {self.people_text()}")
            return
        self.person = person
        self._print(f"» you are now typing as @{person.handle} "
                    f"({', '.join(person.roles_in(self.settings.roles)) or 'no role'}, "
                    f"{person.tz or self.tz.key})")

    def people_text(self) -> str:
        rows = [f"  {p.describe(self.tz.key, self.settings.roles)}"
                + ("   ← typing now" if p == self.person else "")
                for p in PEOPLE]
        return "People in this workspace (`as NAME` switches who is typing):\n" + "\n".join(rows)

    def click(self, arg: str) -> None:
        button = self._find_button(arg)
        if button is None:
            return
        trigger = self._trigger()
        body = wire.block_actions(action_id=button.action_id, value=button.value,
                                  user=self.user, team=TEAM, channel=button.channel,
                                  message_ts=button.ts, block_id=button.block_id,
                                  trigger_id=trigger,
                                  response_url=self.emulator.response_url(f"click-{trigger}"))
        ref = f" ({button.ref})" if button.ref else ""
        self._print(f"» @{self.person.handle} pressed “{button.label}”{ref}")
        self._last_input = f"“{button.label}”{ref}"
        self._dispatch(body)
        self._settle()

    def _find_button(self, arg: str) -> Button | None:
        """`click 3`, `click Acknowledge H-1`, `click "Record interim action" H-2`,
        `click Acknowledge` when only one record has one. None (and a line saying why and
        what there is) when no button, or more than one, fits."""
        if arg.isdigit():
            number = int(arg)
            if not 1 <= number <= len(self.buttons):
                self._print(f"There is no button [{number}].")
                return None
            return self.buttons[number - 1]
        try:
            words = shlex.split(arg)
        except ValueError:
            words = arg.split()
        ref = ""
        if words and re.fullmatch(r"[HDThdt]-\d+(?:\.\d+)?", words[-1]):
            ref = words.pop().upper()
        label = " ".join(words).strip().lower()
        live = [b for b in self.buttons if not b.stale]
        if not label:
            self._print("Say which button: `click LABEL REF` (`click Acknowledge H-1`) or "
                        "`click N`.")
            return None
        fits = [b for b in live if b.label.lower() == label]
        if not fits:
            fits = [b for b in live if b.label.lower().startswith(label)]
        if ref:
            fits = [b for b in fits if b.ref == ref]
        choices = sorted({(b.label, b.ref) for b in fits})
        if len(choices) == 1:
            return fits[-1]  # the newest: the message as it is now
        shown = sorted({(b.label, b.ref) for b in live})
        if not choices:
            listed = _choices(shown)
            self._print(f"No button “{' '.join(words)}”{' for ' + ref if ref else ''}. "
                        + (f"Buttons you can press: {listed}." if listed else
                           "Baton has posted no buttons yet."))
        else:
            self._print(f"More than one button fits “{arg}”: {_choices(choices)}. "
                        "Say which.")
        return None

    def wait(self, text: str) -> None:
        from bot.domain.times import parse_duration

        try:
            delta = parse_duration(text)
        except ValueError as exc:
            self._print(str(exc))
            return
        self._print(f"» waiting {text} …")
        self.step_to(self.clock.now() + delta)

    def move_clock(self, text: str) -> None:
        """`clock` tells the time; `clock +2h`, `clock monday 8:35am` or `clock next working
        day 8:35am` moves it forward, stepping through every due moment on the way."""
        if not text:
            self._print(f"» it is now {self._when(self.clock.now())}")
            return
        try:
            target = self._clock_target(text)
        except ValueError as exc:
            self._print(f"{exc} The clock only moves forward: `clock +2h`, "
                        "`clock monday 8:35am`.")
            return
        self.step_to(target)

    def _clock_target(self, text: str) -> datetime:
        """Where `clock TEXT` moves the clock to; ValueError when TEXT says no time ahead."""
        from bot.domain.times import parse_duration, read_time

        now = self.clock.now()
        if text.startswith("+"):
            return now + parse_duration(text[1:].strip())
        m = re.fullmatch(r"next working day(?:\s+(?:at\s+)?(.+))?", text.strip(),
                         re.IGNORECASE)
        if m:
            day = self._next_working_day(now.astimezone(self.tz).date())
            text = f"{day.isoformat()} {m.group(1) or '9:00am'}"
        return read_time(text, now=now, tz=self.tz)

    def is_console_command(self, text: str) -> bool:
        """A line that can only be a console command (a form asking for an answer stops at
        it, as at a slash command): `as NAME` naming someone here, `click …`, a `clock` or
        `wait` that reads, `help`."""
        from bot.domain.times import parse_duration

        word, _, rest = text.strip().partition(" ")
        rest = rest.strip()
        word = word.lower()
        try:
            if word == "as":
                return bool(rest) and " " not in rest and self.find_person(rest) is not None
            if word == "click":
                return bool(rest)
            if word == "clock":
                return not rest or bool(self._clock_target(rest))
            if word == "wait":
                return not rest or bool(parse_duration(rest))
        except ValueError:
            return False
        return text.strip().lower() == "help"

    def _next_working_day(self, today: date) -> date:
        day = today + timedelta(days=1)
        while not self.baton.calendar.is_working_day(day):
            day += timedelta(days=1)
        return day

    def step_to(self, target: datetime) -> None:
        """Move the clock to `target` through every moment Baton has something due in
        between (due work in the database, digest times), running the engine at each: every
        reminder, page and digest happens, and is audited, at its own time. What was due
        before the move (real downtime) is caught up at once, and says so."""
        self._sweep()
        for _ in range(MAX_STEPS):
            now = self.clock.now()
            nxt = self.baton.next_due_after(now)
            if nxt is None or nxt >= target:
                break
            self._set(nxt)
            self._heading = f"» {self._when(nxt)}"  # shown above what happens then, if any
            self._sweep()
            self._heading = ""
        self._set(target)
        self._sweep()
        self._print(f"» it is now {self._when(self.clock.now())}")

    def _set(self, when: datetime) -> None:
        setter = getattr(self.clock, "set", None)
        if setter is not None:
            setter(when)
        else:
            gap = when - self.clock.now()
            if gap > timedelta(0):
                self.clock.advance(gap)

    def _sweep(self) -> None:
        """Run Baton at this moment until nothing due now is left (work that a sweep made
        due at once, such as a tier-1 page with no delay, is done at this moment too)."""
        for _ in range(3):
            self.baton.sweep_now(trends=True)
            self._settle()
            ready = self.baton.engine.next_ready_at()
            if ready is None or ready > self.clock.now():
                return

    def _when(self, when: datetime) -> str:
        """The console's time: seconds shown when there are any (a ladder in seconds)."""
        local = when.astimezone(self.tz)
        return local.strftime("%a %d %b %H:%M:%S %Z" if local.second else "%a %d %b %H:%M %Z")

    def _trigger(self) -> str:
        return self.emulator.issue_trigger()

    def _settle(self) -> None:
        # Follow-up work runs on Baton's workers; a modal it opened is filled in here.
        for _ in range(10):
            self.baton.wait_idle(timeout=30)
            with self._lock:
                views, self.opened = self.opened, []
            if not views:
                return
            for view in views:
                self._fill(view)

    def _fill(self, view: dict[str, Any]) -> None:
        answers: dict[str, str] = {}
        inputs = [b for b in view.get("blocks", []) if b.get("type") == "input"]
        retry: set[str] | None = None
        for _ in range(5):  # like closing the modal after a few failed tries
            for block in inputs:
                bid = block["block_id"]
                if retry is not None and bid not in retry:
                    continue
                answer = self._prompt_field(view, block, answers.get(bid))
                if answer is None:
                    self._print("» form closed without submitting")
                    return
                answers[bid] = answer
            body = wire.view_submission(view=view, values=wire.state_for(view, answers),
                                        user=self.user, team=TEAM)
            _status, text = self._dispatch(body)
            updated = _updated_view(text)
            if updated is not None:  # the form again: a warning to answer (Post anyway)
                for block in updated.get("blocks", []):
                    if block.get("type") == "section" and block.get("block_id") == "guard_warning":
                        self._print(_plain(block["text"]["text"], self.tz))
                updated["id"] = view.get("id")
                self._fill(updated)
                return
            errors = _errors(text)
            if not errors:
                self._print("» submitted")
                return
            for bid, message in errors.items():
                self._print(f"  ! {bid}: {message}")
            retry = set(errors)
        self._print("» form closed after repeated errors; nothing was saved")

    def _prompt_field(self, view: dict[str, Any], block: dict[str, Any],
                      previous: str | None) -> str | None:
        element = block["element"]
        label = block["label"]["text"] + ("" if block.get("optional") else " *")
        initial = previous or element.get("initial_value") or element.get("initial_user") or ""
        if element["type"] == "static_select":
            # The choices as Slack shows them: their labels, not the values Baton stores.
            choices = " / ".join(o["text"]["text"] for o in element["options"])
            initial = previous or (element.get("initial_option") or {}).get("text", {}).get(
                "text", "")
            label += f" ({choices})"
        if element["type"] == "users_select":
            label += " (a person: me, @manager, sam …)"
            initial = NAMES.get(initial, initial)
        if element["type"] == "checkboxes":
            label += " (yes to tick, Enter to leave it)"
        if element["type"] == "datepicker":
            initial = previous or element.get("initial_date", "")
            ahead = (self.clock.now().astimezone(self.tz) + timedelta(days=7)).date()
            label += f" (a date: {ahead.isoformat()}, friday, in 2 weeks)"  # always ahead
        shown = f" [{_plain(initial, self.tz)}]" if initial else ""
        while True:
            answer = self.lines.next(f"    {label}{shown}: ")
            if answer is None:
                return None
            if not answer.strip().startswith("#"):
                break  # a comment line in a script is no answer
        text = answer.strip()
        if text.lower() == "cancel":
            return None
        if (text.startswith("/") or text.lower() in ("quit", "exit")
                or self.is_console_command(text)):
            # A command where an answer was expected: stop here and run it, so nothing
            # after it is swallowed as answers.
            where = f"line {self.lines.number}: " if self.lines.scripted else ""
            title = view.get("title", {}).get("text", "")
            opened = f"for {self._last_input}" if self._last_input else f"“{title}”"
            self._print(f"{where}the form {opened} was still asking for "
                        f"`{block['label']['text']}` when `{text}` came; answer the form or "
                        "add `cancel`.")
            self.lines.put_back(answer)
            return None
        if text == "":
            return str(initial) if element["type"] != "users_select" else \
                self._user_answer(str(initial))
        if element["type"] == "users_select":
            return self._user_answer(text)
        if element["type"] == "static_select" and wire.chosen_option(element, text) is None:
            # Slack's list lets no one pick what is not on it: ask again.
            self._print("  ! choose one of: "
                        + ", ".join(o["text"]["text"] for o in element["options"]))
            return self._prompt_field(view, block, previous)
        if element["type"] == "datepicker":
            return self._date(text)
        return text

    def _user_answer(self, text: str) -> str:
        person = self.find_person(text)
        if text.lower() in ("me", "myself", "i"):
            return self.user
        return person.user_id if person else text

    def _date(self, answer: str) -> str:
        """A date picker's YYYY-MM-DD, from what was typed (as Slack's picker would give)."""
        from bot.domain.times import read_time

        try:
            return date.fromisoformat(answer).isoformat()
        except ValueError:
            pass
        try:
            return read_time(answer, now=self.clock.now(), tz=self.tz).astimezone(
                self.tz).date().isoformat()
        except ValueError:
            return answer  # Baton's own validation answers it

    # --- what Baton sent to Slack ---

    def _on_call(self, call: Call) -> None:
        r = call.response
        if call.method == "chat.postMessage" and r.get("ok"):
            channel = str(r.get("channel") or call.params["channel"])
            if channel in self._dms or channel.startswith("D"):
                title = f"Baton sent @{self._dms.get(channel, 'someone')} a DM"
            elif call.params.get("thread_ts"):
                parent = self._posted.get((channel, str(call.params["thread_ts"])))
                where = f"the thread of {parent}" if parent else "a thread"
                title = f"Baton replied in {where} in {_channel(channel)}"
            else:
                title = f"Baton posted in {_channel(channel)}"
                self._posted[(channel, str(r["ts"]))] = _what_message(call)
            self._show_message(title, call, str(r["ts"]))
        elif call.method == "chat.update" and r.get("ok"):
            channel, ts = str(call.params["channel"]), str(call.params["ts"])
            with self._lock:
                for b in self.buttons:
                    if b.channel == channel and b.ts == ts:
                        b.stale = True
            where = (f"DM to @{self._dms[channel]}" if channel in self._dms
                     else _channel(channel))
            self._show_message(f"Baton edited its message in {where}", call, ts)
        elif call.method == "chat.postEphemeral" and r.get("ok"):
            who = NAMES.get(str(call.params.get("user", "")), "you")
            self._show_message(f"Only @{who} can see", call, "")
        elif call.method == "response_url":
            self._show_message(f"Only @{self.person.handle} can see", call, "")
        elif call.method in ("views.open", "views.push") and r.get("ok"):
            view = dict(call.json_param("view"))
            view["id"] = r["view"]["id"]
            self._print(f"┌ Baton opened a form for @{self.person.handle}: "
                        f"{view.get('title', {}).get('text', '')}")
            for block in view.get("blocks", []):
                if block.get("type") == "section" and block.get("text"):
                    self._print("│ " + _plain(block["text"]["text"], self.tz))
            with self._lock:
                self.opened.append(view)
        elif call.method == "files.completeUploadExternal" and r.get("ok"):
            self._show_upload(call)
        elif not r.get("ok", True) and call.method not in ("users.info",):
            self._print(f"(Slack answered {call.method}: {r.get('error')})")

    def _show_upload(self, call: Call) -> None:
        """A report Baton uploaded: say so, and save its files where they can be opened."""
        listed = call.json_param("files") or []
        names = ", ".join(f.get("title", "") for f in listed)
        lines = [f"┌ Baton uploaded files to {_channel(str(call.params.get('channel_id')))}: "
                 f"{names}"]
        lines += ["│ " + ln for ln in _plain(str(call.params.get("initial_comment", "")),
                                             self.tz).splitlines()]
        stored = self.emulator.uploaded_files()
        self._upload += 1
        folder = self.files_dir / (f"{self.clock.now().astimezone(self.tz):%Y-%m-%d-%H%M}"
                                   f"-{self._upload}")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for f in listed:
                entry = stored.get(str(f.get("id", "")))
                if entry and entry["bytes"] is not None:
                    (folder / Path(str(entry["filename"])).name).write_bytes(entry["bytes"])
            lines.append(f"│ saved in {folder}{'/' if not str(folder).endswith('/') else ''}")
        except OSError as exc:
            lines.append(f"│ (could not save the files in {folder}: {exc.strerror})")
        self._print("\n".join(lines))

    def _show_message(self, title: str, call: Call, ts: str) -> None:
        blocks = call.json_param("blocks") or []
        lines = [f"┌ {title}"]
        if not blocks:
            lines += ["│ " + ln for ln in _plain(str(call.params.get("text", "")), self.tz)
                      .splitlines()]
        for line in self._render(blocks, str(call.response.get("channel")
                                             or call.params.get("channel", "")), ts):
            lines.append("│ " + line)
        self._print("\n".join(lines))

    def _render(self, blocks: list[dict[str, Any]], channel: str, ts: str) -> Iterator[str]:
        ref = ""  # the record the text so far was about: the next buttons are for it
        head = ""  # the header's record: a tracker card's own buttons are for it
        for block in blocks:
            kind = block.get("type")
            if kind == "header":
                ref = head = _ref(block["text"]["text"])
                yield f"== {block['text']['text']} =="
            elif kind == "section":
                text = block.get("text", {}).get("text", "") if block.get("text") else ""
                if _REF.search(text):
                    ref = _ref(text)
                if text:
                    yield from _plain(text, self.tz).splitlines()
                for f in block.get("fields", []):
                    yield "  " + _plain(f["text"], self.tz).replace("\n", ": ", 1)
                accessory = block.get("accessory") or {}
                if accessory.get("type") == "button":
                    yield "  " + self._button(accessory, block, channel, ts, ref)
                elif accessory.get("type") == "overflow":  # a tracker step's menu
                    yield "  " + "  ".join(
                        self._button({**o, "action_id": accessory["action_id"]}, block,
                                     channel, ts, ref) for o in accessory.get("options", []))
            elif kind == "context":
                yield "  " + " ".join(_plain(e.get("text", ""), self.tz)
                                      for e in block.get("elements", []))
            elif kind == "divider":
                yield "—" * 40
            elif kind == "actions":
                whose = head if str(block.get("block_id", "")).startswith("tracker:") else ref
                shown = [self._button(e, block, channel, ts, whose)
                         for e in block.get("elements", []) if e.get("type") == "button"]
                if shown:
                    yield "  " + "  ".join(shown)

    def _button(self, e: dict[str, Any], block: dict[str, Any], channel: str, ts: str,
                ref: str) -> str:
        with self._lock:
            self.buttons.append(Button(e["text"]["text"], e["action_id"], e.get("value", ""),
                                       channel, ts, block.get("block_id", ""), ref))
            n = len(self.buttons)
        return f"[{n}] {e['text']['text']}"

    def _print(self, text: str) -> None:
        with self._printing:
            if self._heading:
                print(self._heading, file=self.out)
                self._heading = ""
            print(text, file=self.out, flush=True)

    def banner(self) -> str:
        continued = (f"\ncontinuing at {self._when(self.continued_at)}, where this "
                     "database's last session left off" if self.continued_at else "")
        return (f"Baton console — Slack emulated on {self.emulator.base_url}, database "
                f"{self.settings.database_url}, in #care-coordination ({self.tz.key}); "
                f"it is {self._when(self.clock.now())}.{continued}\n{self.people_text()}\n"
                f"{HELP}")

    def close(self) -> None:
        self.baton.close()
        self.emulator.stop()
        self.engine.dispose()


def _choices(pairs: Iterable[tuple[str, str]]) -> str:
    out = []
    for label, ref in pairs:
        quoted = f'"{label}"' if " " in label else label
        out.append(f"`click {quoted}{' ' + ref if ref else ''}`")
    return ", ".join(out)


_REF = re.compile(r"\b([HDT]-\d+(?:\.\d+)?)\b")


def _what_message(call: Call) -> str:
    """A posted message named for a thread reply's title: a record's card, a page, or its
    first words."""
    blocks = call.json_param("blocks") or []
    headers = [b["text"]["text"] for b in blocks if b.get("type") == "header"]
    text = str(call.params.get("text", ""))
    if headers and _ref(headers[0]):
        return f"{_ref(headers[0])}'s card"
    if "Escalation tier" in text:
        tier = re.search(r"Escalation tier (\d+)", text)
        return f"the tier {tier.group(1)} page" if tier else "the page"
    first = " ".join((headers[0] if headers else text).split())
    return f"“{first[:40]}…”" if len(first) > 40 else f"“{first}”"


def _ref(text: str) -> str:
    """The one record a text is about; "" when it names none or several (a pattern notice
    listing its records: its buttons are for the pattern, not one record). A step named
    with its own tracker (a page row of T-1.14 saying `/baton decide T-1`) is the step's."""
    found: set[str] = set(_REF.findall(text))
    steps = {f for f in found if "." in f}
    if len(steps) == 1 and found - steps <= {next(iter(steps)).partition(".")[0]}:
        return steps.pop()
    return found.pop() if len(found) == 1 else ""


def _secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)


def _channel(channel: str) -> str:
    return CHANNELS.get(channel, "a channel" if channel.startswith(("C", "G")) else channel)


def _updated_view(body: str) -> dict[str, Any] | None:
    import json

    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return None
    view = data.get("view") if data.get("response_action") == "update" else None
    return view if isinstance(view, dict) else None


def _errors(body: str) -> dict[str, str]:
    import json

    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return {}
    return data.get("errors", {}) if data.get("response_action") == "errors" else {}


_DATE = re.compile(r"<!date\^(\d+)\^[^|>]*\|([^>]*)>")
_USER = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#([A-Z0-9]+)(?:\|[^>]*)?>")
_BARE_CHANNEL = re.compile(r"\b(" + "|".join(CHANNELS) + r")\b")


def _plain(text: str, tz: ZoneInfo) -> str:
    def when(m: re.Match[str]) -> str:
        at = datetime.fromtimestamp(int(m.group(1)), UTC).astimezone(tz)
        return at.strftime("%a %d %b %H:%M %Z")

    text = _DATE.sub(when, text)
    text = _CHANNEL.sub(lambda m: _channel(m.group(1)), text)
    text = _BARE_CHANNEL.sub(lambda m: CHANNELS[m.group(1)], text)  # never an ID on screen
    text = _USER.sub(lambda m: "@" + NAMES.get(m.group(1), m.group(1)), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def run(console: Console) -> int:
    """Read lines until `quit` or the end, doing what each says."""
    console.begin()  # the banner and the catch-up, if not yet
    try:
        while True:
            raw = console.lines.next("baton> ")
            if raw is None:
                break
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line in ("quit", "exit"):
                break
            console._last_input = ""
            if line.startswith("/"):
                console.command(line)
            elif line == "click" or line.startswith("click "):
                console.click(line.removeprefix("click").strip())
            elif line == "wait" or line.startswith("wait "):
                console.wait(line.removeprefix("wait").strip() or "10s")
            elif line == "clock" or line.startswith("clock "):
                console.move_clock(line.removeprefix("clock").strip())
            elif line == "as" or line.startswith("as "):
                console.switch(line.removeprefix("as").strip())
            elif line == "help":
                console._print(HELP)
            elif line == "cancel":
                console._print("There is no form open to cancel.")
            else:
                console._print("Start with a slash command, or a console command: click, as, "
                               "clock, wait, help, quit (`help` says more).")
    except KeyboardInterrupt:
        pass
    return 0


def run_console(settings: Settings, *, script: str | None = None,
                files_dir: str | None = None) -> int:
    lines = script_lines(script) if script else terminal_lines()
    console = Console(settings, lines=lines, files_dir=files_dir or FILES_DIR)
    try:
        console.begin()
        return run(console)
    finally:
        console.close()
