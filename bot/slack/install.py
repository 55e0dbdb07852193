"""Slack's OAuth install flow (one deployment, many workspaces): Bolt's OAuth with
slack_sdk's SQLAlchemy stores on Baton's own database. Each install's bot token is then
found by workspace through Installations (bot/slack/clients.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltResponse
from slack_bolt.oauth.callback_options import CallbackOptions, FailureArgs, SuccessArgs
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy.orm import Session, sessionmaker

from bot.settings import Settings
from bot.slack.clients import Installations
from store.db import for_library_writes


def install_flow(settings: Settings, session_factory: sessionmaker[Session], *,
                 on_installed: Callable[[str], Any]) -> tuple[OAuthSettings, Installations]:
    """Bolt's OAuth with slack_sdk's SQLAlchemy stores, on Baton's own database (the tables
    come from Baton's migrations, not the stores' create_tables). `on_installed` gets the
    workspace of each successful install before Bolt's own success page."""
    # Their transactions read and then write: on SQLite they take the write lock first.
    engine = for_library_writes(session_factory.kw["bind"])
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
