"""`baton console`: the real Bolt app in-process, a Slack emulator on loopback, a local
SQLite file, and a terminal. Type what you would type in Slack; see what Baton posts."""

from __future__ import annotations

import itertools
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from slack_bolt.request import BoltRequest

from bot.app import build_app
from bot.clock import Clock, OffsetClock
from bot.console.emulator import Call, SlackEmulator
from bot.settings import Settings
from bot.slack import wire
from bot.slack.clients import make_client
from store.db import make_engine, make_session_factory, migrate

TEAM = "T0CONSOLE"
USER = "U0CONSOLE1"
CHANNEL = "C0CONSOLE1"
GOVERNANCE = "C0GOVERNAN"
SECRET = "console-signing-secret"
NAMES = {USER: "you", "UBATON": "Baton"}
CHANNELS = {CHANNEL: "#care-coordination", GOVERNANCE: "#clinical-governance"}

HELP = """Type slash commands as in Slack, for example:
  /handoff person: P-1042 to: Northside Home Care contact: intake desk 555-0100 due: tomorrow 5pm
  /dependency person: P-1042 action: unsigned authorization partner: County Care risk: emerging
  /baton list      /baton show H-1      /baton help
Buttons Baton posts are numbered: `click 3` presses button [3]. `wait 30s` lets time pass
(reminders and pages arrive as they fall due). `clock` tells the console's time;
`clock +2h` or `clock monday 8:35am` moves it forward at once (digests, pages and partner
checks that fall due in between are sent). `quit` leaves."""


@dataclass
class Button:
    label: str
    action_id: str
    value: str
    channel: str
    ts: str
    block_id: str


