"""api.test and auth.test: which workspace and bot a token acts as."""

from __future__ import annotations

from typing import Any

from bot.console.emulator.oauth import Tokens
from bot.console.emulator.protocol import Args
from bot.console.emulator.state import EMULATED_HOST


class AuthMethods(Tokens):
    def _api_test(self, a: Args) -> dict[str, Any]:
        return {"ok": True, "args": {k: v for k, v in a.params.items() if k != "token"}}

    def _auth_test(self, a: Args) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"{EMULATED_HOST}/",
            "team": "Baton Emulated",
            "user": self._users[self.bot_user_id]["name"],
            "team_id": self._installed.get(self._presented, self.team_id),
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }
