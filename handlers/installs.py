"""Baton removed from a workspace (`app_uninstalled`), or its bot token revoked
(`tokens_revoked`): the installation is deleted (the install-flow mode, with Bolt's own
listeners over slack_sdk's installation store) and the workspace's due work is suspended,
an audit event per record concerned, so the engine stops sending for it. Records and the
audit chain stay. Installing Baton again resumes the work (the install flow,
bot/slack/install.py)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltContext

from bot.services import workspaces
from bot.slack.clients import Installations
from handlers.context import Services, services, slack

log = logging.getLogger("baton.installs")

UNINSTALLED = "Baton was uninstalled from the workspace (app_uninstalled)"
REVOKED = "Baton's bot token was revoked (tokens_revoked)"


def suspend(baton: Services, team_id: str, reason: str) -> int:
    # Slack told this process the workspace is gone: its engine's "resume what an earlier
    # process left suspended" at its first sweep must not undo this.
    baton.engine.keep_suspended()
    count = workspaces.suspend(sessions=baton.sessions, team_id=team_id, reason=reason,
                               now=baton.clock.now())
    log.warning("workspace %s: %s; %d due items suspended until it installs Baton again",
                team_id, reason, count)
    return count


def resume(baton: Services, team_id: str) -> int:
    """Installed (again): what was suspended is due once more, at once if its time came."""
    count = workspaces.resume(sessions=baton.sessions, team_id=team_id, now=baton.clock.now())
    if count:
        log.info("workspace %s installed Baton again: %d due items resumed", team_id, count)
        baton.poke()
    return count


def _team(context: BoltContext) -> str:
    return str(context.team_id or slack(context).team_id or "")


class InstallListeners:
    """The two events, bound to the app (Bolt's own listeners delete the installation) and
    to the installation store's cache, which only the install flow has."""

    def __init__(self, app: App, installations: Installations | None) -> None:
        self._app = app
        self._installations = installations

    def uninstalled(self, context: BoltContext) -> None:
        s, team = services(context), _team(context)

        def work() -> None:
            if self._installations is not None:
                self._app.default_app_uninstalled_event_listener()(context=context)
                self._installations.forget(team)
            suspend(s, team, UNINSTALLED)

        if team:
            s.defer(work)

    def revoked(self, event: dict[str, Any], context: BoltContext) -> None:
        s, team = services(context), _team(context)
        given = event.get("tokens")
        tokens: dict[str, Any] = given if isinstance(given, dict) else {}

        def work() -> None:
            if self._installations is not None:
                self._app.default_tokens_revoked_event_listener()(event=event, context=context)
                self._installations.forget(team)
            if tokens.get("bot"):  # Baton's own token: nothing can be sent any more
                suspend(s, team, REVOKED)

        if team:
            s.defer(work)


def register(app: App, installations: Installations | None) -> None:
    listeners = InstallListeners(app, installations)
    app.event("app_uninstalled")(listeners.uninstalled)
    app.event("tokens_revoked")(listeners.revoked)
