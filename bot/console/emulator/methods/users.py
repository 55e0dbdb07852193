"""users.info, users.list and the user-group methods, with users in the shape Slack returns
them (tz, tz_label and tz_offset as of now)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.console.emulator.protocol import Args, error
from bot.console.emulator.state import Workspace

# Slack reports a long-form tz_label; zoneinfo only knows abbreviations.
_TZ_LABELS = {
    "EST": "Eastern Standard Time",
    "EDT": "Eastern Daylight Time",
    "CST": "Central Standard Time",
    "CDT": "Central Daylight Time",
    "MST": "Mountain Standard Time",
    "MDT": "Mountain Daylight Time",
    "PST": "Pacific Standard Time",
    "PDT": "Pacific Daylight Time",
    "AKST": "Alaska Standard Time",
    "AKDT": "Alaska Daylight Time",
    "HST": "Hawaii-Aleutian Standard Time",
    "UTC": "Coordinated Universal Time",
    "GMT": "Greenwich Mean Time",
    "BST": "British Summer Time",
}


class UserMethods(Workspace):
    def _users_info(self, a: Args) -> dict[str, Any]:
        user = self._users.get(a.str("user") or "")
        if user is None:
            return error("user_not_found")
        try:
            obj = self._user_object(user)
        except ZoneInfoNotFoundError:
            return error("internal_error", f"unknown tz {user['tz']!r}")
        if a.bool("include_locale"):
            obj["locale"] = "en-US"
        return {"ok": True, "user": obj}

    def _users_list(self, a: Args) -> dict[str, Any]:
        members = [self._user_object(u) for u in self._users.values()]
        return {"ok": True, "members": members, "response_metadata": {"next_cursor": ""}}

    def _usergroups_list(self, a: Args) -> dict[str, Any]:
        groups = []
        for group_id, group in self._usergroups.items():
            entry: dict[str, Any] = {
                "id": group_id,
                "team_id": self.team_id,
                "is_usergroup": True,
                "name": group["handle"],
                "handle": group["handle"],
                "description": "",
                "date_delete": 0,
                "user_count": len(group["users"]),
            }
            if a.bool("include_users"):
                entry["users"] = list(group["users"])
            groups.append(entry)
        return {"ok": True, "usergroups": groups}

    def _usergroups_users_list(self, a: Args) -> dict[str, Any]:
        group = self._usergroups.get(a.str("usergroup") or "")
        if group is None:
            return error("no_such_subteam")
        return {"ok": True, "users": list(group["users"])}

    def _user_object(self, user: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(ZoneInfo(user["tz"]))
        offset = now.utcoffset()
        abbrev = now.tzname() or user["tz"]
        profile: dict[str, Any] = {
            "display_name": user["name"],
            "display_name_normalized": user["name"],
            "real_name": user["real_name"],
            "real_name_normalized": user["real_name"],
            "team": self.team_id,
        }
        if user["is_bot"]:
            profile["bot_id"] = self.bot_id
        return {
            "id": user["id"],
            "team_id": self.team_id,
            "name": user["name"],
            "deleted": False,
            "real_name": user["real_name"],
            "tz": user["tz"],
            "tz_label": _TZ_LABELS.get(abbrev, abbrev),
            "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
            "is_admin": user["is_admin"],
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": user["is_bot"],
            "is_app_user": False,
            "profile": profile,
        }
