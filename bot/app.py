"""App assembly: the Bolt app, its listeners, and the WSGI app `serve` runs."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.coordination import RotaRoster
from bot.escalation import Roster
from bot.runtime import Baton
from bot.settings import Settings
from handlers import actions, commands, coordination, governance, views

log = logging.getLogger("baton")


def make_client(settings: Settings, *, token: str | None = None,
                interactive: bool = True) -> WebClient:
    client = WebClient(
        token=token if token is not None else settings.secret("slack_bot_token"),
        base_url=settings.slack_api_url,
        timeout=10,
    )
    if interactive:
        # Slack's own retry handlers: 429 honours Retry-After; 5xx and dropped connections
        # back off. The engine's client has none: it reschedules failed work in the database
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
    baton = Baton(settings=settings, client=client, sessions=session_factory, clock=clock,
                  engine_client=engine_client or make_client(settings, token=client.token,
                                                             interactive=False),
                  roster=roster or RotaRoster(session_factory,
                                                    tz=ZoneInfo(settings.default_timezone),
                                                    fallback=settings.coordinator))
    app = App(
        client=client,
        signing_secret=settings.secret("slack_signing_secret") or "unused-in-socket-mode",
        # Listeners ack at once and hand the rest to Baton's own workers, so Bolt never polls
        # for the ack (its default runner checks every 10 ms).
        process_before_response=True,
        token_verification_enabled=token_verification,
        logger=logging.getLogger("baton.bolt"),
    )
    commands.register(app, baton)
    actions.register(app, baton)
    views.register(app, baton)
    coordination.register(app, baton)
    governance.register(app, baton)

    @app.error
    def on_error(error: Exception, body: dict[str, Any], logger: logging.Logger) -> None:
        logger.exception("unhandled error in a listener: %s", type(error).__name__)

    return app, baton


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


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


def wsgi_app(app: App, baton: Baton, session_factory: sessionmaker[Session]) -> WSGIApp:
    """/slack/events for Slack, /healthz for the load balancer (200 when the database answers)."""
    slack = SlackRequestHandler(app)

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
        if path == "/slack/events":
            with baton.hold_deferred() as held:
                body = slack(environ, start_response)
            return _ThenRun(body, lambda: baton.release(held))
        data = b"not found"
        start_response("404 Not Found", [("Content-Type", "text/plain"),
                                         ("Content-Length", str(len(data)))])
        return [data]

    return application
