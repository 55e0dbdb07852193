"""App assembly: the Bolt app, its listeners, and the WSGI app `serve` runs."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator
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
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from bot import wire
from bot.cards import Replies
from bot.clock import Clock
from bot.coordination import RotaRoster
from bot.escalation import Roster
from bot.inbox import (
    NotFromSlack,
    Received,
    baton_signed,
    redo_scope,
    saved_signature_holds,
)
from bot.redact import install_redaction
from bot.runtime import Baton
from bot.settings import Settings
from bot.workspaces import Installations, WorkspaceClient, team_scope
from handlers import actions, commands, coordination, governance, installs, views
from handlers.common import GENERIC

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
        token_verification_enabled=token_verification,
        logger=logging.getLogger("baton.bolt"),
    )
    replies = Replies(client)
    commands.register(app, baton)
    actions.register(app, baton)
    views.register(app, baton)
    coordination.register(app, baton)
    governance.register(app, baton)
    installs.register(app, baton, installations)

    @app.error
    def on_error(error: Exception, body: dict[str, Any],
                 logger: logging.Logger) -> BoltResponse:
        """A listener failed: log it, and answer Slack 200 all the same (a 500 shows people
        only "dispatch_failed"); they are told, in the form or ephemerally, that nothing was
        saved."""
        logger.exception("unhandled error in a listener: %s", type(error).__name__)
        body = body if isinstance(body, dict) else {}
        view = body.get("view") if body.get("type") == "view_submission" else None
        if isinstance(view, dict):
            state = view.get("state") if isinstance(view.get("state"), dict) else {}
            inputs = state.get("values") if isinstance(state.get("values"), dict) else {}
            if inputs:
                return BoltResponse(status=200, headers={"content-type": "application/json"},
                                    body=json.dumps({"response_action": "errors", "errors": {
                                        min(inputs): GENERIC_FORM_ERROR}}))
        _tell(replies, baton, body, GENERIC)
        return BoltResponse(status=200, body="")

    return app, baton


# --- requests Slack could not have sent ---

GENERIC_FORM_ERROR = "Something went wrong on Baton's side and nothing was saved. Try again."
UNREADABLE = (":warning: Baton couldn't read that request ({what}), so nothing was saved. "
              "Try again; if it keeps happening, tell your Baton admin.")

# Slack's IDs: upper-case letters and digits, a few characters long (the database keeps 32).
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,31}")
_TEAM_ID = re.compile(r"[TE][A-Z0-9]{2,31}")
_CHANNEL_ID = re.compile(r"[CDG][A-Z0-9]{2,31}")
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

    def __init__(self, app: App, *, secret: str, tell: Callable[[dict[str, Any], str], None]
                 ) -> None:
        super().__init__(app)
        self._secret = secret
        self._tell = tell

    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        raw = request.get_body()
        headers = request.get_headers()
        body = request.environ.get(_PARSED) or parse_slack_body(
            raw, request.environ.get("CONTENT_TYPE"))
        problem = malformed(body)
        if problem is not None:
            if not _signed(self._secret, request.environ, raw.encode()):
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
            if not _signed(self._secret, request.environ, raw.encode()):
                return BoltResponse(status=401, body={"error": "invalid request"})
            log.exception("Bolt could not handle a signed request; answered 200")
            return BoltResponse(status=200, body="")


def _signed(secret: str, environ: dict[str, Any], raw: bytes) -> bool:
    """Slack's v0 request signature over the raw bytes, within its five minutes."""
    stamp = str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", ""))
    given = str(environ.get("HTTP_X_SLACK_SIGNATURE", ""))
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > 300:
        return False
    return _signature_holds(secret, stamp, raw, given)


