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

from bot.runtime import Baton
from bot.slack.clients import Installations
from store import queries
from store.db import transaction

log = logging.getLogger("baton.installs")

UNINSTALLED = "Baton was uninstalled from the workspace (app_uninstalled)"
REVOKED = "Baton's bot token was revoked (tokens_revoked)"


def suspend(baton: Baton, team_id: str, reason: str) -> int:
    # Slack told this process the workspace is gone: its engine's "resume what an earlier
    # process left suspended" at its first sweep must not undo this.
    baton.engine.keep_suspended()
    with transaction(baton.sessions) as s:
        count = queries.suspend_team_work(s, team_id=team_id, reason=reason,
                                          now=baton.clock.now())
    log.warning("workspace %s: %s; %d due items suspended until it installs Baton again",
                team_id, reason, count)
    return count


def resume(baton: Baton, team_id: str) -> int:
    """Installed (again): what was suspended is due once more, at once if its time came."""
    with transaction(baton.sessions) as s:
        count = queries.resume_team_work(s, team_id=team_id, now=baton.clock.now())
    if count:
        log.info("workspace %s installed Baton again: %d due items resumed", team_id, count)
        baton.poke()
    return count


def register(app: App, baton: Baton, installations: Installations | None) -> None:
    def team_of(body: dict[str, Any], context: BoltContext) -> str:
        return str(context.team_id or body.get("team_id") or "")

    def uninstalled(body: dict[str, Any], context: BoltContext) -> None:
        team = team_of(body, context)

        def work() -> None:
            if installations is not None:
                app.default_app_uninstalled_event_listener()(context=context)
                installations.forget(team)
            suspend(baton, team, UNINSTALLED)

        if team:
            baton.defer(work)

    def revoked(body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
        team = team_of(body, context)
        tokens = event.get("tokens") if isinstance(event.get("tokens"), dict) else {}

        def work() -> None:
            if installations is not None:
                app.default_tokens_revoked_event_listener()(event=event, context=context)
                installations.forget(team)
            if tokens.get("bot"):  # Baton's own token: nothing can be sent any more
                suspend(baton, team, REVOKED)

        if team:
            baton.defer(work)

    app.event("app_uninstalled")(uninstalled)
    app.event("tokens_revoked")(revoked)