class Console:
    def __init__(self, settings: Settings, *, out: TextIO = sys.stdout,
                 ask: Callable[[str], str | None] | None = None,
                 clock: Clock | None = None) -> None:
        self.out = out
        self.clock = clock or OffsetClock()
        self.ask = ask or self._stdin_ask
        self.tz = ZoneInfo(settings.default_timezone)
        self.emulator = SlackEmulator(team_id=TEAM).start()
        # You are the console workspace's Slack admin: with no [roles] in BATON_CONFIG, Slack
        # admins are Baton's admins and managers.
        self.emulator.add_user(USER, name="you", tz=settings.default_timezone, is_admin=True)
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
        self.engine = make_engine(settings.database_url)
        migrate(self.engine)
        self.app, self.baton = build_app(
            settings, client=make_client(settings),
            session_factory=make_session_factory(self.engine), clock=self.clock, redo=None,
        )
        self.baton.start_engine()
        self.buttons: list[Button] = []
        self.opened: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._triggers = itertools.count(1)

    @staticmethod
    def _stdin_ask(prompt: str) -> str | None:
        try:
            return input(prompt)
        except EOFError:
            return None

    # --- talking to the app exactly as Slack would ---

    def _dispatch(self, body: str) -> tuple[int, str]:
        headers = wire.signed_headers(body, SECRET)
        resp = self.app.dispatch(BoltRequest(body=body, headers={k.lower(): v for k, v in
                                                               headers.items()}))
        return resp.status, resp.body

    def command(self, line: str) -> None:
        command, _, text = line.partition(" ")
        reply_to = self.emulator.response_url(f"cmd-{next(self._triggers)}")
        body = wire.slash_command(command, text, user=USER, channel=CHANNEL, team=TEAM,
                                  trigger_id=self._trigger(), response_url=reply_to)
        status, _ = self._dispatch(body)
        if status != 200:
            self._print(f"(Slack would show: {command} failed, HTTP {status})")
        self._settle()

    def click(self, number: int) -> None:
        if not 1 <= number <= len(self.buttons):
            self._print(f"There is no button [{number}].")
            return
        b = self.buttons[number - 1]
        body = wire.block_actions(action_id=b.action_id, value=b.value, user=USER, team=TEAM,
                                  channel=b.channel, message_ts=b.ts, block_id=b.block_id,
                                  trigger_id=self._trigger(),
                                  response_url=self.emulator.response_url(f"click-{next(self._triggers)}"))
        self._print(f"» you pressed “{b.label}”")
        self._dispatch(body)
        self._settle()

    def wait(self, text: str) -> None:
        from bot.domain.times import parse_duration

        try:
            seconds = parse_duration(text).total_seconds()
        except ValueError as exc:
            self._print(str(exc))
            return
        self._print(f"» waiting {text} …")
        time.sleep(seconds)  # the console runs on the real clock: let it pass
        self._settle()

    def move_clock(self, text: str) -> None:
        """`clock` tells the time; `clock +2h` or `clock monday 8:35am` moves it forward."""
        from bot.domain.times import parse_duration, read_time

        now = self.clock.now()
        if text:
            if not isinstance(self.clock, OffsetClock):
                self._print("This console's clock can't be moved.")
                return
            try:
                if text.startswith("+"):
                    delta = parse_duration(text[1:].strip())
                else:
                    delta = read_time(text, now=now, tz=self.tz) - now
                self.clock.advance(delta)
            except ValueError as exc:
                self._print(f"{exc} The clock only moves forward: `clock +2h`, "
                            "`clock monday 8:35am`.")
                return
            self.baton.sweep_now()
            self._settle()
        self._print(f"» it is now {self.clock.now().astimezone(self.tz):%a %d %b %H:%M %Z}")

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
                answer = self._prompt_field(block, answers.get(bid))
                if answer is None:
                    self._print("» form closed without submitting")
                    return
                answers[bid] = answer
            body = wire.view_submission(view=view, values=wire.state_for(view, answers),
                                        user=USER, team=TEAM)
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

    def _prompt_field(self, block: dict[str, Any], previous: str | None) -> str | None:
        element = block["element"]
        label = block["label"]["text"] + ("" if block.get("optional") else " *")
        initial = previous or element.get("initial_value") or element.get("initial_user") or ""
        if element["type"] == "static_select":
            choices = "/".join(o["value"] for o in element["options"])
            initial = previous or (element.get("initial_option") or {}).get("value", "")
            label += f" ({choices})"
        if element["type"] == "users_select":
            label += " (a user ID, or `me`)"
        if element["type"] == "checkboxes":
            label += " (yes to tick, Enter to leave it)"
        if element["type"] == "datepicker":
            initial = previous or element.get("initial_date", "")
            label += " (a date: 2026-12-04, friday, in 2 weeks)"
        shown = f" [{_plain(initial, self.tz)}]" if initial else ""
        answer = self.ask(f"    {label}{shown}: ")
        if answer is None:
            return None
        if answer.strip() == "":
            return initial
        answer = answer.strip()
        if element["type"] == "users_select" and answer.lower() == "me":
            return USER
        if element["type"] == "datepicker":
            return self._date(answer)
        return answer

    def _date(self, answer: str) -> str:
        """A date picker's YYYY-MM-DD, from what was typed (as Slack's picker would give)."""
        from datetime import date

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
            channel = str(call.params["channel"])
            if channel.startswith("D"):
                title = "Baton sent you a DM"
            elif call.params.get("thread_ts"):
                title = f"Baton replied in a thread in {_channel(channel)}"
            else:
                title = f"Baton posted in {_channel(channel)}"
            self._show_message(title, call, str(r["ts"]))
        elif call.method == "chat.update" and r.get("ok"):
            self._show_message(f"Baton edited its message in {_channel(call.params['channel'])}",
                               call, str(call.params["ts"]))
        elif (call.method == "chat.postEphemeral" and r.get("ok")) or call.method == "response_url":
            self._show_message("Only you can see", call, "")
        elif call.method in ("views.open", "views.push") and r.get("ok"):
            view = dict(call.json_param("view"))
            view["id"] = r["view"]["id"]
            self._print(f"┌ Baton opened a form: {view.get('title', {}).get('text', '')}")
            for block in view.get("blocks", []):
                if block.get("type") == "section" and block.get("text"):
                    self._print("│ " + _plain(block["text"]["text"], self.tz))
            with self._lock:
                self.opened.append(view)
        elif call.method == "files.completeUploadExternal" and r.get("ok"):
            names = ", ".join(f.get("title", "") for f in call.json_param("files") or [])
            lines = [f"┌ Baton uploaded files to {_channel(str(call.params.get('channel_id')))}: "
                     f"{names}"]
            lines += ["│ " + ln for ln in _plain(str(call.params.get("initial_comment", "")),
                                                 self.tz).splitlines()]
            self._print("\n".join(lines))
        elif not r.get("ok", True) and call.method not in ("users.info",):
            self._print(f"(Slack answered {call.method}: {r.get('error')})")

    def _show_message(self, title: str, call: Call, ts: str) -> None:
        blocks = call.json_param("blocks") or []
        lines = [f"┌ {title}"]
        if not blocks:
            lines += ["│ " + ln for ln in _plain(str(call.params.get("text", "")), self.tz)
                      .splitlines()]
        for line in self._render(blocks, str(call.params.get("channel", "")), ts):
            lines.append("│ " + line)
        self._print("\n".join(lines))

    def _render(self, blocks: list[dict[str, Any]], channel: str, ts: str) -> Iterator[str]:
        for block in blocks:
            kind = block.get("type")
            if kind == "header":
                yield f"== {block['text']['text']} =="
            elif kind == "section":
                if block.get("text"):
                    yield from _plain(block["text"]["text"], self.tz).splitlines()
                for f in block.get("fields", []):
                    yield "  " + _plain(f["text"], self.tz).replace("\n", ": ", 1)
            elif kind == "context":
                yield "  " + " ".join(_plain(e.get("text", ""), self.tz)
                                      for e in block.get("elements", []))
            elif kind == "divider":
                yield "—" * 40
            elif kind == "actions":
                shown = []
                for e in block.get("elements", []):
                    if e.get("type") != "button":
                        continue
                    with self._lock:
                        self.buttons.append(Button(e["text"]["text"], e["action_id"],
                                                   e.get("value", ""), channel, ts,
                                                   block.get("block_id", "")))
                        n = len(self.buttons)
                    shown.append(f"[{n}] {e['text']['text']}")
                if shown:
                    yield "  " + "  ".join(shown)

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def close(self) -> None:
        self.baton.close()
        self.emulator.stop()
        self.engine.dispose()


