"""App assembly: the Bolt app with its listeners and the runtime they use (build_app), and
what `serve` and `socket` put around it from the HTTP edge's parts in bot/web/ (wsgi_app,
socket_handler). Nothing here handles a request itself."""

from __future__ import annotations

import logging
from typing import Any, Literal
from zoneinfo import ZoneInfo

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.signature import Clock as WallClock
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.redact import install_redaction
from bot.runtime import Baton
from bot.services.coordination import RotaCoordinator
from bot.services.escalation import CoordinatorOfTheDay
from bot.settings import Settings, settings_hidden_from_libraries
from bot.slack.cards import Replies
from bot.slack.clients import Installations, make_client, workspace_client
from bot.slack.install import install_flow
from bot.web.answers import tell
from bot.web.inbox import in_socket_mode, over_http, saved_keys
from bot.web.server import WSGIApp
from bot.web.signature import Signatures
from bot.web.socket_mode import SocketHandler
from bot.web.workers import Workers
from bot.web.wsgi import Health, make_wsgi_app
from handlers import (
    actions,
    commands,
    context,
    coordination,
    fallback,
    governance,
    installs,
    tracker_forms,
    views,
)
from handlers.common import error_handler


def build_app(
    settings: Settings,
    *,
    client: WebClient,
    session_factory: sessionmaker[Session],
    clock: Clock,
    token_verification: bool = True,
    engine_client: WebClient | None = None,
    roster: CoordinatorOfTheDay | None = None,
    redo: Literal["http", "socket"] | None = None,
) -> tuple[App, Baton]:
    """The Bolt app with its listeners, and the runtime they use. `redo` is how this
    process hands a saved request whose process died to the app again (bot/web/inbox.py):
    as HTTP (`serve`, and the tests' server), as a Socket Mode envelope (`socket`), or not
    at all (None: the console)."""
    # Log records never carry a configured secret, whoever logs them (bot/redact.py).
    install_redaction(settings)
    oauth_settings = None
    installations: Installations | None = None
    if settings.oauth:
        # Many workspaces: every Slack call takes the bot token of the workspace in scope.
        # An install (again) resumes what an uninstall suspended (handlers/installs.py).
        oauth_settings, installations = install_flow(
            settings, session_factory, on_installed=lambda team: installs.resume(baton, team))
        client = workspace_client(settings, installations, interactive=True)
        engine_client = workspace_client(settings, installations, interactive=False)
    # Bolt would read SLACK_BOT_TOKEN from the environment itself and then warn that the
    # client wins: Baton's client already carries the token (bot/settings.py).
    with settings_hidden_from_libraries():
        app = App(
            client=client,
            oauth_settings=oauth_settings,
            signing_secret=settings.secret("slack_signing_secret") or "unused-in-socket-mode",
            # Listeners ack at once and hand the rest to Baton's own workers, so Bolt never polls
            # for the ack (its default runner checks every 10 ms).
            process_before_response=True,
            # The WSGI app (bot/web/wsgi.py) checks every request's signature on the raw bytes
            # before anything parses it (bot/web/signature.py, on a wall clock tests can
            # inject); Bolt checking again on its own clock would only disagree with it. Socket
            # Mode needs none; the console signs.
            request_verification_enabled=False,
            token_verification_enabled=token_verification,
            logger=logging.getLogger("baton.bolt"),
        )
    baton = Baton(settings=settings, client=client, sessions=session_factory, clock=clock,
                  engine_client=engine_client or make_client(settings, token=client.token,
                                                             interactive=False),
                  roster=roster or RotaCoordinator(session_factory,
                                              tz=ZoneInfo(settings.default_timezone),
                                              fallback=settings.coordinator),
                  workers=Workers(settings.workers, max_backlog=settings.max_backlog),
                  redo=(over_http(app, settings.secret("slack_signing_secret"))
                        if redo == "http" else in_socket_mode(app) if redo == "socket"
                        else None))
    replies = Replies(client)
    # Each request read once into the context, with the runtime (handlers/context.py).
    app.middleware(context.middleware(baton))
    commands.register(app)
    actions.register(app)
    views.register(app)
    coordination.register(app)
    governance.register(app)
    tracker_forms.register(app)
    installs.register(app, installations)
    # Last: a command or button no listener above took gets Baton's own answer.
    fallback.register(app)
    # A listener failed: logged, Slack answered 200 all the same, the person told in the
    # form or ephemerally that nothing was saved (handlers/common.py: the one mapping).
    app.error(error_handler(lambda body, text: _tell(replies, baton, body, text)))

    return app, baton


def _tell(replies: Replies, baton: Baton, body: dict[str, Any], text: str) -> None:
    """An ephemeral note to whoever sent `body`, on Baton's workers (bot/web/answers.py)."""
    tell(replies, baton.defer, body, text)


def wsgi_app(app: App, baton: Baton, session_factory: sessionmaker[Session], *,
             wall_clock: WallClock | None = None) -> WSGIApp:
    """The WSGI app `serve` runs (bot/web/wsgi.py), from its parts: /slack/events for
    Slack, /healthz for the load balancer (200 when the database takes a write).
    `wall_clock` is what Slack's request timestamps are checked against."""
    replies = Replies(baton.client)
    return make_wsgi_app(
        app, signed=Signatures(baton.settings.secret("slack_signing_secret"), wall_clock),
        limit=baton.settings.max_body_bytes, workers=baton.workers, inbox=baton.inbox,
        health=Health(session_factory, baton.clock, every=baton.settings.health_probe_seconds,
                      by=baton.engine.worker),
        tell=lambda body, text: _tell(replies, baton, body, text))


def socket_handler(app: App, baton: Baton) -> SocketHandler:
    """What `socket` runs (bot/web/socket_mode.py), from its parts; build `app` with
    redo="socket"."""
    replies = Replies(baton.client)
    return SocketHandler(app, baton.settings.secret("slack_app_token"), workers=baton.workers,
                         inbox=baton.inbox, keys=saved_keys(baton.settings),
                         tell=lambda body, text: _tell(replies, baton, body, text))
