"""Slack clients: make_client (one bot token, with Slack's own retry handlers for the
request path) and, for several workspaces from one deployment (Slack's OAuth install flow,
bot/slack/install.py), WorkspaceClient.

Each workspace that installs Baton gets its own bot token, kept by slack_sdk's SQLAlchemy
installation store in Baton's database. Baton's services and engine call Slack through one
WorkspaceClient, which sends every call with the token of the workspace in scope: a
request's workspace (set by a Bolt middleware and carried to Baton's workers), or the
record's workspace in the engine. A call with no workspace in scope is refused rather than
sent with some other workspace's token.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from cachetools import TTLCache
from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.oauth.installation_store import InstallationStore
from slack_sdk.web import SlackResponse

from bot.settings import Settings
from store import installations as q

_C = TypeVar("_C", bound=WebClient)

current_team: contextvars.ContextVar[str | None] = contextvars.ContextVar("baton_team",
                                                                          default=None)


@contextmanager
def team_scope(team_id: str | None) -> Iterator[None]:
    """Slack calls made inside go to `team_id`'s workspace with its token."""
    token = current_team.set(team_id)
    try:
        yield
    finally:
        current_team.reset(token)


class NotInstalled(SlackClientError):
    """No installation (or no workspace in scope) to send a call with."""


class Installations:
    """Bot tokens by workspace, from the installation store, cached for `ttl` seconds of
    `timer` (a reinstall's new token is picked up on the next miss; `forget` drops one at
    once). A workspace with no token is not cached."""

    MAX_WORKSPACES = 10_000  # the cache's bound; beyond it the least recently used goes

    def __init__(self, store: InstallationStore, *, ttl: float = 300.0,
                 timer: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self._cache: TTLCache[str, str] = TTLCache(self.MAX_WORKSPACES, ttl, timer=timer)
        self._lock = threading.Lock()  # TTLCache is not thread-safe

    def token(self, team_id: str) -> str | None:
        with self._lock:
            hit = self._cache.get(team_id)
        if hit is not None:
            return hit
        token = self._latest_bot_token(team_id)
        if not token:
            return None
        with self._lock:
            self._cache[team_id] = token
        return token

    def _latest_bot_token(self, team_id: str) -> str | None:
        store: Any = self.store  # slack_sdk's SQLAlchemy store: its engine and bots table
        with store.engine.connect() as conn:
            return q.latest_bot_token(conn, bots=store.bots, client_id=store.client_id,
                                      team_id=team_id)

    def forget(self, team_id: str) -> None:
        with self._lock:
            self._cache.pop(team_id, None)


class WorkspaceClient(WebClient):
    """A WebClient without a token of its own: each call carries the bot token of the
    workspace in scope (slack_sdk takes a per-call `token` argument)."""

    def __init__(self, installations: Installations, **kwargs: Any) -> None:
        super().__init__(token=None, **kwargs)
        self.installations = installations

    def api_call(self, api_method: str, *, http_verb: str = "POST",
                 files: dict[str, Any] | None = None, data: dict[str, Any] | None = None,
                 params: dict[str, Any] | None = None, json: dict[str, Any] | None = None,
                 headers: dict[str, Any] | None = None,
                 auth: dict[str, Any] | None = None) -> SlackResponse:
        explicit = (json is not None and "token" in json) or \
            (params is not None and "token" in params)
        if explicit or api_method.startswith("oauth.") or auth is not None:
            # A token given for this call (Bolt's authorize does that), or no token at all.
            return super().api_call(api_method, http_verb=http_verb, files=files, data=data,
                                    params=params, json=json, headers=headers, auth=auth)
        team = current_team.get()
        if team is None:
            raise NotInstalled(f"{api_method}: no workspace in scope to send it to")
        token = self.installations.token(team)
        if token is None:
            raise NotInstalled(f"{api_method}: Baton is not installed in workspace {team}")
        if json is not None:
            json = {**json, "token": token}
        else:
            params = {**(params or {}), "token": token}
        return super().api_call(api_method, http_verb=http_verb, files=files, data=data,
                                params=params, json=json, headers=headers, auth=auth)


def make_client(settings: Settings, *, token: str | None = None,
                interactive: bool = True) -> WebClient:
    """A WebClient with one bot token (SLACK_BOT_TOKEN unless `token` is given);
    `interactive` (the request path) adds Slack's retry handlers."""
    client = WebClient(
        token=token if token is not None else settings.secret("slack_bot_token"),
        base_url=settings.slack_api_url,
        timeout=10,
    )
    return with_retries(client) if interactive else client


def workspace_client(settings: Settings, installations: Installations, *,
                     interactive: bool) -> WorkspaceClient:
    """A WorkspaceClient on the install flow's tokens; `interactive` as for make_client."""
    client = WorkspaceClient(installations, base_url=settings.slack_api_url, timeout=10)
    return with_retries(client) if interactive else client


def with_retries(client: _C) -> _C:
    # Slack's own retry handlers: 429 honours Retry-After; 5xx and dropped connections back
    # off. The engine's client has none: it reschedules failed work in the database
    # (honouring Retry-After) instead of sleeping in the sending thread.
    client.retry_handlers.extend([
        RateLimitErrorRetryHandler(max_retry_count=3),
        ServerErrorRetryHandler(max_retry_count=2),
        ConnectionErrorRetryHandler(max_retry_count=2),
    ])
    return client
