"""App assembly: the Bolt app, its listeners, and the WSGI app `serve` runs."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from slack_bolt import App, BoltContext, BoltResponse
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.oauth.callback_options import CallbackOptions, FailureArgs, SuccessArgs
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import build_context
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from slack_sdk.signature import Clock as WallClock
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker
from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import MultiSocketServer, TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

from bot.clock import Clock
from bot.domain import slack_ids
from bot.redact import install_redaction
from bot.runtime import Baton
from bot.services.coordination import RotaRoster
from bot.services.escalation import Roster
from bot.settings import Settings
from bot.slack import wire
from bot.slack.cards import Replies
from bot.slack.clients import Installations, WorkspaceClient, team_scope
from bot.web.inbox import (
    NotFromSlack,
    Received,
    baton_signed,
    redo_scope,
    saved_signature_holds,
)
from handlers import actions, commands, context, coordination, governance, installs, views
from handlers.common import GENERIC_FORM_ERROR as GENERIC_FORM_ERROR  # where tests read it
from handlers.common import error_handler
from store import queries
from store.db import transaction

log = logging.getLogger("baton")


def make_client(settings: Settings, *, token: str | None = None,
                interactive: bool = True) -> WebClient:
    client = WebClient(
        token=token if token is not None else settings.secret("slack_bot_token"),
        base_url=settings.slack_api_url,
        timeout=10,
    )
    return _with_retries(client) if interactive else client


def _with_retries(client: WebClient) -> WebClient:
    # Slack's own retry handlers: 429 honours Retry-After; 5xx and dropped connections back
    # off. The engine's client has none: it reschedules failed work in the database
    # (honouring Retry-After) instead of sleeping in the sending thread.
    client.retry_handlers.extend([
        RateLimitErrorRetryHandler(max_retry_count=3),
        ServerErrorRetryHandler(max_retry_count=2),
        ConnectionErrorRetryHandler(max_retry_count=2),
    ])
    return client


def build_app(
    settings: Settings,
    *,
    client: WebClient,
    session_factory: sessionmaker[Session],
    clock: Clock,
    token_verification: bool = True,
    engine_client: WebClient | None = None,
    roster: Roster | None = None,
) -> tuple[App, Baton]:
    oauth_settings = None
    installations: Installations | None = None
    if settings.oauth:
        # Many workspaces: every Slack call takes the bot token of the workspace in scope.
        # An install (again) resumes what an uninstall suspended (handlers/installs.py).
        oauth_settings, installations = _install_flow(
            settings, session_factory, on_installed=lambda team: installs.resume(baton, team))
        client = _workspace_client(settings, installations, interactive=True)
        engine_client = _workspace_client(settings, installations, interactive=False)
    baton = Baton(settings=settings, client=client, sessions=session_factory, clock=clock,
                  engine_client=engine_client or make_client(settings, token=client.token,
                                                             interactive=False),
                  roster=roster or RotaRoster(session_factory,
                                                    tz=ZoneInfo(settings.default_timezone),
                                                    fallback=settings.coordinator))
    # Log records never carry the tokens or the signing secret, whoever logs them.
    install_redaction(settings.secret(name) for name in
                      ("slack_bot_token", "slack_signing_secret", "slack_app_token",
                       "slack_client_secret"))
    app = App(
        client=client,
        oauth_settings=oauth_settings,
        signing_secret=settings.secret("slack_signing_secret") or "unused-in-socket-mode",
        # Listeners ack at once and hand the rest to Baton's own workers, so Bolt never polls
        # for the ack (its default runner checks every 10 ms).
        process_before_response=True,
        # wsgi_app checks every request's signature on the raw bytes before anything parses
        # it (Signatures, on a wall clock tests can inject); Bolt checking again on its own
        # clock would only disagree with it. Socket Mode needs none; the console signs.
        request_verification_enabled=False,
        token_verification_enabled=token_verification,
        logger=logging.getLogger("baton.bolt"),
    )
    replies = Replies(client)
    # Each request read once into the context, with the runtime (handlers/context.py).
    app.middleware(context.middleware(baton))
    commands.register(app)
    actions.register(app)
    views.register(app)
    coordination.register(app)
    governance.register(app)
    installs.register(app, installations)
    # A listener failed: logged, Slack answered 200 all the same, the person told in the
    # form or ephemerally that nothing was saved (handlers/common.py: the one mapping).
    app.error(error_handler(lambda body, text: _tell(replies, baton, body, text)))

    return app, baton


# --- requests Slack could not have sent ---

UNREADABLE = (":warning: Baton couldn't read that request ({what}), so nothing was saved. "
              "Try again; if it keeps happening, tell your Baton admin.")

# Slack's IDs: upper-case letters and digits, a few characters long (the database keeps 32).
_USER_ID = slack_ids.USER_ID
_TEAM_ID = slack_ids.TEAM_ID
_CHANNEL_ID = slack_ids.CHANNEL_ID
_HANDLE = 200  # trigger_id, view id: they become request keys (255 characters at most)


def _get(body: Any, *path: str) -> Any:
    for key in path:
        body = body.get(key) if isinstance(body, dict) else None
    return body


def _is_id(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def _handle(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= _HANDLE


def malformed(body: dict[str, Any]) -> str | None:
    """What a signed request lacks that every request of its kind from Slack has (the IDs in
    the shape Slack gives them, so none can smuggle mrkdwn into a mention), or None."""
    if "command" in body:
        if not isinstance(body.get("command"), str):
            return "no command"
        for key, pattern in (("user_id", _USER_ID), ("team_id", _TEAM_ID),
                             ("channel_id", _CHANNEL_ID)):
            if not _is_id(pattern, body.get(key)):
                return f"no valid {key}"
        if not isinstance(body.get("text", ""), str) or not _handle(body.get("trigger_id")):
            return "no text or trigger_id"
        return None
    kind = body.get("type")
    if kind in ("block_actions", "view_submission", "view_closed"):
        if not _is_id(_USER_ID, _get(body, "user", "id")):
            return "no valid user id"
        team = _get(body, "team", "id") or _get(body, "user", "team_id")
        if not _is_id(_TEAM_ID, team):
            return "no valid team id"
        channel = _get(body, "channel", "id")
        if channel is not None and not _is_id(_CHANNEL_ID, channel):
            return "no valid channel id"
    if kind == "block_actions":
        actions = body.get("actions")
        if not (isinstance(actions, list) and actions and isinstance(actions[0], dict)
                and isinstance(actions[0].get("action_id"), str)):
            return "no action"
        if not _handle(body.get("trigger_id")):
            return "no trigger_id"
        value = actions[0].get("value")
        if value is not None and not isinstance(value, str):
            return "no button value"
    if kind in ("view_submission", "view_closed"):
        view = body.get("view")
        if not (isinstance(view, dict) and isinstance(view.get("callback_id"), str)
                and _handle(view.get("id"))
                and isinstance(view.get("private_metadata", ""), str)):
            return "no view"
    if kind == "event_callback" and not isinstance(body.get("event"), dict):
        return "no event"
    return None


def _tell(replies: Replies, baton: Baton, body: dict[str, Any], text: str) -> None:
    """An ephemeral note to whoever sent `body`, when it says who and where to answer."""
    url = body.get("response_url")
    if not (isinstance(url, str) and url.startswith(("https://", "http://"))):
        return  # nowhere to answer: the warning in the log is all there is
    user = body.get("user_id") or _get(body, "user", "id")
    channel = body.get("channel_id") or _get(body, "channel", "id")
    known = _is_id(_USER_ID, user)  # else only the response_url, no fallback to a DM

    def tell() -> None:
        try:
            replies.send(user=user if known else "",
                         channel=channel if known and _is_id(_CHANNEL_ID, channel) else None,
                         response_url=url, text=text)
        except Exception:  # noqa: BLE001 - best effort; the warning is logged already
            log.warning("could not tell %s their request was unreadable", user)

    baton.defer(tell)


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
_PARSED = "baton.slack_body"  # the body wsgi_app parsed, handed on to _SlackHandler


def parse_slack_body(text: str, content_type: str | None) -> dict[str, Any]:
    """A request body as Slack sends it: JSON (the Events API), a form with a `payload` of
    JSON (interactivity) or a plain form (slash commands). Raises ValueError otherwise."""
    try:
        if (content_type or "").split(";")[0].strip() == "application/json" or \
                text.lstrip().startswith("{"):
            body = json.loads(text) if text.strip() else {}
        else:
            form = dict(parse_qsl(text, keep_blank_values=True))
            body = json.loads(form["payload"]) if "payload" in form else form
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
    if not isinstance(body, dict):
        raise ValueError("the body is not a JSON object")
    return body


class _SlackHandler(SlackRequestHandler):
    """Bolt's WSGI adapter, made to take whatever arrives.

    - The body is parsed as parse_slack_body does: Bolt takes any body in which the word
      "payload" appears as an interactivity payload, so a slash command whose text said
      "payload" reached no listener (404).
    - A request without what its kind always carries (see malformed) is answered 200, and
      the sender told where the request says how, once its signature holds (401 otherwise):
      Bolt would fail on it in a listener, or already while matching one (500).
    - Anything else Bolt cannot cope with is logged and answered 200 (401 if unsigned)."""

    def __init__(self, app: App, *, signed: Callable[[dict[str, Any], bytes], bool],
                 tell: Callable[[dict[str, Any], str], None]) -> None:
        super().__init__(app)
        self._signed = signed
        self._tell = tell

    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        raw = request.get_body()
        headers = request.get_headers()
        body = request.environ.get(_PARSED) or parse_slack_body(
            raw, request.environ.get("CONTENT_TYPE"))
        problem = malformed(body)
        if problem is not None:
            if not self._signed(request.environ, raw.encode()):
                return BoltResponse(status=401, body={"error": "invalid request"})
            log.warning("ignored a signed request Slack could not have sent: %s", problem)
            self._tell(body, UNREADABLE.format(what=problem))
            return BoltResponse(status=200, body="")
        try:
            req = BoltRequest(body=raw, query=request.query_string, headers=headers)
            if req.body != body:
                req.body = body
                req.context = build_context(BoltContext({}), body)
            return self.app.dispatch(req)
        except Exception:
            if not self._signed(request.environ, raw.encode()):
                return BoltResponse(status=401, body={"error": "invalid request"})
            log.exception("Bolt could not handle a signed request; answered 200")
            return BoltResponse(status=200, body="")


class _Verifier(SignatureVerifier):
    """slack_sdk's verifier (its clock, its five minutes, its constant-time comparison),
    signing the raw bytes as they came: a body that is not UTF-8 is checked, not an error."""

    def generate_signature(self, *, timestamp: str, body: str | bytes) -> str | None:
        raw = body.encode() if isinstance(body, str) else (body or b"")
        mac = hmac.new(self.signing_secret.encode(), b"v0:" + timestamp.encode() + b":",
                       hashlib.sha256)
        mac.update(raw)  # not concatenated: a big body is not copied to be checked
        return "v0=" + mac.hexdigest()


class Signatures:
    """Slack's v0 request signature over a request's raw bytes, within five minutes of
    `clock` (slack_sdk's Clock: the wall clock Slack stamps its requests by, not the
    runtime's clock, which tests move; tests inject their own)."""

    def __init__(self, secret: str, clock: WallClock | None = None) -> None:
        self._verifier = _Verifier(secret or "unset", clock=clock or WallClock())
        self._configured = bool(secret)

    def __call__(self, environ: dict[str, Any], raw: bytes) -> bool:
        stamp = str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", ""))
        given = str(environ.get("HTTP_X_SLACK_SIGNATURE", ""))
        if not self._configured or not stamp.isdigit() or not given:
            return False
        return self._verifier.is_valid(body=raw, timestamp=stamp, signature=given)

    def holds(self, stamp: str, raw: bytes, given: str) -> bool:
        """The signature alone, whatever its age (a saved request, checked again)."""
        if not self._configured or not stamp.isdigit():
            return False
        expected = self._verifier.generate_signature(timestamp=stamp, body=raw) or ""
        return hmac.compare_digest(expected, given)


class TooLarge(Exception):
    """The request's body is over BATON_MAX_BODY_BYTES."""


def _read_body(environ: dict[str, Any], limit: int) -> bytes:
    """The body, never more than `limit` bytes of it: a declared length over the limit is
    refused before a byte is read; with no length (chunked, under a server that passes it
    through) at most limit + 1 bytes are read to tell. Raises TooLarge, or ValueError for a
    length that is not a number."""
    stream = environ.get("wsgi.input")
    declared = str(environ.get("CONTENT_LENGTH") or "").strip()
    if declared:
        if not declared.isdigit():
            raise ValueError("Content-Length is not a number")
        length = int(declared)
        if length > limit:
            raise TooLarge
        return stream.read(length) if stream is not None and length else b""
    if stream is None or not environ.get("wsgi.input_terminated"):
        return b""  # no length and no end marked: nothing may be read (PEP 3333)
    raw = stream.read(limit + 1)
    if len(raw) > limit:
        raise TooLarge
    return raw


def _ssl_check(raw: bytes) -> bool:
    """Slack's SSL check (`ssl_check=1&token=…`), which Slack sends unsigned. Only that
    form, exactly: it is answered here with a 200 and never reaches a listener."""
    if len(raw) > 1024:
        return False
    try:
        form = parse_qsl(raw.decode("ascii"), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        return False
    keys = {k for k, _ in form}
    return dict(form).get("ssl_check") == "1" and keys <= {"ssl_check", "token"}


def _answer(start_response: Callable[..., Any], status: str, data: bytes,
            content_type: str = "text/plain") -> list[bytes]:
    start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(data)))])
    return [data]