def _signature_holds(secret: str, stamp: str, raw: bytes, given: str) -> bool:
    """Slack's v0 signature over the timestamp and the raw bytes, whatever their age."""
    if not stamp.isdigit():
        return False
    expected = "v0=" + hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + raw,
                                hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = max(int(environ.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        length = 0
    stream = environ.get("wsgi.input")
    return stream.read(length) if stream is not None and length else b""


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


# What Slack sends that defers work: saved once answered (bot/inbox.py). Not a form's
# submission: most forms write before their 200 (their errors go back in it), and redoing
# one would write twice.
_KEPT = ("block_actions", "event_callback", "shortcut", "message_action")


def _kept(body: dict[str, Any]) -> bool:
    return "command" in body or body.get("type") in _KEPT


def saved_keys(settings: Settings) -> dict[str, str]:
    """The secrets a saved request's signature may be checked with (bot/inbox.py)."""
    return {"signing_secret": settings.secret("slack_signing_secret"),
            "app_token": settings.secret("slack_app_token")}


def genuine(row: Any, keys: dict[str, str]) -> bool:
    """A saved request signed by Slack (its age aside) or, for one that came without a
    signature (Socket Mode), by Baton with a secret of its own (bot/inbox.py)."""
    raw, signature, stamp = str(row.body), str(row.signature), str(row.signed_at)
    if baton_signed(signature):
        return saved_signature_holds(signature, keys, team_id=row.team_id, body=raw,
                                     stamp=stamp)
    secret = keys.get("signing_secret")
    return bool(secret) and _signature_holds(secret, stamp, raw.encode(), signature)


def _replayer(app: App, baton: Baton, secret: str) -> Callable[[Any], None]:
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
    with team_scope(row.team_id or _team_of(body)), redo_scope(), \
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


def wsgi_app(app: App, baton: Baton, session_factory: sessionmaker[Session]) -> WSGIApp:
    """/slack/events for Slack, /healthz for the load balancer (200 when the database answers)."""
    secret = baton.settings.secret("slack_signing_secret")
    replies = Replies(baton.client)
    baton.inbox.replay = _replayer(app, baton, secret)
    slack = _SlackHandler(app, secret=secret,
                          tell=lambda body, text: _tell(replies, baton, body, text))

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            try:
                with session_factory() as s:
                    s.execute(text("SELECT 1"))
                status, body = "200 OK", {"ok": True, "database": "reachable"}
            except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
                log.warning("health check: database unreachable: %s", type(exc).__name__)
                status, body = "503 Service Unavailable", {"ok": False,
                                                          "database": "unreachable"}
            data = json.dumps(body).encode()
            start_response(status, [("Content-Type", "application/json"),
                                    ("Content-Length", str(len(data)))])
            return [data]
        if path in ("/slack/install", "/slack/oauth_redirect") and app.oauth_flow is not None:
            return slack(environ, start_response)  # Bolt's install page and Slack's redirect
        if path == "/slack/events":
            # Read and parse the body before Bolt does: Bolt parses before it checks the
            # signature, and a body that is not UTF-8, or whose JSON is broken, was a 500.
            raw = _read_body(environ)
            try:
                environ[_PARSED] = parse_slack_body(raw.decode("utf-8"),
                                                    environ.get("CONTENT_TYPE"))
            except (UnicodeDecodeError, ValueError) as exc:
                if not _signed(secret, environ, raw):
                    return _answer(start_response, "401 Unauthorized",
                                   b'{"error":"invalid request"}', "application/json")
                log.warning("ignored a signed request Slack could not have sent: %s",
                            type(exc).__name__)
                return _answer(start_response, "200 OK", b"")
            parsed = environ[_PARSED]
            signed = _signed(secret, environ, raw)
            if baton.overloaded() and signed:
                return _shed(baton, parsed, start_response)
            team = _team_of(parsed)
            # Saved as soon as its 200 is written, before its work is queued: if this process
            # dies before the work is done, the next start or another replica does it
            # (bot/inbox.py). Not before the 200: on SQLite that write waits for the one
            # writer, and Slack's answer would wait with it.
            keep = Received(team, raw.decode("utf-8"), environ.get("CONTENT_TYPE"),
                            str(environ.get("HTTP_X_SLACK_SIGNATURE", "")),
                            str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", ""))) \
                if signed and _kept(parsed) else None
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
        data = b"not found"
        start_response("404 Not Found", [("Content-Type", "text/plain"),
                                         ("Content-Length", str(len(data)))])
        return [data]

    return application
