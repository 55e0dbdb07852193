"""Who may call the emulator: the bot token it was started with, the bot tokens Slack's
OAuth install flow hands out (grant, then oauth.v2.access exchanges the code), and tokens
revoked since (token_revoked, account_inactive).
"""

from __future__ import annotations

import base64
from typing import Any

from bot.console.emulator.protocol import Headers, error, presented_token
from bot.console.emulator.state import Workspace


class Tokens(Workspace):
    """The tokens that work, and the install flow that hands them out."""

    def __init__(self, *, token: str | None = None, **workspace: Any) -> None:
        super().__init__(**workspace)
        self.token = token
        self._grants: dict[str, dict[str, Any]] = {}  # OAuth codes not yet exchanged
        self._installed: dict[str, str] = {}  # bot token -> team, from oauth.v2.access
        self._presented: Any = None  # the token of the call being answered
        self._revoked: dict[str, str] = {}  # token -> token_revoked | account_inactive

    def revoke_token(self, token: str | None = None, *, error: str = "token_revoked") -> None:
        """The token stops working: ``token_revoked`` (uninstalled, revoked) or
        ``account_inactive`` (the workspace or bot user was deactivated). None: every
        token, including those the install flow handed out."""
        if error not in ("token_revoked", "account_inactive", "invalid_auth"):
            raise ValueError(error)
        with self._cond:
            targets = [token] if token is not None else [self.token or "", *self._installed]
            for t in targets:
                self._revoked[t] = error

    def restore_token(self, token: str | None = None) -> None:
        with self._cond:
            if token is None:
                self._revoked.clear()
            else:
                self._revoked.pop(token, None)

    def _token_ok(self, headers: Headers, params: dict[str, Any]) -> bool:
        presented = presented_token(headers, params)
        if presented in self._installed:
            return True  # a token the install flow handed out (see grant)
        if self.token is None:
            return not self._installed or presented in (None, "")
        return bool(presented == self.token)

    # --- Slack's OAuth install flow: oauth.v2.access exchanges a granted code ---

    def grant(self, code: str, *, team_id: str, team_name: str, bot_token: str,
              installer: str, bot_user_id: str = "UBATONBOT", scope: str = "") -> None:
        """What Slack would hand back for `code` once a workspace admin approved the
        install; calls carrying `bot_token` then act in `team_id` (auth.test says so)."""
        with self._cond:
            self._grants[code] = {"team_id": team_id, "team_name": team_name,
                                  "bot_token": bot_token, "installer": installer,
                                  "bot_user_id": bot_user_id, "scope": scope}

    def _oauth_v2_access(self, headers: Headers, params: dict[str, Any]) -> dict[str, Any]:
        client_id, secret = params.get("client_id"), params.get("client_secret")
        auth = headers.get("authorization") or ""
        if auth.lower().startswith("basic "):
            try:
                client_id, _, secret = base64.b64decode(auth[6:].strip()).decode().partition(":")
            except ValueError:
                return error("invalid_client_id")
        if not client_id or not secret:
            return error("invalid_client_id")
        grant = self._grants.pop(str(params.get("code", "")), None)
        if grant is None:
            return error("invalid_code")
        self._installed[grant["bot_token"]] = grant["team_id"]
        return {
            "ok": True, "app_id": "A0BATON", "access_token": grant["bot_token"],
            "token_type": "bot", "scope": grant["scope"] or "chat:write,commands",
            "bot_user_id": grant["bot_user_id"],
            "team": {"id": grant["team_id"], "name": grant["team_name"]},
            "enterprise": None, "is_enterprise_install": False,
            "authed_user": {"id": grant["installer"]},
        }
