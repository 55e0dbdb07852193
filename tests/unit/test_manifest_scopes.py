"""manifest.yml asks for exactly what Baton uses: the bot scopes its Slack calls need (derived
from the WebClient methods its sources call), and the slash commands and events its
listeners handle. A scope nothing needs is one more thing an agency's admin must approve;
one missing is a call Slack refuses (missing_scope)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_bolt import App
from slack_sdk import WebClient

from bot.console.emulator.scopes import _CONVERSATION_SCOPES, METHOD_SCOPES

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("bot", "handlers", "scheduler", "store")
# The emulator and its Socket Mode server answer Slack's methods; they are not Baton's calls.
NOT_BATON = "bot/console/emulator/"
# Calls Bolt makes itself: auth.test to verify the bot token and authorize requests.
BOLT_CALLS = {"auth.test"}
# Scopes no Web API method asks for, each with why Baton needs it.
NON_METHOD_SCOPES = {
    "commands": "the manifest declares slash commands (/handoff, /dependency, /baton)",
    "chat:write.public": "posting record cards and pages in public channels Baton hasn't "
                         "joined (chat.postMessage answers not_in_channel without it)",
}
_CALL = re.compile(r"\.([a-z]+_[A-Za-z0-9_]+)\(")
_API_CALL = re.compile(r"""api_call\(\s*["']([a-zA-Z.]+)["']""")
_SELF_CALL = re.compile(r"self\.([a-z]+_[A-Za-z0-9_]+)\(")


def manifest() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))


def slack_methods(name: str, seen: frozenset[str] = frozenset()) -> set[str]:
    """The Web API methods a WebClient method sends: its api_call("…") names, and those of
    the WebClient methods it calls (files_upload_v2 is getUploadURLExternal, then
    completeUploadExternal)."""
    source = inspect.getsource(getattr(WebClient, name))
    out = set(_API_CALL.findall(source))
    for inner in set(_SELF_CALL.findall(source)) - seen - {name}:
        if callable(getattr(WebClient, inner, None)):
            out |= slack_methods(inner, seen | {name})
    return out


def baton_calls() -> dict[str, set[str]]:
    """Web API method -> the source files that call it."""
    calls: dict[str, set[str]] = {}
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith(NOT_BATON):
                continue
            for name in set(_CALL.findall(path.read_text(encoding="utf-8"))):
                if name == "api_call" or not callable(getattr(WebClient, name, None)):
                    continue  # api_call: the install-flow client's token pass-through
                for method in slack_methods(name):
                    calls.setdefault(method, set()).add(rel)
    for method in BOLT_CALLS:
        calls.setdefault(method, set()).add("slack_bolt")
    return calls


def scopes_for(method: str) -> set[str]:
    if method in _CONVERSATION_SCOPES:  # Baton works in public and private channels
        kinds = _CONVERSATION_SCOPES[method]
        return {kinds["public"], kinds["private"]}
    assert method in METHOD_SCOPES, (
        f"Baton calls {method}: add its scope (or () for none) to METHOD_SCOPES in "
        "bot/console/emulator/scopes.py, from Slack's method page")
    needed = METHOD_SCOPES[method]
    return {needed[0]} if needed else set()  # several: any one will do, the first is Baton's


def test_the_scan_finds_what_baton_is_known_to_call():
    calls = baton_calls()
    assert {"chat.postMessage", "chat.update", "chat.postEphemeral", "conversations.open",
            "views.open", "views.publish", "users.info", "usergroups.users.list",
            "files.getUploadURLExternal", "files.completeUploadExternal",
            "auth.test"} <= set(calls)
    assert "handlers/commands.py" in calls["files.completeUploadExternal"]


def test_the_manifest_asks_for_exactly_the_bot_scopes_baton_needs():
    needed: dict[str, set[str]] = {}
    for method, where in baton_calls().items():
        for scope in scopes_for(method):
            needed.setdefault(scope, set()).add(f"{method} ({', '.join(sorted(where))})")
    for scope, why in NON_METHOD_SCOPES.items():
        needed.setdefault(scope, set()).add(why)
    m = manifest()
    assert m["features"]["slash_commands"], "commands is asked for because of slash commands"
    asked = set(m["oauth_config"]["scopes"]["bot"])
    missing = {s: sorted(needed[s]) for s in set(needed) - asked}
    unused = sorted(asked - set(needed))
    assert not missing, f"manifest.yml lacks scopes Baton needs: {missing}"
    assert not unused, f"manifest.yml asks for scopes nothing Baton does needs: {unused}"


def _listened(name: Any) -> str | None:
    """The command or event a listener is for: a name, a pattern for one name in any case
    (`^/handoff$`, IGNORECASE), or None for a catch-all pattern."""
    import re

    if isinstance(name, str):
        return name
    if isinstance(name, re.Pattern):
        one = re.fullmatch(r"\^(.+)\$", name.pattern)
        return re.sub(r"\\(.)", r"\1", one.group(1)) if one else None
    return str(name.get("type", name))


@pytest.fixture
def registered(monkeypatch, sqlite_url):
    """Every slash command and event a listener is registered for, through build_app."""
    from bot.app import build_app
    from bot.clock import FixedClock
    from bot.settings import load_settings
    from store.db import make_engine, make_session_factory
    from tests.conftest import START

    seen: dict[str, list[str]] = {"command": [], "event": []}
    for kind in seen:
        original = getattr(App, kind)

        def spy(self: App, name: Any, *args: Any, _kind: str = kind, _orig: Any = original,
                **kwargs: Any) -> Any:
            named = _listened(name)
            if named is not None:  # None: the catch-all for what Baton does not have
                seen[_kind].append(named)
            return _orig(self, name, *args, **kwargs)

        monkeypatch.setattr(App, kind, spy)
    settings = load_settings({"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "s",
                              "DATABASE_URL": sqlite_url})
    engine = make_engine(sqlite_url)
    _, runtime = build_app(settings, client=WebClient(token="xoxb-test"),
                           session_factory=make_session_factory(engine),
                           clock=FixedClock(START), token_verification=False)
    yield seen
    runtime.close()
    engine.dispose()


def test_the_manifest_declares_the_commands_and_events_baton_listens_for(registered):
    m = manifest()
    commands = sorted(c["command"] for c in m["features"]["slash_commands"])
    assert commands == sorted(registered["command"])
    events = sorted(m["settings"]["event_subscriptions"]["bot_events"])
    assert events == sorted(registered["event"])
    assert {"app_home_opened", "app_uninstalled", "tokens_revoked"} <= set(events)