class _ThenRun:
    """A WSGI body whose close() (called by the server once the response is sent) starts the
    work the request deferred."""

    def __init__(self, body: Iterable[bytes], after: Callable[[], None]) -> None:
        self._body = body
        self._after = after

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._body)

    def close(self) -> None:
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                close()
        finally:
            self._after()


# --- several workspaces: Slack's OAuth install flow ---


def _install_flow(settings: Settings, session_factory: sessionmaker[Session], *,
                  on_installed: Callable[[str], Any]) -> tuple[OAuthSettings, Installations]:
    """Bolt's OAuth with slack_sdk's SQLAlchemy stores, on Baton's own database (the tables
    come from Baton's migrations, not the stores' create_tables). `on_installed` gets the
    workspace of each successful install before Bolt's own success page."""
    engine = session_factory.kw["bind"]
    client_id = settings.slack_client_id or ""
    oauth_log = logging.getLogger("baton.oauth")
    store = SQLAlchemyInstallationStore(client_id=client_id, engine=engine, logger=oauth_log)
    states = SQLAlchemyOAuthStateStore(expiration_seconds=600, engine=engine, logger=oauth_log)
    installations = Installations(store)

    def success(args: SuccessArgs) -> BoltResponse:
        team = args.installation.team_id
        if team:
            installations.forget(team)  # the new token, not a cached one
            try:
                on_installed(team)
            except Exception:  # noqa: BLE001 - installed all the same; the work stays suspended
                oauth_log.exception("workspace %s installed, but its suspended work was not "
                                    "resumed", team)
        return args.default.success(args)

    def failure(args: FailureArgs) -> BoltResponse:
        return args.default.failure(args)

    oauth = OAuthSettings(client_id=client_id,
                          client_secret=settings.secret("slack_client_secret"),
                          scopes=settings.scopes, installation_store=store, state_store=states,
                          install_path="/slack/install", redirect_uri_path="/slack/oauth_redirect",
                          installation_store_bot_only=True,
                          callback_options=CallbackOptions(success=success, failure=failure))
    return oauth, installations


