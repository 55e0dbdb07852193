"""A loopback Slack Web API emulator that speaks Slack's real wire protocol.

An unmodified ``slack_sdk.WebClient(token=..., base_url=emulator.base_url)`` works against
it: requests are POSTed to ``/api/<method>`` as form or JSON bodies with a Bearer token, and
answers are ``200`` JSON bodies shaped like Slack's (``{"ok": false, "error": ...}`` for API
errors).  It keeps just enough state (messages, threads, views, users, files) that the bot's
read-modify-write flows (post then update, open then update a modal) behave as in Slack.

It is runtime code, not only a test fake: ``baton console`` runs the bot against it offline
and prints every call through :meth:`SlackEmulator.on_call`.  Stdlib only on purpose, so the
console mode needs no extra dependencies.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import email.parser
import email.policy
import hashlib
import json
import logging
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self
from urllib.parse import parse_qsl, quote, unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["Call", "SlackEmulator"]

log = logging.getLogger(__name__)

# Where emulated permalinks and the workspace URL point; never resolvable, on purpose.
EMULATED_HOST = "https://emulated.slack"

# Limits Slack enforces; checking them here surfaces bot bugs that real Slack would reject.
_MAX_MESSAGE_BLOCKS = 50
_MAX_VIEW_BLOCKS = 100
_MAX_TEXT = 40_000
_MAX_VIEW_TITLE = 24
_MAX_PRIVATE_METADATA = 3000

# Slack reports a long-form tz_label; zoneinfo only knows abbreviations.
_TZ_LABELS = {
    "EST": "Eastern Standard Time",
    "EDT": "Eastern Daylight Time",
    "CST": "Central Standard Time",
    "CDT": "Central Daylight Time",
    "MST": "Mountain Standard Time",
    "MDT": "Mountain Daylight Time",
    "PST": "Pacific Standard Time",
    "PDT": "Pacific Daylight Time",
    "AKST": "Alaska Standard Time",
    "AKDT": "Alaska Daylight Time",
    "HST": "Hawaii-Aleutian Standard Time",
    "UTC": "Coordinated Universal Time",
    "GMT": "Greenwich Mean Time",
    "BST": "British Summer Time",
}


# ---------------------------------------------------------------------- Slack's refusals
#
# The emulator refuses what Slack refuses, with Slack's error codes. A test that needs a
# convenience Slack does not offer asks for it by name (SlackEmulator(lenient={...})):
LENIENCIES = frozenset({
    "unknown_channels",   # any channel id exists: a public channel Baton is a member of
    "unissued_triggers",  # a trigger_id the emulator never issued is taken as fresh
    "rate_limits",        # no per-channel posting limit
    "scopes",             # every scope is granted, whatever manifest.yml asks for
    "unknown_users",      # any user id can be sent a DM (a benchmark's made-up staff)
})

# What the benchmarks ask for: their channels, staff and trigger ids are made up, and they
# measure Baton, not Slack's posting limit (the engine's pacer is measured by its own test).
BENCH_LENIENCIES = frozenset({"unknown_channels", "unknown_users", "unissued_triggers",
                              "rate_limits"})

# The bot-token scope each Web API method needs (Slack's method pages, "Required scopes").
# Several scopes: any one of them will do; a callable picks by the channel's kind.
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.delete": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "conversations.open": ("im:write", "mpim:write", "channels:manage", "groups:write"),
    "users.info": ("users:read",),
    "users.list": ("users:read",),
    "usergroups.list": ("usergroups:read",),
    "usergroups.users.list": ("usergroups:read",),
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
    # No scope: views with a trigger_id or for the user's own Home; auth.test for any token.
    "views.open": (),
    "views.publish": (),
    "auth.test": (),
}
# conversations.* read methods: the scope depends on the kind of conversation.
_CONVERSATION_SCOPES: dict[str, dict[str, str]] = {
    "conversations.info": {"public": "channels:read", "private": "groups:read",
                           "im": "im:read"},
    "conversations.history": {"public": "channels:history", "private": "groups:history",
                              "im": "im:history"},
    "conversations.replies": {"public": "channels:history", "private": "groups:history",
                              "im": "im:history"},
}

TRIGGER_LIFETIME = 3.0  # seconds: a trigger_id opens one view within 3 s of its action
RESPONSE_URL_LIFETIME = 30 * 60.0  # seconds
RESPONSE_URL_USES = 5
# chat.postMessage: about one message a second per channel, short bursts allowed. Slack does
# not publish the burst; ten is what Baton must survive.
POST_BURST = 10
POST_RATE = 1.0  # messages per second, refilled

MANIFEST = Path(__file__).resolve().parents[3] / "manifest.yml"


def manifest_bot_scopes(path: Any = MANIFEST) -> frozenset[str] | None:
    """The bot scopes manifest.yml asks for (oauth_config.scopes.bot), read without a YAML
    library (the emulator is stdlib only); None when there is no manifest beside the code."""
    try:
        lines = open(path, encoding="utf-8").read().splitlines()  # noqa: SIM115
    except OSError:
        return None
    scopes: set[str] = set()
    path_stack: list[tuple[int, str]] = []
    for raw in lines:
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        text_ = line.strip()
        while path_stack and path_stack[-1][0] >= indent:
            path_stack.pop()
        keys = [k for _, k in path_stack]
        if text_.startswith("- "):
            if keys[-3:] == ["oauth_config", "scopes", "bot"]:
                scopes.add(text_[2:].strip().strip("\"'"))
            continue
        if text_.endswith(":"):
            path_stack.append((indent, text_[:-1].strip()))
    return frozenset(scopes)


def _maybe_json(value: Any) -> Any:
    """Decode a JSON object/array sent as a form string; leave anything else untouched.

    Only containers are decoded so that e.g. a ``text`` of ``"123"`` does not become an int.
    """
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in ("[", "{"):
            try:
                return json.loads(stripped)
            except ValueError:
                return value
    return value


class _Headers(dict):
    """Header dict with lower-cased keys and case-insensitive lookup.

    urllib sends ``Content-type``, httpx sends ``content-type``; tests should not care.
    """

    def __init__(self, items: Any = ()) -> None:
        super().__init__()
        pairs = items.items() if isinstance(items, dict) else items
        for key, value in pairs:
            super().__setitem__(str(key).lower(), str(value))

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key.lower(), value)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


@dataclass(frozen=True)
class Call:
    """One request the emulator answered, as recorded for assertions and the console."""

    method: str
    params: dict
    headers: dict[str, str]
    status: int
    response: dict

    def json_param(self, name: str) -> Any:
        """``params[name]`` decoded if it is a JSON string (blocks, view...), else as is."""
        return _maybe_json(self.params.get(name))


@dataclass
class _Failure:
    method: str | None
    status: int
    remaining: int | None  # None: until recover() (or `until` says the outage is over)
    retry_after: int | None
    error: str | None
    until: Callable[[], bool] | None = None
    channel: str | None = None  # only calls to this channel (None = any)


class _Refused(Exception):
    """An answer that is not a 200 (a 429 with Retry-After), raised from a method."""

    def __init__(self, status: int, body: dict, headers: dict[str, str]) -> None:
        super().__init__(body.get("error"))
        self.status, self.body, self.headers = status, body, headers


class _BadRequest(Exception):
    def __init__(self, error: str, detail: str = "") -> None:
        super().__init__(error)
        self.error = error
        self.detail = detail


class _Args:
    """Typed access to merged request params (form strings or JSON values)."""

    def __init__(self, params: dict) -> None:
        self.params = params

    def str(self, name: str) -> str | None:
        value = self.params.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (dict, list)):
            return json.dumps(value)
        return str(value)

    def json(self, name: str) -> Any:
        return _maybe_json(self.params.get(name))

    def bool(self, name: str) -> bool:
        value = self.params.get(name)
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1", "yes")
        return bool(value)

    def list(self, name: str) -> list[str]:
        value = self._list_value(name)
        return [str(v).strip() for v in value if str(v).strip()]

    def _list_value(self, name: str) -> list[Any]:
        value = self.json(name)
        if value is None:
            return []
        if isinstance(value, str):
            return value.split(",")
        if isinstance(value, list):
            return value
        return [value]


def _json_default(value: Any) -> Any:
    # Multipart file parts are bytes; echoing them (api.test) must not break the answer.
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _invalid_blocks(problem: str) -> dict:
    """Slack's answer to blocks its schema refuses: the problems in ``errors`` as well as in
    response_metadata.messages."""
    body = _error("invalid_blocks", problem)
    body["errors"] = [problem]
    return body


def _error(error: str, *messages: str) -> dict:
    body: dict[str, Any] = {"ok": False, "error": error}
    if messages:
        body["response_metadata"] = {"messages": [f"[ERROR] {m}" for m in messages]}
    return body


# ---------------------------------------------------------------------- Block Kit limits
#
# Slack validates blocks against a JSON schema and refuses the whole call on the first
# violation: ``invalid_blocks`` for messages, ``invalid_arguments`` for views, HTTP 400
# ``invalid_blocks`` for a response_url. The schema counts characters (code points), as
# slack_sdk's own validators do. Only what Baton's block types use is checked, but every
# documented limit of those is.

_SECTION_TEXT = 3000
_SECTION_FIELDS = 10
_FIELD_TEXT = 2000
_HEADER_TEXT = 150
_CONTEXT_ELEMENTS = 10
_CONTEXT_TEXT = 3000
_ACTIONS_ELEMENTS = 25
_BUTTON_TEXT = 75
_BUTTON_VALUE = 2000
_URL = 3000
_ID = 255  # block_id, action_id
_OPTION_TEXT = 75
_OPTION_VALUE = 150
_OPTIONS = 100
_PLACEHOLDER = 150
_LABEL = 2000
_HINT = 2000
_INPUT_MAX_LENGTH = 3000


def _too_long(limit: int, pointer: str) -> str:
    return f"must be less than {limit + 1} characters [json-pointer:{pointer}]"


def _text_problem(obj: Any, pointer: str, *, limit: int, plain_only: bool = False) -> str | None:
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        return f"must be a text object [json-pointer:{pointer}]"
    if plain_only and obj["type"] != "plain_text":
        return f"must be plain_text [json-pointer:{pointer}/type]"
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return f"must be more than 0 characters [json-pointer:{pointer}/text]"
    if len(text) > limit:
        return _too_long(limit, f"{pointer}/text")
    return None


def _id_problem(value: Any, pointer: str) -> str | None:
    if value is not None and (not isinstance(value, str) or len(value) > _ID):
        return _too_long(_ID, pointer)
    return None


def _element_problem(el: Any, pointer: str) -> str | None:
    if not isinstance(el, dict) or not isinstance(el.get("type"), str):
        return f"missing required field: type [json-pointer:{pointer}]"
    kind = el["type"]
    problem = _id_problem(el.get("action_id"), f"{pointer}/action_id")
    if problem:
        return problem
    if "placeholder" in el:
        problem = _text_problem(el["placeholder"], f"{pointer}/placeholder",
                                limit=_PLACEHOLDER, plain_only=True)
        if problem:
            return problem
    if kind == "button":
        problem = _text_problem(el.get("text"), f"{pointer}/text", limit=_BUTTON_TEXT,
                                plain_only=True)
        if problem:
            return problem
        if len(str(el.get("value") or "")) > _BUTTON_VALUE:
            return _too_long(_BUTTON_VALUE, f"{pointer}/value")
        if len(str(el.get("url") or "")) > _URL:
            return _too_long(_URL, f"{pointer}/url")
    elif kind in ("static_select", "radio_buttons", "checkboxes", "overflow"):
        options = el.get("options") or []
        if not isinstance(options, list) or len(options) > _OPTIONS:
            return f"no more than {_OPTIONS} items allowed [json-pointer:{pointer}/options]"
        chosen = [el["initial_option"]] if isinstance(el.get("initial_option"), dict) else []
        for j, option in enumerate([*options, *chosen]):
            where = f"{pointer}/options/{j}" if j < len(options) else f"{pointer}/initial_option"
            if not isinstance(option, dict):
                return f"must be an option object [json-pointer:{where}]"
            problem = _text_problem(option.get("text"), f"{where}/text", limit=_OPTION_TEXT)
            if problem:
                return problem
            if len(str(option.get("value") or "")) > _OPTION_VALUE:
                return _too_long(_OPTION_VALUE, f"{where}/value")
    elif kind == "plain_text_input":
        max_length = el.get("max_length")
        if max_length is not None and not (
            isinstance(max_length, int) and 1 <= max_length <= _INPUT_MAX_LENGTH
        ):
            return (f"must be between 1 and {_INPUT_MAX_LENGTH} "
                    f"[json-pointer:{pointer}/max_length]")
    return None


def _block_problem(block: Any, pointer: str) -> str | None:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        return f"missing required field: type [json-pointer:{pointer}]"
    kind = block["type"]
    problem = _id_problem(block.get("block_id"), f"{pointer}/block_id")
    if problem:
        return problem
    if kind == "section":
        text, fields = block.get("text"), block.get("fields")
        if text is None and not fields:
            return f"must provide either text or fields [json-pointer:{pointer}]"
        if text is not None:
            problem = _text_problem(text, f"{pointer}/text", limit=_SECTION_TEXT)
            if problem:
                return problem
        if fields is not None:
            if not isinstance(fields, list) or len(fields) > _SECTION_FIELDS:
                return (f"no more than {_SECTION_FIELDS} items allowed "
                        f"[json-pointer:{pointer}/fields]")
            for j, field in enumerate(fields):
                problem = _text_problem(field, f"{pointer}/fields/{j}", limit=_FIELD_TEXT)
                if problem:
                    return problem
        if "accessory" in block:
            return _element_problem(block["accessory"], f"{pointer}/accessory")
    elif kind == "header":
        return _text_problem(block.get("text"), f"{pointer}/text", limit=_HEADER_TEXT,
                             plain_only=True)
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= _CONTEXT_ELEMENTS:
            return (f"must have between 1 and {_CONTEXT_ELEMENTS} items "
                    f"[json-pointer:{pointer}/elements]")
        for j, element in enumerate(elements):
            if isinstance(element, dict) and element.get("type") in ("plain_text", "mrkdwn"):
                problem = _text_problem(element, f"{pointer}/elements/{j}",
                                        limit=_CONTEXT_TEXT)
                if problem:
                    return problem
    elif kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= _ACTIONS_ELEMENTS:
            return (f"must have between 1 and {_ACTIONS_ELEMENTS} items "
                    f"[json-pointer:{pointer}/elements]")
        for j, element in enumerate(elements):
            problem = _element_problem(element, f"{pointer}/elements/{j}")
            if problem:
                return problem
    elif kind == "input":
        problem = _text_problem(block.get("label"), f"{pointer}/label", limit=_LABEL,
                                plain_only=True)
        if problem:
            return problem
        if "hint" in block:
            problem = _text_problem(block["hint"], f"{pointer}/hint", limit=_HINT,
                                    plain_only=True)
            if problem:
                return problem
        return _element_problem(block.get("element"), f"{pointer}/element")
    return None


def block_kit_problem(blocks: Any, *, pointer: str = "/blocks",
                      max_blocks: int = _MAX_MESSAGE_BLOCKS) -> str | None:
    """The first way ``blocks`` breaks Slack's Block Kit limits, worded as Slack words it
    (``must be less than 3001 characters [json-pointer:/blocks/2/text/text]``), or None."""
    if not isinstance(blocks, list):
        return f"must be an array [json-pointer:{pointer}]"
    if len(blocks) > max_blocks:
        return f"no more than {max_blocks} items allowed [json-pointer:{pointer}]"
    seen: set[str] = set()
    for i, block in enumerate(blocks):
        problem = _block_problem(block, f"{pointer}/{i}")
        if problem:
            return problem
        # Slack makes up a block_id where none is given; a given one must be unique in the
        # message or view, and an action_id unique within its block.
        block_id = block.get("block_id")
        if block_id is not None:
            if block_id in seen:
                return f"duplicate block_id [json-pointer:{pointer}/{i}/block_id]"
            seen.add(block_id)
        problem = _duplicate_action_id(block, f"{pointer}/{i}")
        if problem:
            return problem
    return None


def _duplicate_action_id(block: dict, pointer: str) -> str | None:
    elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
    for key in ("accessory", "element"):
        if isinstance(block.get(key), dict):
            elements.append(block[key])
    seen: set[str] = set()
    for j, element in enumerate(elements):
        action_id = element.get("action_id") if isinstance(element, dict) else None
        if action_id is None:
            continue
        if action_id in seen:
            return f"duplicate action_id [json-pointer:{pointer}/elements/{j}/action_id]"
        seen.add(action_id)
    return None


class _Server(ThreadingHTTPServer):
    # Daemon handler threads so a stuck keep-alive client never blocks interpreter exit.
    daemon_threads = True
    # Benchmarks open many connections at once; the default backlog of 5 drops SYNs.
    request_queue_size = 512

    def __init__(self, emulator: SlackEmulator) -> None:
        self.emulator = emulator
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def track(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.discard(conn)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Quiet: socketserver would print a traceback to stderr (e.g. on client resets).
        # socketserver calls this from inside its except block, so exc_info is the error.
        log.debug(
            "slack emulator connection error from %s", client_address, exc_info=sys.exc_info()
        )

    def close_connections(self) -> None:
        # Keep-alive connections outlive serve_forever(); cut them so stop() really stops.
        with self._conns_lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every answer carries Content-Length
    disable_nagle_algorithm = True  # headers and body are separate writes; avoid 40ms stalls
    timeout = 60  # idle keep-alive connections are dropped instead of pinning a thread
    server_version = "SlackEmulator/1.0"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the console prints calls itself via on_call

    def do_POST(self) -> None:
        self.server.emulator._serve(self)

    def do_GET(self) -> None:
        # Slack accepts GET with query-string args for read methods.
        self.server.emulator._serve(self)

    def read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Drain optional trailers up to the blank line.
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)  # CRLF after each chunk
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length > 0 else b""
        if len(data) < length:
            # The client hung up mid-body: drop it rather than act on a partial request.
            raise ConnectionResetError("request body shorter than Content-Length")
        return data

    def answer(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json; charset=utf-8",
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra_headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class SlackEmulator:
    """Slack Web API emulator on 127.0.0.1 (ephemeral port), served from a daemon thread."""

    def __init__(
        self,
        *,
        team_id: str = "T0BATON",
        bot_user_id: str = "UBATON",
        bot_id: str = "BBATON",
        token: str | None = None,
        lenient: Iterable[str] = (),
        scopes: Iterable[str] | None = None,
    ) -> None:
        """``lenient``: the conveniences Slack does not offer that a test asks for by name
        (LENIENCIES). ``scopes``: the bot token's scopes; by default manifest.yml's."""
        unknown = set(lenient) - LENIENCIES
        if unknown:
            raise ValueError(f"unknown leniencies {sorted(unknown)}; known: {sorted(LENIENCIES)}")
        self.lenient = frozenset(lenient)
        granted = frozenset(scopes) if scopes is not None else manifest_bot_scopes()
        # No manifest beside the code (an installed package): nothing to check against.
        self.scopes: frozenset[str] | None = granted
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = "A0BATON"
        self.token = token
        # One Condition guards all state; wait_for() sleeps on it instead of polling.
        self._cond = threading.Condition(threading.RLock())
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._calls: list[Call] = []
        self._counts: Counter[str] = Counter()
        self._failures: list[_Failure] = []
        self._latency: dict[str | None, float] = {}  # method (None = any) -> seconds
        self._observers: list[Callable[[Call], None]] = []
        self._users: dict[str, dict[str, Any]] = {}
        self._usergroups: dict[str, dict[str, Any]] = {}
        self._channels: dict[str, dict[str, Any]] = {}
        self._dm_members: dict[str, list[str]] = {}
        self._top: dict[str, list[dict]] = {}
        self._replies: dict[tuple[str, str], list[dict]] = {}
        self._by_ts: dict[tuple[str, str], dict] = {}
        self._ephemerals: dict[str, list[dict]] = {}
        self._files: dict[str, dict[str, Any]] = {}
        self._external_ids: dict[str, str] = {}
        self._home_view_ids: dict[str, str] = {}
        self._last_ts_us = 0
        self._upload_root = ""  # root URL captured at start(), for URLs minted mid-request
        self._seq = 0
        self.views: dict[str, dict] = {}
        self.home_views: dict[str, dict] = {}
        self._grants: dict[str, dict] = {}  # OAuth codes not yet exchanged
        self._installed: dict[str, str] = {}  # bot token -> team, from oauth.v2.access
        self._presented: Any = None  # the token of the call being answered
        self._triggers: dict[str, dict[str, Any]] = {}  # issued trigger_id -> issued_at, used
        self._response_urls: dict[str, dict[str, Any]] = {}  # key -> issued_at, uses
        self._buckets: dict[str, tuple[float, float]] = {}  # channel -> (tokens, at)
        self._revoked: dict[str, str] = {}  # token -> token_revoked | account_inactive
        self.monotonic: Callable[[], float] = time.monotonic  # trigger, url and rate clocks
        self.socket_mode: Any = None  # bot.emulator_socket.SocketModeServer, once enabled
        self._methods: dict[str, Callable[[_Args], dict]] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "users.info": self._users_info,
            "users.list": self._users_list,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "usergroups.list": self._usergroups_list,
            "usergroups.users.list": self._usergroups_users_list,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
        }
        self._users[bot_user_id] = {
            "id": bot_user_id,
            "name": "baton",
            "real_name": "Baton",
            "tz": "America/New_York",
            "is_admin": False,
            "is_bot": True,
        }

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        with self._cond:
            if self._server is not None:
                return self
            server = _Server(self)
            thread = threading.Thread(
                target=server.serve_forever,
                # shutdown() waits up to one poll interval; keep stop() fast for test suites.
                kwargs={"poll_interval": 0.02},
                name=f"slack-emulator:{server.server_address[1]}",
                daemon=True,
            )
            self._server, self._thread = server, thread
            self._upload_root = f"http://127.0.0.1:{server.server_address[1]}"
        thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if self.socket_mode is not None:
            self.socket_mode.stop()
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        server = self._server
        if server is None:
            raise RuntimeError("SlackEmulator is not started; call start() first")
        return int(server.server_address[1])

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """WebClient ``base_url`` (trailing slash matters: slack_sdk urljoins the method)."""
        return f"{self.root_url}/api/"

    def enable_socket_mode(self, *, app_token: str = "xapp-test", **options: Any) -> Any:
        """Socket Mode (bot/console/emulator/socket_mode.py): apps.connections.open takes `app_token`
        and opens WebSocket connections on a port of their own; the SocketModeServer."""
        from bot.console.emulator.socket_mode import SocketModeServer

        if self.socket_mode is None:
            self.socket_mode = SocketModeServer(app_id=self.app_id, app_tokens=(app_token,),
                                                **options).start()
        return self.socket_mode

    def response_url(self, key: str, *, age: float = 0.0) -> str:
        """The response_url Slack puts in a command or click: five uses within 30 minutes.
        ``age`` issues one that many seconds old."""
        with self._cond:
            self._response_urls.setdefault(key, {"at": self.monotonic() - age, "uses": 0})
        return f"{self.root_url}/response/{quote(key, safe='')}"

    # ------------------------------------------------------------------ seeding

    def add_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        tz: str = "America/New_York",
        is_admin: bool = False,
    ) -> None:
        ZoneInfo(tz)  # fail at seeding time, not inside a request, on a bad tz name
        with self._cond:
            self._users[user_id] = {
                "id": user_id,
                "name": name or user_id.lower(),
                "real_name": name or user_id,
                "tz": tz,
                "is_admin": is_admin,
                "is_bot": False,
            }

    def add_usergroup(self, group_id: str, handle: str, users: list[str]) -> None:
        with self._cond:
            self._usergroups[group_id] = {"handle": handle, "users": list(users)}

    def add_channel(self, channel_id: str, name: str, *, is_private: bool = False,
                    is_member: bool = True, is_archived: bool = False) -> None:
        """A channel that exists in the workspace. Baton is a member unless ``is_member`` is
        False (a public channel then still takes chat.postMessage with chat:write.public;
        a private one is invisible to it, as in Slack: channel_not_found)."""
        with self._cond:
            self._channels[channel_id] = {"name": name, "is_private": is_private,
                                          "is_member": is_member, "is_archived": is_archived}

    def set_member(self, channel_id: str, is_member: bool) -> None:
        """Baton invited to (True) or removed from (False) a channel."""
        with self._cond:
            self._channels[channel_id]["is_member"] = is_member

    def archive_channel(self, channel_id: str) -> None:
        with self._cond:
            self._channels[channel_id]["is_archived"] = True

    def revoke_token(self, token: str | None = None, *, error: str = "token_revoked") -> None:
        """The token stops working: ``token_revoked`` (uninstalled, revoked) or
        ``account_inactive`` (the workspace or bot user was deactivated). None: every
        token, including those the install flow handed out."""
        if error not in ("token_revoked", "account_inactive", "invalid_auth"):
            raise ValueError(error)
        with self._cond:
            targets = [token] if token is not None else [self.token or "", *self._installed]
            for t in targets:
                self._revoked[t] = error

    def restore_token(self, token: str | None = None) -> None:
        with self._cond:
            if token is None:
                self._revoked.clear()
            else:
                self._revoked.pop(token, None)

    def follow_clock(self, now: Callable[[], datetime]) -> None:
        """Slack's time for trigger and response_url lifetimes and the posting rate: real
        time passing, plus however far ``now`` (the test's injected clock) has been moved.
        One world: when a test moves Baton's clock an hour on, an hour passes for Slack."""
        start = now()

        def monotonic() -> float:
            return time.monotonic() + (now() - start).total_seconds()

        with self._cond:
            self.monotonic = monotonic

    def issue_trigger(self, trigger_id: str | None = None, *, age: float = 0.0) -> str:
        """A trigger_id as Slack puts in a command or click: it opens one view, within 3 s.
        ``age`` issues one that many seconds old (a request redone late), without waiting.
        ``trigger_id`` names it; naming one already issued (a retry of the same request)
        keeps it as it was."""
        with self._cond:
            if trigger_id is None:
                self._seq += 1
                tail = hashlib.sha1(f"{self.team_id}:{self._seq}".encode()).hexdigest()[:16]
                trigger_id = f"{int(time.time())}.{self._seq}.{tail}"
            self._triggers.setdefault(trigger_id, {"at": self.monotonic() - age,
                                                   "used": False})
            return trigger_id

    def inject_message(
        self, channel: str, *, user: str, text: str, thread_ts: str | None = None
    ) -> dict:
        """Record a message a human posted (console input), so the bot can thread under it."""
        with self._cond:
            channel = self._resolve_channel(channel)
            msg = self._store_message(
                channel, text=text, blocks=[], thread_ts=thread_ts, user=user, extra={}
            )
            msg.pop("bot_id", None)
            msg.pop("app_id", None)
            return copy.deepcopy(msg)

    def dm_channel(self, *users: str) -> str:
        """The stable DM id conversations.open returns for these users."""
        with self._cond:
            return self._dm_for(list(users), register=False)

    # ------------------------------------------------------------------ recorded calls

    @property
    def calls(self) -> list[Call]:
        with self._cond:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        with self._cond:
            return [c for c in self._calls if c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        with self._cond:
            reached = self._cond.wait_for(lambda: self._counts[method] >= count, timeout)
            if not reached:
                seen = [c.method for c in self._calls]
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {count} call(s) to {method!r} "
                    f"(got {self._counts[method]}); methods seen: {seen}"
                )
            return [c for c in self._calls if c.method == method]

    def clear(self) -> None:
        with self._cond:
            self._calls.clear()
            self._counts.clear()

    def fail_next(
        self,
        method: str | None,
        *,
        status: int | None = None,
        times: int = 1,
        retry_after: int | None = None,
        error: str | None = None,
        channel: str | None = None,
    ) -> None:
        """Make the next ``times`` calls to ``method`` (None = any) fail; with ``channel``,
        only calls to that channel.

        Without ``error`` the default status is 500; with ``error`` it is 200 and the body is
        ``{"ok": false, "error": error}`` (how Slack reports API errors).  429 answers carry
        ``Retry-After`` (``retry_after``, default 1).
        """
        if times < 1:
            return
        if status is None:
            status = 200 if error is not None else 500
        with self._cond:
            self._failures.append(_Failure(method, status, times, retry_after, error,
                                           channel=channel))

    def clear_failures(self) -> None:
        """End every injected outage at once."""
        with self._cond:
            self._failures.clear()

    def fail_all(
        self,
        status: int = 503,
        *,
        method: str | None = None,
        until: Callable[[], bool] | None = None,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> None:
        """An outage: every call to ``method`` (None = any) fails with ``status`` until
        :meth:`recover`, or until ``until()`` returns True. ``until`` is asked on each call,
        so an outage can follow an injected clock: ``until=lambda: clock.now() >= end``.
        Answers are shaped as in :meth:`fail_next`."""
        with self._cond:
            self._failures.append(_Failure(method, status, None, retry_after, error, until))

    def recover(self) -> None:
        """The outage is over: end every injected failure (fail_all and fail_next alike)."""
        self.clear_failures()

    def set_latency(self, seconds: float, method: str | None = None) -> None:
        """A slow Slack: each call to ``method`` (None = any) is answered ``seconds`` after
        it was received and recorded (so a client that gives up, or dies, in the meantime
        has still been "heard" by Slack). 0 removes it."""
        with self._cond:
            if seconds > 0:
                self._latency[method] = seconds
            else:
                self._latency.pop(method, None)

    def on_call(self, callback: Callable[[Call], None]) -> None:
        with self._cond:
            self._observers.append(callback)

    # ------------------------------------------------------------------ state views

    def messages(self, channel: str) -> list[dict]:
        with self._cond:
            return copy.deepcopy(self._top.get(self._resolve_channel(channel, register=False), []))

    def thread(self, channel: str, thread_ts: str) -> list[dict]:
        """Replies under ``thread_ts`` in order (the parent itself is not included)."""
        with self._cond:
            key = (self._resolve_channel(channel, register=False), thread_ts)
            return copy.deepcopy(self._replies.get(key, []))

    def message(self, channel: str, ts: str) -> dict | None:
        with self._cond:
            msg = self._by_ts.get((self._resolve_channel(channel, register=False), ts))
            return copy.deepcopy(msg) if msg is not None else None

    def ephemerals(self, channel: str) -> list[dict]:
        with self._cond:
            key = self._resolve_channel(channel, register=False)
            return copy.deepcopy(self._ephemerals.get(key, []))

    def uploaded_files(self) -> dict[str, dict]:
        """file_id -> {filename, title, bytes, channel_id}; bytes is None until uploaded."""
        with self._cond:
            return {
                fid: {
                    "filename": f["filename"],
                    "title": f["title"],
                    "bytes": f["bytes"],
                    "channel_id": f["channel_id"],
                }
                for fid, f in self._files.items()
            }

    # ------------------------------------------------------------------ HTTP plumbing

    def _serve(self, h: _Handler) -> None:
        try:
            body = h.read_body()
        except ConnectionResetError:
            h.close_connection = True
            return
        except (ValueError, OSError):
            h.close_connection = True
            with contextlib.suppress(OSError):
                h.answer(400, b'{"ok":false,"error":"invalid_request"}')
            return
        url = urlsplit(h.path)
        path = url.path
        try:
            if path.startswith("/api/") and len(path) > len("/api/"):
                self._serve_api(h, unquote(path[len("/api/") :]), url.query, body)
            elif path.startswith("/response/"):
                self._serve_response_url(h, unquote(path[len("/response/") :]), url.query, body)
            elif path.startswith("/upload/v1/"):
                self._serve_upload(h, unquote(path[len("/upload/v1/") :]), body)
            else:
                h.answer(404, b'{"ok":false,"error":"not_found"}')
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True
        except Exception:  # never leave a client hanging on an emulator bug
            log.exception("slack emulator failed serving %s", h.path)
            h.close_connection = True
            with contextlib.suppress(OSError):
                h.answer(500, b'{"ok":false,"error":"internal_error"}')

    def _serve_api(self, h: _Handler, method: str, query: str, body: bytes) -> None:
        headers = _Headers(h.headers.items())
        bad: _BadRequest | None = None
        try:
            params = self._parse_params(query, headers.get("content-type", ""), body)
        except _BadRequest as exc:
            params, bad = dict(parse_qsl(query, keep_blank_values=True)), exc
        with self._cond:
            injected = self._take_failure(method, params)
            if injected is not None:
                status, response, extra = injected
            else:
                status, extra = 200, {}
                if bad is not None:
                    response = _error(bad.error, bad.detail) if bad.detail else _error(bad.error)
                elif method == "oauth.v2.access":
                    response = self._oauth_v2_access(headers, params)
                elif method == "apps.connections.open" and self.socket_mode is not None:
                    # Takes an app-level token, not a bot token (bot/console/emulator/socket_mode.py).
                    response = self.socket_mode.open_connection(
                        self._presented_token(headers, params))
                elif not self._token_ok(headers, params):
                    response = _error("invalid_auth")
                elif self._presented_token(headers, params) in self._revoked:
                    response = _error(self._revoked[self._presented_token(headers, params)])
                else:
                    self._presented = self._presented_token(headers, params)
                    response = self._scope_problem(method, params) or {}
                    if not response:
                        try:
                            response = self._dispatch(method, params)
                        except _Refused as refusal:
                            status, response, extra = refusal.status, refusal.body, refusal.headers
            payload, call = self._record(method, params, headers, status, response)
            delay = self._latency.get(method, self._latency.get(None, 0.0))
        self._notify(call)
        if delay > 0:
            time.sleep(delay)  # outside the lock: other calls are answered meanwhile
        extra = {"X-Slack-Req-Id": hashlib.sha1(payload).hexdigest()[:16], **extra}
        h.answer(status, payload, extra_headers=extra)

    def _serve_response_url(self, h: _Handler, key: str, query: str, body: bytes) -> None:
        headers = _Headers(h.headers.items())
        try:
            if body.lstrip().startswith(b"{"):
                # response_url takes JSON even when the Content-Type is missing or wrong.
                params = {**dict(parse_qsl(query, keep_blank_values=True)), **json.loads(body)}
            else:
                params = self._parse_params(query, headers.get("content-type", ""), body)
            response: dict = {"ok": True}
        except (_BadRequest, ValueError):
            params, response = {}, _error("invalid_payload")
        # Like an incoming webhook, a response_url refuses what Slack would not show: HTTP 400
        # with the error (invalid_blocks, no_text, msg_too_long).
        refused = self._response_url_problem(params) if response.get("ok") else None
        if refused is not None:
            response = refused
        params = {**params, "_key": key}
        with self._cond:
            # Five uses within 30 minutes: past either, Slack answers 404 and shows nothing.
            issued = self._response_urls.setdefault(key, {"at": self.monotonic(), "uses": 0})
            issued["uses"] += 1
            gone = None
            if self.monotonic() - issued["at"] > RESPONSE_URL_LIFETIME:
                gone = "expired_url"
            elif issued["uses"] > RESPONSE_URL_USES:
                gone = "used_url"
            if gone is not None:
                refused = response = _error(gone)
            injected = self._take_failure("response_url")
            status, extra = (400 if refused is not None else 200), {}
            if gone is not None:
                status = 404
            if injected is not None:
                status, response, extra = injected
            payload, call = self._record("response_url", params, headers, status, response)
            delay = self._latency.get("response_url", self._latency.get(None, 0.0))
        self._notify(call)
        if delay > 0:
            time.sleep(delay)  # as for API calls: recorded (heard) first, answered late
        h.answer(status, payload, extra_headers=extra)

    @staticmethod
    def _response_url_problem(params: dict) -> dict | None:
        blocks = _maybe_json(params.get("blocks"))
        text = params.get("text")
        if blocks is not None:
            problem = block_kit_problem(blocks)
            if problem:
                return _invalid_blocks(problem)
        if not (isinstance(text, str) and text.strip()) and not blocks and \
                not params.get("delete_original"):
            return _error("no_text")
        if isinstance(text, str) and len(text) > _MAX_TEXT:
            return _error("msg_too_long")
        return None

    def _serve_upload(self, h: _Handler, file_id: str, body: bytes) -> None:
        # The files.slack.com step of files_upload_v2: raw bytes in, "OK - <n>" text out.
        with self._cond:
            entry = self._files.get(file_id)
            if entry is not None:
                entry["bytes"] = bytes(body)
        if entry is None:
            h.answer(404, b"file not found", content_type="text/plain; charset=utf-8")
        else:
            h.answer(200, f"OK - {len(body)}".encode(), content_type="text/plain; charset=utf-8")

    @staticmethod
    def _parse_params(query: str, content_type: str, body: bytes) -> dict:
        params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        ctype = content_type.split(";", 1)[0].strip().lower()
        if not body:
            return params
        if ctype == "application/json":
            try:
                decoded = json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as exc:
                raise _BadRequest("invalid_json", str(exc)) from exc
            if not isinstance(decoded, dict):
                raise _BadRequest("invalid_json", "JSON body must be an object")
            params.update(decoded)
        elif ctype == "multipart/form-data":
            message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
            )
            for part in message.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if not name:
                    continue
                data = part.get_payload(decode=True) or b""
                if part.get_filename():
                    params[str(name)] = data
                else:
                    params[str(name)] = data.decode("utf-8", "replace")
        else:
            # Slack treats a missing/odd Content-Type as a urlencoded form, and so do we.
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _BadRequest("invalid_form_data", str(exc)) from exc
            params.update(parse_qsl(text, keep_blank_values=True))
        return params

    @staticmethod
    def _presented_token(headers: _Headers, params: dict) -> Any:
        auth = headers.get("authorization") or ""
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return params.get("token")

    def _token_ok(self, headers: _Headers, params: dict) -> bool:
        presented = self._presented_token(headers, params)
        if presented in self._installed:
            return True  # a token the install flow handed out (see grant)
        if self.token is None:
            return not self._installed or presented in (None, "")
        return presented == self.token

    # --- Slack's OAuth install flow: oauth.v2.access exchanges a granted code ---

    def grant(self, code: str, *, team_id: str, team_name: str, bot_token: str,
              installer: str, bot_user_id: str = "UBATONBOT", scope: str = "") -> None:
        """What Slack would hand back for `code` once a workspace admin approved the
        install; calls carrying `bot_token` then act in `team_id` (auth.test says so)."""
        with self._cond:
            self._grants[code] = {"team_id": team_id, "team_name": team_name,
                                  "bot_token": bot_token, "installer": installer,
                                  "bot_user_id": bot_user_id, "scope": scope}

    def _oauth_v2_access(self, headers: _Headers, params: dict) -> dict:
        client_id, secret = params.get("client_id"), params.get("client_secret")
        auth = headers.get("authorization") or ""
        if auth.lower().startswith("basic "):
            try:
                client_id, _, secret = base64.b64decode(auth[6:].strip()).decode().partition(":")
            except ValueError:
                return _error("invalid_client_id")
        if not client_id or not secret:
            return _error("invalid_client_id")
        grant = self._grants.pop(str(params.get("code", "")), None)
        if grant is None:
            return _error("invalid_code")
        self._installed[grant["bot_token"]] = grant["team_id"]
        return {
            "ok": True, "app_id": "A0BATON", "access_token": grant["bot_token"],
            "token_type": "bot", "scope": grant["scope"] or "chat:write,commands",
            "bot_user_id": grant["bot_user_id"],
            "team": {"id": grant["team_id"], "name": grant["team_name"]},
            "enterprise": None, "is_enterprise_install": False,
            "authed_user": {"id": grant["installer"]},
        }

    def _take_failure(self, method: str, params: dict | None = None
                      ) -> tuple[int, dict, dict[str, str]] | None:
        for failure in list(self._failures):
            if failure.method is not None and failure.method != method:
                continue
            if failure.channel is not None and (params or {}).get("channel") != failure.channel:
                continue
            if failure.until is not None and failure.until():
                self._failures.remove(failure)  # that outage is over
                continue
            if failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
            break
        else:
            return None
        extra: dict[str, str] = {}
        if failure.status == 429 or failure.retry_after is not None:
            extra["Retry-After"] = str(
                failure.retry_after if failure.retry_after is not None else 1
            )
        if failure.error is not None:
            error = failure.error
        elif failure.status == 429:
            error = "ratelimited"
        elif failure.status >= 500:
            error = "internal_error"
        else:
            error = "emulated_failure"
        return failure.status, {"ok": False, "error": error}, extra

    def _dispatch(self, method: str, params: dict) -> dict:
        handler = self._methods.get(method)
        if handler is None:
            return _error("unknown_method")
        try:
            return handler(_Args(params))
        except _Refused:
            raise
        except Exception as exc:  # an emulator bug must not hang the client
            log.exception("slack emulator failed handling %s", method)
            return _error("internal_error", f"emulator: {exc!r}")

    def _record(
        self, method: str, params: dict, headers: _Headers, status: int, response: dict
    ) -> tuple[bytes, Call]:
        payload = json.dumps(response, separators=(",", ":"), default=_json_default).encode()
        # Record what went on the wire, decoupled from live state that later calls mutate.
        call = Call(method, params, headers, status, json.loads(payload))
        self._calls.append(call)
        self._counts[method] += 1
        self._cond.notify_all()
        return payload, call

    def _notify(self, call: Call) -> None:
        # Outside the lock: observers may call back into the emulator (e.g. messages()).
        with self._cond:
            observers = list(self._observers)
        for callback in observers:
            try:
                callback(call)
            except Exception:
                log.exception("slack emulator on_call observer failed")

    # ------------------------------------------------------------------ Slack's refusals (locked)

    def _scope_problem(self, method: str, params: dict) -> dict | None:
        """missing_scope, shaped as Slack answers it (needed, provided), or None."""
        if self.scopes is None or "scopes" in self.lenient:
            return None
        needed: tuple[str, ...] = METHOD_SCOPES.get(method, ())
        by_kind = _CONVERSATION_SCOPES.get(method)
        if by_kind is not None:
            needed = (by_kind[self._conversation_kind(_Args(params).str("channel") or "")],)
        if not needed or any(scope in self.scopes for scope in needed):
            return None
        return {"ok": False, "error": "missing_scope", "needed": needed[0],
                "provided": ",".join(sorted(self.scopes))}

    def _conversation_kind(self, channel: str) -> str:
        if channel[:1] in ("D", "U", "W"):
            return "im"
        registered = self._channels.get(channel, {})
        return "private" if registered.get("is_private") or channel[:1] == "G" else "public"

    def _channel_refusal(self, raw: str, *, to_post: bool = False,
                         to_share: bool = False) -> str | None:
        """Why Slack would refuse Baton ``raw`` (a channel, DM or user id), or None.

        A private channel Baton is not in does not exist for it (channel_not_found); a
        public one takes chat.postMessage with chat:write.public, but a file is shared only
        where Baton is a member (not_in_channel); an archived channel takes nothing new."""
        if raw[:1] in ("U", "W"):
            known = raw in self._users or "unknown_users" in self.lenient
            return None if known else "channel_not_found"
        if raw[:1] == "D":
            return None if raw in self._dm_members else "channel_not_found"
        registered = self._channels.get(raw)
        if registered is None:
            if "unknown_channels" not in self.lenient:
                return "channel_not_found"
            registered = self._channels[raw] = {"name": raw.lower(), "is_private": False,
                                                "is_member": True, "is_archived": False}
        if not registered["is_member"]:
            if registered["is_private"]:
                return "channel_not_found"
            public_post = to_post and not to_share and (
                self.scopes is None or "scopes" in self.lenient
                or "chat:write.public" in self.scopes)
            if not public_post:
                return "not_in_channel"
        if registered["is_archived"] and (to_post or to_share):
            return "is_archived"
        return None

    def _take_post_slot(self, channel: str) -> None:
        """About one message a second per channel after a short burst; past it, HTTP 429
        with Retry-After (the message is not posted)."""
        if "rate_limits" in self.lenient:
            return
        now = self.monotonic()
        tokens, at = self._buckets.get(channel, (float(POST_BURST), now))
        tokens = min(float(POST_BURST), tokens + (now - at) * POST_RATE)
        if tokens < 1.0:
            self._buckets[channel] = (tokens, now)
            wait = max(1, int((1.0 - tokens) / POST_RATE + 0.999))
            raise _Refused(429, {"ok": False, "error": "ratelimited"},
                           {"Retry-After": str(wait)})
        self._buckets[channel] = (tokens - 1.0, now)

    def _trigger_refusal(self, trigger: str) -> str | None:
        issued = self._triggers.get(trigger)
        if issued is None:
            if "unissued_triggers" in self.lenient:
                return None
            return "invalid_trigger_id"
        if issued["used"]:
            return "exchanged_trigger_id"
        if self.monotonic() - issued["at"] > TRIGGER_LIFETIME:
            return "expired_trigger_id"
        return None

    # ------------------------------------------------------------------ helpers (locked)

    def _next_ts(self) -> str:
        # Wall-clock based like Slack's, but strictly increasing so ts stays a unique key.
        now_us = time.time_ns() // 1000
        self._last_ts_us = max(now_us, self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def _next_id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self._seq:08X}"

    def _dm_for(self, users: list[str], *, register: bool = True) -> str:
        # Hash of the member set: stable across emulator instances and test runs.
        members = sorted(set(users) - {self.bot_user_id}) or [self.bot_user_id]
        digest = hashlib.sha1(",".join(members).encode()).hexdigest()[:10].upper()
        dm_id = f"D{digest}"
        if register:
            self._dm_members.setdefault(dm_id, members)
        return dm_id

    def _resolve_channel(self, channel: str, *, register: bool = True) -> str:
        # Like Slack, posting to a user id lands in the bot's DM with that user.
        if channel[:1] in ("U", "W"):
            return self._dm_for([channel], register=register)
        return channel

    def _store_message(
        self,
        channel: str,
        *,
        text: str,
        blocks: list,
        thread_ts: str | None,
        user: str,
        extra: dict,
    ) -> dict:
        ts = self._next_ts()
        msg: dict[str, Any] = {
            "type": "message",
            "channel": channel,
            "ts": ts,
            "user": user,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "text": text,
            "blocks": blocks,
            "edited": False,
            "edit_count": 0,
            **extra,
        }
        if thread_ts:
            msg["thread_ts"] = thread_ts
            self._replies.setdefault((channel, thread_ts), []).append(msg)
            parent = self._by_ts.get((channel, thread_ts))
            if parent is not None:
                parent["reply_count"] = parent.get("reply_count", 0) + 1
                parent["latest_reply"] = ts
                reply_users = parent.setdefault("reply_users", [])
                if user not in reply_users:
                    reply_users.append(user)
            if extra.get("reply_broadcast"):
                self._top.setdefault(channel, []).append(msg)
        else:
            self._top.setdefault(channel, []).append(msg)
        self._by_ts[(channel, ts)] = msg
        return msg

    def _wire_message(self, msg: dict) -> dict:
        """A stored message in the shape Slack's API returns it."""
        out = {k: copy.deepcopy(v) for k, v in msg.items() if k not in ("channel", "edit_count")}
        if msg.get("edited"):
            out["edited"] = {"user": msg["user"], "ts": msg.get("last_edited_ts", msg["ts"])}
        else:
            out.pop("edited", None)
        out.pop("last_edited_ts", None)
        if msg.get("reply_count") and "thread_ts" not in out:
            out["thread_ts"] = msg["ts"]
        return out

    @staticmethod
    def _check_blocks(blocks: Any) -> str | None:
        if not isinstance(blocks, list):
            return "blocks must be a JSON array"
        return block_kit_problem(blocks)

    def _user_object(self, user: dict[str, Any]) -> dict:
        now = datetime.now(ZoneInfo(user["tz"]))
        offset = now.utcoffset()
        abbrev = now.tzname() or user["tz"]
        profile: dict[str, Any] = {
            "display_name": user["name"],
            "display_name_normalized": user["name"],
            "real_name": user["real_name"],
            "real_name_normalized": user["real_name"],
            "team": self.team_id,
        }
        if user["is_bot"]:
            profile["bot_id"] = self.bot_id
        return {
            "id": user["id"],
            "team_id": self.team_id,
            "name": user["name"],
            "deleted": False,
            "real_name": user["real_name"],
            "tz": user["tz"],
            "tz_label": _TZ_LABELS.get(abbrev, abbrev),
            "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
            "is_admin": user["is_admin"],
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": user["is_bot"],
            "is_app_user": False,
            "profile": profile,
        }

    # ------------------------------------------------------------------ methods: identity

    def _api_test(self, a: _Args) -> dict:
        return {"ok": True, "args": {k: v for k, v in a.params.items() if k != "token"}}

    def _auth_test(self, a: _Args) -> dict:
        return {
            "ok": True,
            "url": f"{EMULATED_HOST}/",
            "team": "Baton Emulated",
            "user": self._users[self.bot_user_id]["name"],
            "team_id": self._installed.get(self._presented, self.team_id),
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _users_info(self, a: _Args) -> dict:
        user = self._users.get(a.str("user") or "")
        if user is None:
            return _error("user_not_found")
        try:
            obj = self._user_object(user)
        except ZoneInfoNotFoundError:
            return _error("internal_error", f"unknown tz {user['tz']!r}")
        if a.bool("include_locale"):
            obj["locale"] = "en-US"
        return {"ok": True, "user": obj}

    def _users_list(self, a: _Args) -> dict:
        members = [self._user_object(u) for u in self._users.values()]
        return {"ok": True, "members": members, "response_metadata": {"next_cursor": ""}}

    # ------------------------------------------------------------------ methods: chat

    def _message_content(self, a: _Args) -> tuple[str, list, dict] | dict:
        """(text, blocks, extra) for post-like methods, or an error body."""
        text = a.str("text") or ""
        blocks = a.json("blocks")
        attachments = a.json("attachments")
        if blocks is not None:
            problem = self._check_blocks(blocks)
            if problem:
                return _invalid_blocks(problem)
        if attachments is not None and not isinstance(attachments, list):
            return _error("invalid_attachments")
        if not text.strip() and not blocks and not attachments:
            return _error("no_text")
        if len(text) > _MAX_TEXT:
            return _error("msg_too_long")
        extra: dict[str, Any] = {}
        if attachments:
            extra["attachments"] = attachments
        metadata = a.json("metadata")
        if metadata is not None:
            extra["metadata"] = metadata
        for name in ("username", "icon_emoji", "icon_url"):
            if a.str(name):
                extra[name] = a.str(name)
        return text, blocks or [], extra

    def _chat_post_message(self, a: _Args) -> dict:
        channel = a.str("channel")
        if not channel:
            return _error("channel_not_found")
        content = self._message_content(a)
        if isinstance(content, dict):
            return content
        text, blocks, extra = content
        if a.bool("reply_broadcast"):
            extra["reply_broadcast"] = True
        refusal = self._channel_refusal(channel, to_post=True)
        if refusal:
            return _error(refusal)
        channel = self._resolve_channel(channel)
        self._take_post_slot(channel)
        msg = self._store_message(
            channel,
            text=text,
            blocks=blocks,
            thread_ts=a.str("thread_ts") or None,
            user=self.bot_user_id,
            extra=extra,
        )
        return {"ok": True, "channel": channel, "ts": msg["ts"], "message": self._wire_message(msg)}

    def _chat_update(self, a: _Args) -> dict:
        channel = a.str("channel")
        if not channel:
            return _error("channel_not_found")
        refusal = self._channel_refusal(channel, to_post=True)
        if refusal:
            return _error(refusal)
        channel = self._resolve_channel(channel)
        ts = a.str("ts") or ""
        msg = self._by_ts.get((channel, ts))
        if msg is None:
            return _error("message_not_found")
        if msg["user"] != self.bot_user_id:
            return _error("cant_update_message")
        blocks = a.json("blocks")
        if blocks is not None:
            problem = self._check_blocks(blocks)
            if problem:
                return _invalid_blocks(problem)
        text = a.str("text")
        if text is not None and len(text) > _MAX_TEXT:
            return _error("msg_too_long")
        # Slack keeps the previous text/blocks when a field is omitted; [] clears blocks.
        if text is not None:
            msg["text"] = text
        if blocks is not None:
            msg["blocks"] = blocks
        attachments = a.json("attachments")
        if isinstance(attachments, list):
            msg["attachments"] = attachments
        metadata = a.json("metadata")
        if metadata is not None:
            msg["metadata"] = metadata
        msg["edited"] = True
        msg["edit_count"] += 1
        msg["last_edited_ts"] = self._next_ts()
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": msg["text"],
            "message": self._wire_message(msg),
        }

    def _chat_delete(self, a: _Args) -> dict:
        channel = a.str("channel")
        if not channel:
            return _error("channel_not_found")
        refusal = self._channel_refusal(channel, to_post=True)
        if refusal:
            return _error(refusal)
        channel = self._resolve_channel(channel)
        ts = a.str("ts") or ""
        msg = self._by_ts.pop((channel, ts), None)
        if msg is None:
            return _error("message_not_found")
        buckets = [self._top.get(channel, [])]
        if msg.get("thread_ts"):
            buckets.append(self._replies.get((channel, msg["thread_ts"]), []))
        for bucket in buckets:
            # Identity, not ==: two messages may compare equal but are distinct posts.
            bucket[:] = [m for m in bucket if m is not msg]
        return {"ok": True, "channel": channel, "ts": ts}

    def _chat_post_ephemeral(self, a: _Args) -> dict:
        channel = a.str("channel")
        if not channel:
            return _error("channel_not_found")
        user = a.str("user")
        if not user:
            return _error("invalid_arguments", "missing required field: user")
        content = self._message_content(a)
        if isinstance(content, dict):
            return content
        text, blocks, extra = content
        refusal = self._channel_refusal(channel, to_post=True)
        if refusal:
            return _error(refusal)
        channel = self._resolve_channel(channel)
        ts = self._next_ts()
        entry = {
            "channel": channel,
            "user": user,
            "ts": ts,
            "text": text,
            "blocks": blocks,
            **extra,
        }
        if a.str("thread_ts"):
            entry["thread_ts"] = a.str("thread_ts")
        self._ephemerals.setdefault(channel, []).append(entry)
        return {"ok": True, "message_ts": ts}

    def _chat_get_permalink(self, a: _Args) -> dict:
        channel = a.str("channel")
        if not channel:
            return _error("channel_not_found")
        channel = self._resolve_channel(channel)
        ts = a.str("message_ts")
        if not ts:
            return _error("message_not_found")
        # Permissive: console-typed messages may never have gone through the API.
        permalink = f"{EMULATED_HOST}/archives/{channel}/p{ts.replace('.', '')}"
        msg = self._by_ts.get((channel, ts))
        if msg is not None and msg.get("thread_ts"):
            permalink += f"?thread_ts={msg['thread_ts']}&cid={channel}"
        return {"ok": True, "channel": channel, "permalink": permalink}

    # ------------------------------------------------------------------ methods: conversations

    def _conversations_open(self, a: _Args) -> dict:
        existing = a.str("channel")
        if existing:
            if existing not in self._dm_members:
                return _error("channel_not_found")
            return {"ok": True, "no_op": True, "already_open": True, "channel": {"id": existing}}
        users = a.list("users")
        if not users:
            return _error("users_list_not_supplied")
        if "unknown_users" not in self.lenient and any(u not in self._users for u in users):
            return _error("user_not_found")
        known = len(self._dm_members)
        dm_id = self._dm_for(users)
        already = len(self._dm_members) == known  # _dm_for adds only unseen user sets
        return {"ok": True, "no_op": already, "already_open": already, "channel": {"id": dm_id}}

    def _conversations_info(self, a: _Args) -> dict:
        channel = a.str("channel")
        if not channel:
            return _error("channel_not_found")
        refusal = self._channel_refusal(channel)
        if refusal and refusal != "not_in_channel":  # a public channel is described anyway
            return _error(refusal)
        channel = self._resolve_channel(channel)
        registered = self._channels.get(channel, {})
        is_im = channel.startswith("D")
        is_private = bool(registered.get("is_private")) or channel.startswith("G")
        name = registered.get("name") or channel.lower()
        obj: dict[str, Any] = {
            "id": channel,
            "name": name,
            "name_normalized": name,
            "is_channel": not is_im and not is_private,
            "is_group": is_private and not is_im,
            "is_im": is_im,
            "is_mpim": False,
            "is_private": is_private or is_im,
            "is_archived": bool(registered.get("is_archived")),
            "is_general": False,
            "is_member": bool(registered.get("is_member", True)),
            "is_ext_shared": False,
            "is_shared": False,
            "context_team_id": self.team_id,
            "created": 1700000000,
            "creator": self.bot_user_id,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
        }
        if is_im:
            members = self._dm_members.get(channel, [])
            obj["user"] = members[0] if members else ""
            obj["name"] = obj["name_normalized"] = obj["user"] or name
        return {"ok": True, "channel": obj}

    def _conversations_history(self, a: _Args) -> dict:
        channel = a.str("channel")
        if not channel:
            return _error("channel_not_found")
        refusal = self._channel_refusal(channel)
        if refusal:
            return _error(refusal)
        # Slack's bounds: after `oldest` and before `latest` (both ends too with
        # `inclusive`); messages carry their metadata only with `include_all_metadata`.
        bounds = []
        for name in ("oldest", "latest"):
            try:
                bounds.append(float(a.str(name)) if a.str(name) else None)
            except ValueError:
                return _error(f"invalid_ts_{name}")
        oldest, latest = bounds
        inclusive = a.bool("inclusive")

        def within(ts: float) -> bool:
            after = oldest is None or (ts >= oldest if inclusive else ts > oldest)
            return after and (latest is None or (ts <= latest if inclusive else ts < latest))

        msgs = [self._wire_message(m) for m in self._top.get(self._resolve_channel(channel), [])
                if within(float(m["ts"]))]
        msgs.reverse()  # Slack returns newest first
        if not a.bool("include_all_metadata"):
            for m in msgs:
                m.pop("metadata", None)
        limit = int(a.str("limit") or 100)
        cursor = a.str("cursor") or ""
        try:
            start = int(base64.b64decode(cursor).decode().removeprefix("next:")) if cursor else 0
        except ValueError:
            return _error("invalid_cursor")
        more = len(msgs) > start + limit
        return {
            "ok": True,
            "messages": msgs[start:start + limit],
            "has_more": more,
            "pin_count": 0,
            "response_metadata": {"next_cursor": base64.b64encode(
                f"next:{start + limit}".encode()).decode() if more else ""},
        }

    def _conversations_replies(self, a: _Args) -> dict:
        channel = a.str("channel")
        if not channel:
            return _error("channel_not_found")
        refusal = self._channel_refusal(channel)
        if refusal:
            return _error(refusal)
        channel = self._resolve_channel(channel)
        ts = a.str("ts") or ""
        parent = self._by_ts.get((channel, ts))
        replies = self._replies.get((channel, ts), [])
        if parent is None and not replies:
            return _error("thread_not_found")
        msgs = ([parent] if parent is not None else []) + replies
        return {
            "ok": True,
            "messages": [self._wire_message(m) for m in msgs],
            "has_more": False,
            "response_metadata": {"next_cursor": ""},
        }

    # ------------------------------------------------------------------ methods: views

    def _view_arg(self, a: _Args, allowed: tuple[str, ...]) -> dict | str:
        """The decoded, validated ``view`` argument, or an error detail string."""
        view = a.json("view")
        if view is None:
            return "missing required field: view"
        if not isinstance(view, dict):
            return "view must be a JSON object"
        if view.get("type") not in allowed:
            return f"view type must be one of {list(allowed)} [json-pointer:/view/type]"
        if view["type"] == "modal":
            title = view.get("title")
            if not isinstance(title, dict) or not isinstance(title.get("text"), str):
                return "missing required field: title [json-pointer:/view/title]"
            for key in ("title", "submit", "close"):
                part = view.get(key)
                if part is None:
                    continue
                if not isinstance(part, dict) or part.get("type") != "plain_text":
                    return f"must be a plain_text text object [json-pointer:/view/{key}]"
                if len(part.get("text") or "") > _MAX_VIEW_TITLE:
                    return (
                        f"must be less than {_MAX_VIEW_TITLE + 1} characters "
                        f"[json-pointer:/view/{key}/text]"
                    )
            blocks_ = view.get("blocks")
            if isinstance(blocks_, list) and view.get("submit") is None and any(
                    isinstance(b, dict) and b.get("type") == "input" for b in blocks_):
                return "must provide a submit property when using input blocks " \
                       "[json-pointer:/view]"
        callback_id = view.get("callback_id")
        if callback_id is not None and (not isinstance(callback_id, str)
                                        or len(callback_id) > _ID):
            return _too_long(_ID, "/view/callback_id")
        blocks = view.get("blocks", [])
        if not isinstance(blocks, list):
            return "blocks must be an array [json-pointer:/view/blocks]"
        problem = block_kit_problem(blocks, pointer="/view/blocks", max_blocks=_MAX_VIEW_BLOCKS)
        if problem:
            return problem
        if len(view.get("private_metadata") or "") > _MAX_PRIVATE_METADATA:
            return (
                f"must be less than {_MAX_PRIVATE_METADATA + 1} characters "
                "[json-pointer:/view/private_metadata]"
            )
        return view

    def _materialize_view(
        self, view: dict, view_id: str, *, root: str | None = None, previous: str | None = None
    ) -> dict:
        out = copy.deepcopy(view)
        self._seq += 1
        out.update(
            {
                "id": view_id,
                "team_id": self.team_id,
                "app_id": self.app_id,
                "bot_id": self.bot_id,
                "app_installed_team_id": self.team_id,
                "hash": f"{int(time.time())}.{self._seq:08d}",
                "state": {"values": {}},
                "root_view_id": root or view_id,
                "previous_view_id": previous,
            }
        )
        for key, default in (
            ("blocks", []),
            ("private_metadata", ""),
            ("callback_id", ""),
            ("external_id", ""),
            ("clear_on_close", False),
            ("notify_on_close", False),
        ):
            out.setdefault(key, default)
        if out["external_id"]:
            self._external_ids[out["external_id"]] = view_id
        return out

    def _views_open(self, a: _Args) -> dict:
        trigger = a.str("trigger_id")
        if not trigger:
            return _error("invalid_arguments", "missing required field: trigger_id")
        refusal = self._trigger_refusal(trigger)
        if refusal:
            return _error(refusal)
        view = self._view_arg(a, ("modal",))
        if isinstance(view, str):
            return _error("invalid_arguments", view)
        if trigger in self._triggers:
            self._triggers[trigger]["used"] = True
        view_id = self._next_id("V")
        stored = self._materialize_view(view, view_id)
        self.views[view_id] = stored
        return {"ok": True, "view": copy.deepcopy(stored)}

    def _views_push(self, a: _Args) -> dict:
        trigger = a.str("trigger_id")
        if not trigger:
            return _error("invalid_arguments", "missing required field: trigger_id")
        refusal = self._trigger_refusal(trigger)
        if refusal:
            return _error(refusal)
        view = self._view_arg(a, ("modal",))
        if isinstance(view, str):
            return _error("invalid_arguments", view)
        if trigger in self._triggers:
            self._triggers[trigger]["used"] = True
        view_id = self._next_id("V")
        stored = self._materialize_view(view, view_id)
        self.views[view_id] = stored
        return {"ok": True, "view": copy.deepcopy(stored)}

    def _views_update(self, a: _Args) -> dict:
        view_id = a.str("view_id")
        external_id = a.str("external_id")
        if not view_id and not external_id:
            return _error("invalid_arguments", "view_id or external_id is required")
        if not view_id:
            view_id = self._external_ids.get(external_id or "")
        current = self.views.get(view_id or "")
        home_user = None
        if current is None:
            home_user = next((u for u, v in self._home_view_ids.items() if v == view_id), None)
            current = self.home_views.get(home_user) if home_user else None
        if current is None or view_id is None:
            return _error("not_found")
        expected_hash = a.str("hash")
        if expected_hash and expected_hash != current["hash"]:
            return _error("hash_conflict")
        view = self._view_arg(a, ("home",) if home_user else ("modal",))
        if isinstance(view, str):
            return _error("invalid_arguments", view)
        stored = self._materialize_view(
            view, view_id, root=current["root_view_id"], previous=current["previous_view_id"]
        )
        if home_user:
            self.home_views[home_user] = stored
        else:
            self.views[view_id] = stored
        return {"ok": True, "view": copy.deepcopy(stored)}

    def _views_publish(self, a: _Args) -> dict:
        user_id = a.str("user_id")
        if not user_id:
            return _error("invalid_arguments", "missing required field: user_id")
        view = self._view_arg(a, ("home",))
        if isinstance(view, str):
            return _error("invalid_arguments", view)
        current = self.home_views.get(user_id)
        expected_hash = a.str("hash")
        if current is not None and expected_hash and expected_hash != current["hash"]:
            return _error("hash_conflict")
        # Slack keeps one home-tab view id per user across publishes.
        view_id = self._home_view_ids.get(user_id) or self._next_id("V")
        self._home_view_ids[user_id] = view_id
        stored = self._materialize_view(view, view_id)
        self.home_views[user_id] = stored
        return {"ok": True, "view": copy.deepcopy(stored)}

    # ------------------------------------------------------------------ methods: usergroups

    def _usergroups_list(self, a: _Args) -> dict:
        groups = []
        for group_id, group in self._usergroups.items():
            entry: dict[str, Any] = {
                "id": group_id,
                "team_id": self.team_id,
                "is_usergroup": True,
                "name": group["handle"],
                "handle": group["handle"],
                "description": "",
                "date_delete": 0,
                "user_count": len(group["users"]),
            }
            if a.bool("include_users"):
                entry["users"] = list(group["users"])
            groups.append(entry)
        return {"ok": True, "usergroups": groups}

    def _usergroups_users_list(self, a: _Args) -> dict:
        group = self._usergroups.get(a.str("usergroup") or "")
        if group is None:
            return _error("no_such_subteam")
        return {"ok": True, "users": list(group["users"])}

    # ------------------------------------------------------------------ methods: files

    def _files_get_upload_url(self, a: _Args) -> dict:
        filename = a.str("filename")
        length = a.str("length")
        if not filename:
            return _error("invalid_arguments", "missing required field: filename")
        if not length or not length.isdigit():
            return _error("invalid_arguments", "missing required field: length")
        file_id = self._next_id("F")
        self._files[file_id] = {
            "filename": filename,
            "title": None,
            "bytes": None,
            "channel_id": None,
            "length": int(length),
        }
        upload_url = f"{self._upload_root}/upload/v1/{quote(file_id, safe='')}"
        return {"ok": True, "upload_url": upload_url, "file_id": file_id}

    def _files_complete_upload(self, a: _Args) -> dict:
        files = a.json("files")
        if not isinstance(files, list) or not files:
            return _error("invalid_arguments", "missing required field: files")
        channels = [a.str("channel_id")] if a.str("channel_id") else a.list("channels")
        for c in channels:
            refusal = self._channel_refusal(c, to_share=True) if c else None
            if refusal:
                return _error(refusal)
        channels = [self._resolve_channel(c) for c in channels if c]
        entries = []
        for item in files:
            file_id = item.get("id") if isinstance(item, dict) else None
            entry = self._files.get(file_id or "")
            if entry is None or entry["bytes"] is None:
                return _error("file_not_found", f"file {file_id!r} was never uploaded")
            entries.append((file_id, entry, item))
        out = []
        now = int(time.time())
        for file_id, entry, item in entries:
            entry["title"] = item.get("title") or entry["filename"]
            entry["channel_id"] = channels[0] if channels else None
            name = entry["filename"]
            out.append(
                {
                    "id": file_id,
                    "created": now,
                    "timestamp": now,
                    "name": name,
                    "title": entry["title"],
                    "mimetype": "application/octet-stream",
                    "filetype": name.rsplit(".", 1)[-1] if "." in name else "binary",
                    "user": self.bot_user_id,
                    "user_team": self.team_id,
                    "size": len(entry["bytes"]),
                    "is_external": False,
                    "url_private": f"{EMULATED_HOST}/files-pri/{self.team_id}-{file_id}/{name}",
                    "permalink": f"{EMULATED_HOST}/files/{self.bot_user_id}/{file_id}/{name}",
                    "channels": list(channels),
                    "groups": [],
                    "ims": [],
                    "shares": {},
                    "initial_comment": a.str("initial_comment") or "",
                }
            )
        return {"ok": True, "files": out}
