"""Several workspaces from one deployment (Slack's OAuth install flow).

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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackClientError
from slack_sdk.oauth.installation_store import InstallationStore
from slack_sdk.web import SlackResponse
from sqlalchemy import select

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
    """Bot tokens by workspace, from the installation store, cached for a few minutes (a
    reinstall's new token is picked up on the next miss; `forget` drops one at once)."""

    def __init__(self, store: InstallationStore, *, ttl: float = 300.0) -> None:
        self.store = store
        self._ttl = ttl
        self._cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def token(self, team_id: str) -> str | None:
        now = time.monotonic()  # cache age only
        with self._lock:
            hit = self._cache.get(team_id)
        if hit and now - hit[0] < self._ttl:
            return hit[1]
        token = self._latest_bot_token(team_id)
        if not token:
            return None
        with self._lock:
            self._cache[team_id] = (now, token)
        return token

    def _latest_bot_token(self, team_id: str) -> str | None:
        """The newest install's bot token for the workspace, whatever its Enterprise Grid
        organisation (the store's find_bot would ask for enterprise_id IS NULL)."""
        store: Any = self.store
        bots = store.bots
        with store.engine.connect() as conn:
            return conn.execute(
                select(bots.c.bot_token)
                .where(bots.c.client_id == store.client_id, bots.c.team_id == team_id)
                .order_by(bots.c.installed_at.desc(), bots.c.id.desc()).limit(1)).scalar()

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
                 files: dict | None = None, data: dict | None = None,
                 params: dict | None = None, json: dict | None = None,
                 headers: dict | None = None, auth: dict | None = None) -> SlackResponse:
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