def _workspace_client(settings: Settings, installations: Installations, *,
                      interactive: bool) -> WorkspaceClient:
    client = WorkspaceClient(installations, base_url=settings.slack_api_url, timeout=10)
    return _with_retries(client) if interactive else client


BUSY = (":hourglass: Baton is very busy right now and did not take this, so nothing was "
        "saved. Try again in a minute.")
SHED_HEADER = ("X-Baton-Shed", "1")


def _shed(baton: Baton, body: dict[str, Any],
          start_response: Callable[..., Any]) -> list[bytes]:
    """More work is waiting than Baton's workers can do in a few seconds: say so at once,
    in Slack's own ways, instead of answering 200 to work that would wait minutes (and be
    lost if the process stopped meanwhile). Nothing is written."""
    baton.note_shed()
    headers = [("Content-Type", "application/json"), SHED_HEADER]
    answer = busy_answer(baton, body)
    data = json.dumps(answer).encode() if answer else b""
    start_response("200 OK", [*headers, ("Content-Length", str(len(data)))])
    return [data]


def busy_answer(baton: Baton, body: dict[str, Any]) -> dict[str, Any] | None:
    """What Slack is answered with for a request turned away (see _shed); a button's
    presser is told through its response URL instead."""
    answer: dict[str, Any] | None = None
    if "command" in body:
        answer = {"response_type": "ephemeral", "text": BUSY}
    elif body.get("type") == "view_submission":
        inputs = _get(body, "view", "state", "values")
        if isinstance(inputs, dict) and inputs:
            field = BUSY.removeprefix(":hourglass: ")[:150]  # a field error is plain text
            answer = {"response_action": "errors", "errors": {min(inputs): field}}
    elif body.get("type") == "block_actions":
        url = body.get("response_url")
        if isinstance(url, str) and url.startswith(("https://", "http://")):
            baton.tell_busy(url, BUSY)  # a button has no answer of its own: a small side pool
    return answer


