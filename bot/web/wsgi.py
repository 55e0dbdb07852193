"""The WSGI app `serve` runs: /slack/events for Slack, /healthz for the load balancer, and
Bolt's install pages in the install-flow mode. Around Bolt's own adapter (_SlackHandler) it
reads the body within its limit and checks its signature before anything parses it
(bot/web/parsing.py, bot/web/signature.py), turns requests away when Baton is overloaded
(bot/web/shedding.py), and holds the work a request defers until its 200 is sent, saving
the request first (bot/web/inbox.py)."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from slack_bolt import App, BoltContext, BoltResponse
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import build_context
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.slack.clients import team_scope
from bot.web.answers import UNREADABLE
from bot.web.inbox import Inbox, Received, kept
from bot.web.parsing import (
    TooLarge,
    malformed,
    parse_slack_body,
    read_body,
    ssl_check,
    team_of,
)
from bot.web.server import WSGIApp
from bot.web.shedding import shed
from bot.web.signature import Signatures
from bot.web.workers import Workers
from store import queries
from store.db import ping, transaction

log = logging.getLogger("baton")

_PARSED = "baton.slack_body"  # the body the WSGI app parsed, handed on to _SlackHandler


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
                ping(s)
            return "unwritable"
        except Exception:  # noqa: BLE001
            return "unreachable"


def _one_line(exc: BaseException) -> str:
    """An error as one short line (SQLAlchemy's own text runs to several, SQL included)."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else ''}"


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


def make_wsgi_app(app: App, *, signed: Signatures, limit: int, workers: Workers,
                  inbox: Inbox, health: Health,
                  tell: Callable[[dict[str, Any], str], None]) -> WSGIApp:
    """/slack/events for Slack (bodies up to `limit` bytes, checked by `signed`; the work
    they defer runs on `workers`, saved in `inbox` first), /healthz for the load balancer
    (200 when the database takes a write, as `health` says), and, when `app` has the
    install flow, its install page and Slack's redirect. `tell` answers a sender whose
    request could not be read."""
    slack = _SlackHandler(app, signed=signed, tell=tell)

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
                raw = read_body(environ, limit)
            except TooLarge:
                return _answer(start_response, "413 Request Entity Too Large",
                               b'{"error":"request too large"}', "application/json")
            except ValueError:
                return _answer(start_response, "400 Bad Request",
                               b'{"error":"bad request"}', "application/json")
            from_slack = signed(environ, raw)
            if not from_slack and not ssl_check(raw):
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
            if workers.overloaded():
                return shed(workers, parsed, start_response)
            team = team_of(parsed)
            # Saved as soon as its 200 is written, before its work is queued: if this process
            # dies before the work is done, the next start or another replica does it
            # (bot/web/inbox.py). Not before the 200: on SQLite that write waits for the one
            # writer, and Slack's answer would wait with it.
            keep = Received(team, raw.decode("utf-8"), environ.get("CONTENT_TYPE"),
                            str(environ.get("HTTP_X_SLACK_SIGNATURE", "")),
                            str(environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", ""))) \
                if kept(parsed) else None
            environ["wsgi.input"] = io.BytesIO(raw)
            environ["CONTENT_LENGTH"] = str(len(raw))
            # Everything the request does, and the work it defers, calls Slack as the
            # request's workspace (its own bot token, in the install-flow mode).
            with team_scope(team), workers.hold_deferred() as held:
                try:
                    body = slack(environ, start_response)
                except BaseException:
                    inbox.release(held)  # never leave held work counted but not run
                    raise
            return _ThenRun(body, lambda: inbox.release(held, keep=keep))
        return _answer(start_response, "404 Not Found", b"not found")

    return application