def _secret(value: str) -> Any:
    from pydantic import SecretStr

    return SecretStr(value)


def _channel(channel: str) -> str:
    return CHANNELS.get(channel, channel)


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


def _plain(text: str, tz: ZoneInfo) -> str:
    def date(m: re.Match[str]) -> str:
        when = datetime.fromtimestamp(int(m.group(1)), UTC).astimezone(tz)
        return when.strftime("%a %d %b %H:%M %Z")

    text = _DATE.sub(date, text)
    text = _CHANNEL.sub(lambda m: _channel(m.group(1)), text)
    text = _USER.sub(lambda m: "@" + NAMES.get(m.group(1), m.group(1)), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def run_console(settings: Settings, *, script: str | None = None) -> int:
    lines: Iterator[str]
    if script:
        handle = open(script, encoding="utf-8")  # noqa: SIM115 - closed at the end
        lines = (ln.rstrip("\n") for ln in handle)

        def ask(prompt: str) -> str | None:
            answer = next(lines, None)
            print(f"{prompt}{answer if answer is not None else ''}", flush=True)
            return answer

        console = Console(settings, ask=ask)
    else:
        console = Console(settings)
        lines = iter(lambda: console.ask("baton> ") or "\x00", "\x00")
    console._print(f"Baton console — Slack emulated on {console.emulator.base_url}, "
                   f"database {settings.database_url}, you are @you in #care-coordination "
                   f"({console.tz.key}).\n{HELP}")
    try:
        for raw in lines:
            line = raw.strip()
            if script:
                print(f"baton> {line}", flush=True)
            if not line or line.startswith("#"):
                continue
            if line in ("quit", "exit"):
                break
            if line.startswith("/"):
                console.command(line)
            elif line.startswith("click"):
                arg = line.removeprefix("click").strip()
                console.click(int(arg) if arg.isdigit() else 0)
            elif line.startswith("wait"):
                console.wait(line.removeprefix("wait").strip() or "10s")
            elif line == "clock" or line.startswith("clock "):
                console.move_clock(line.removeprefix("clock").strip())
            elif line == "help":
                console._print(HELP)
            else:
                console._print("Start with a slash command, `click N` or `quit`.")
    except KeyboardInterrupt:
        pass
    finally:
        console.close()
    return 0