# What Slack sends that defers work: saved once answered (bot/web/inbox.py). Not a form's
# submission: most forms write before their 200 (their errors go back in it), and redoing
# one would write twice.
_KEPT = ("block_actions", "event_callback", "shortcut", "message_action")


def _kept(body: dict[str, Any]) -> bool:
    return "command" in body or body.get("type") in _KEPT


def saved_keys(settings: Settings) -> dict[str, str]:
    """The secrets a saved request's signature may be checked with (bot/web/inbox.py)."""
    return {"signing_secret": settings.secret("slack_signing_secret"),
            "app_token": settings.secret("slack_app_token")}


def genuine(row: Any, keys: dict[str, str]) -> bool:
    """A saved request signed by Slack (its age aside) or, for one that came without a
    signature (Socket Mode), by Baton with a secret of its own (bot/web/inbox.py)."""
    raw, signature, stamp = str(row.body), str(row.signature), str(row.signed_at)
    if baton_signed(signature):
        return saved_signature_holds(signature, keys, team_id=row.team_id, body=raw,
                                     stamp=stamp)
    secret = keys.get("signing_secret")
    return bool(secret) and Signatures(secret).holds(stamp, raw.encode(), signature)


def _replayer(app: App, baton: Baton, secret: str,
              signatures: Signatures) -> Callable[[Any], None]:
    """Hand a saved request to its listener again, as Slack sent it (signed anew: its
    signature was checked when it came in, and may be older than Bolt's five minutes)."""
    keys = saved_keys(baton.settings)

    def replay(row: Any) -> None:
        raw = str(row.body)
        # Slack's own signature (or Baton's, for a Socket Mode request), checked again: a
        # row nobody but Slack or Baton signed is never acted on, whoever could write to
        # the table.
        if not genuine(row, keys):
            raise NotFromSlack(f"received request {row.id}")
        body = parse_slack_body(raw, row.content_type)
        problem = malformed(body)
        if problem is not None:
            raise NotFromSlack(f"received request {row.id}: {problem}")
        headers = wire.signed_headers(raw, secret, content_type=row.content_type
                                      or "application/x-www-form-urlencoded")
        req = BoltRequest(body=raw, headers=headers)
        if req.body != body:
            req.body = body
            req.context = build_context(BoltContext({}), body)
        redo(app, baton, row, req, body)

    return replay


def redo(app: App, baton: Baton, row: Any, req: BoltRequest, body: dict[str, Any]) -> None:
    """Dispatch a saved request again; its row is deleted once the work it defers has run."""
    # The workspace the signed body names: the row's own column is not under the signature.
    with team_scope(_team_of(body) or row.team_id), redo_scope(), \
            baton.hold_deferred(row.id) as held:
        try:
            app.dispatch(req)
        except BaseException:
            baton.release(held)
            raise
    baton.release(held)


def _team_of(body: dict[str, Any]) -> str | None:
    """The workspace a request from Slack comes from, wherever its kind keeps it."""
    for team in (body.get("team_id"), _get(body, "team", "id"), _get(body, "user", "team_id"),
                 _get(body, "view", "team_id")):
        if _is_id(_TEAM_ID, team):
            return str(team)
    return None


class Health:
    """/healthz's answer: does the database take a write (a tiny row rewritten in its own
    transaction, store.queries.touch_health_probe)? Probed at most once every `every`
    seconds of `monotonic` (a load balancer's checks must not become write load); between
    probes the last answer stands. A failure is logged when it starts and when it ends,
    not at every probe."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock, *, every: float,
                 by: str, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._sessions = sessions
        self._clock = clock  # only stamps the row
        self._every = every
        self._by = by
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._at: float | None = None
        self._state = "writable"
        self._why = ""

    def state(self) -> str:
        """"writable", "unwritable" (reads work, writes fail) or "unreachable"."""
        with self._lock:  # one probe at a time; whoever waited takes its answer
            now = self._monotonic()
            if self._at is None or not (0 <= now - self._at < self._every):
                self._at = now
                state = self._probe(self._clock.now())
                if state != self._state:
                    if state == "writable":
                        log.warning("health check: the database takes writes again")
                    else:
                        log.warning("health check: the database is %s (%s)", state, self._why)
                self._state = state
            return self._state

    def _probe(self, now: datetime) -> str:
        try:
            with transaction(self._sessions) as s:
                queries.touch_health_probe(s, now=now, by=self._by)
            return "writable"
        except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
            self._why = _one_line(exc)
        try:
            with self._sessions() as s:
                s.execute(text("SELECT 1"))
            return "unwritable"
        except Exception:  # noqa: BLE001
            return "unreachable"


def _one_line(exc: BaseException) -> str:
    """An error as one short line (SQLAlchemy's own text runs to several, SQL included)."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else ''}"


def wsgi_app(app: App, baton: Baton, session_factory: sessionmaker[Session], *,
             wall_clock: WallClock | None = None) -> WSGIApp:
    """/slack/events for Slack, /healthz for the load balancer (200 when the database takes
    a write). `wall_clock` is what Slack's request timestamps are checked against."""
    secret = baton.settings.secret("slack_signing_secret")
    signed = Signatures(secret, wall_clock)
    limit = baton.settings.max_body_bytes
    replies = Replies(baton.client)
    baton.inbox.replay = _replayer(app, baton, secret, signed)
    health = Health(session_factory, baton.clock, every=baton.settings.health_probe_seconds,
                    by=baton.engine.worker)
    slack = _SlackHandler(app, signed=signed,
                          tell=lambda body, text: _tell(replies, baton, body, text))

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            state = health.state()
            ok = state == "writable"
            data = json.dumps({"ok": ok, "database": state}).encode()
            return _answer(start_response, "200 OK" if ok else "503 Service Unavailable",
                           data, "application/json")
        if path in ("/slack/install", "/slack/oauth_redirect") and app.oauth_flow is not None:
            return slack(environ, start_response)  # Bolt's install page and Slack's redirect
        if path == "/slack/events":
            # The body is read only up to BATON_MAX_BODY_BYTES (waitress refuses a longer
            # declared length itself, before reading it), and its signature is checked on
            # the raw bytes before anything parses it: whoever is not Slack costs an HMAC.
            try:
                raw = _read_body(environ, limit)
            except TooLarge:
                return _answer(start_response, "413 Request Entity Too Large",
                               b'{"error":"request too large"}', "application/json")
            except ValueError:
                return _answer(start_response, "400 Bad Request",
                               b'{"error":"bad request"}', "application/json")
            from_slack = signed(environ, raw)
            if not from_slack and not _ssl_check(raw):
                return _answer(start_response, "401 Unauthorized",
                               b'{"error":"invalid request"}', "application/json")
            # Parsed here, not by Bolt: a body that is not UTF-8, or whose JSON is broken,
            # was a 500 there.
            try:
                environ[_PARSED] = parse_slack_body(raw.decode("utf-8"),
                                                    environ.get("CONTENT_TYPE"))
            except (UnicodeDecodeError, ValueError) as exc:
                log.warning("ignored a signed request Slack could not have sent: %s",
                            type(exc).__name__)
                return _answer(start_response, "200 OK", b"")
            parsed = environ[_PARSED]
            if not from_slack:  # an unsigned SSL check: answered, never dispatched
                return _answer(start_response, "200 OK", b"")
            if baton.overloaded():
                return _shed(baton, parsed, start_response)
            team = _team_of(parsed)
            # Saved as soon as its 200 is written, before its work is queued: if this process
            # dies before the work is done, the next start or another replica does it
            # (bot/web/inbox.py). Not before the 200: on SQLite that write waits for the one
            # writer, and Slack's answer would wait with it.
            keep = Received(team, raw.decode("utf-8"), environ.get("CONTENT_TYPE"),
                            str(environ.get("HTTP_X_SLACK_SIGNATURE", "")),
                            str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", ""))) \
                if _kept(parsed) else None
            environ["wsgi.input"] = io.BytesIO(raw)
            environ["CONTENT_LENGTH"] = str(len(raw))
            # Everything the request does, and the work it defers, calls Slack as the
            # request's workspace (its own bot token, in the install-flow mode).
            with team_scope(team), baton.hold_deferred() as held:
                try:
                    body = slack(environ, start_response)
                except BaseException:
                    baton.release(held)  # never leave held work counted but not run
                    raise
            return _ThenRun(body, lambda: baton.release(held, keep=keep))
        return _answer(start_response, "404 Not Found", b"not found")

    return application


# --- the HTTP server `serve` runs (and the tests' fixture, so they test the same) ---

HEADER_LIMIT = 16 * 1024  # Slack's request headers are well under 2 KB


def server_options(settings: Settings, *, threads: int) -> dict[str, Any]:
    """waitress's adjustments for `serve` under hostile traffic."""
    return {
        "threads": threads,
        # Idle connections are cheap in waitress (one socket, no thread); the default limit
        # of 100 let a hundred idle clients shut Slack out. poll(), not select(): select
        # fails on a descriptor numbered over 1024.
        "connection_limit": settings.connection_limit,
        "asyncore_use_poll": True,
        "backlog": 2048,
        # A connection with nothing to do is closed after this; waitress looks every second.
        "channel_timeout": settings.idle_seconds,
        "cleanup_interval": 1,
        "max_request_header_size": HEADER_LIMIT,
        # A longer declared body is answered 413 from its headers, before it is read.
        "max_request_body_size": settings.max_body_bytes,
        "ident": "baton",
    }


class _DeadlineChannel(HTTPChannel):
    """A connection that notes when the request it is reading began. waitress's
    channel_timeout counts from the last byte, so a client sending one header line every
    few seconds would hold its connection for ever; _DeadlineServer cuts it off once the
    request has taken longer than the server's request deadline to arrive."""

    reading_since: float | None = None

    def received(self, data: bytes) -> bool:
        before = self.request
        done = super().received(data)
        if self.request is None:
            self.reading_since = None  # every request read so far is complete
        elif self.request is not before or self.reading_since is None:
            self.reading_since = time.monotonic()
        return done


class _DeadlineServer(TcpWSGIServer):
    channel_class = _DeadlineChannel
    request_seconds = 10.0

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # idle connections (channel_timeout)
        cutoff = time.monotonic() - self.request_seconds
        for channel in list(self.active_channels.values()):
            since = getattr(channel, "reading_since", None)
            if since is not None and since < cutoff and not channel.requests:
                channel.will_close = True  # closed on the loop's next turn


def make_server(application: WSGIApp, settings: Settings, *, host: str, port: int,
                threads: int) -> Any:
    """waitress serving `application` with server_options, and a deadline for a request
    to arrive in full (BATON_REQUEST_SECONDS from its first byte). Its run() serves until
    close(); effective_listen says where."""
    adj = Adjustments(host=host, port=port, **server_options(settings, threads=threads))
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    shared: dict[int, Any] = {}
    servers = []
    for sockinfo in adj.listen:
        server = _DeadlineServer(application, shared, dispatcher=dispatcher, adj=adj,
                                 sockinfo=sockinfo)
        server.request_seconds = settings.request_seconds
        servers.append(server)
    # run() serves every socket until close(), which closes the connections too.
    return MultiSocketServer(shared, adj, [(s.effective_host, s.effective_port)
                                           for s in servers], dispatcher)
