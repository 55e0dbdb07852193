"""bot/services/directory.py's Lookup, over Slack's Web API: users.info and
usergroups.users.list, their failures as LookupFailed."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TypeVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.services.directory import LookupFailed, Person, SlackUser

T = TypeVar("T")


def _asked(call: Callable[[], T]) -> T:
    try:
        return call()
    except (SlackClientError, OSError) as exc:
        raise LookupFailed(str(exc), answered=isinstance(exc, SlackApiError),
                           kind=type(exc).__name__) from exc


class SlackLookup:
    def __init__(self, client: WebClient) -> None:
        self._client = client

    def user(self, user_id: str) -> SlackUser:
        found = _asked(lambda: self._client.users_info(user=user_id).get("user")) or {}
        return SlackUser(tz=found.get("tz") or None,
                         admin=bool(found.get("is_admin") or found.get("is_owner")
                                    or found.get("is_primary_owner")))

    def people(self) -> list[Person]:
        """users.list, every page (users:read): the workspace's people who are not bots or
        deactivated, with their username and display name."""
        out: list[Person] = []
        cursor = ""
        for _ in range(200):  # 200 pages of 200: a bound, not a limit anyone meets
            page = _asked(partial(self._client.users_list, limit=200, cursor=cursor or None))
            for m in page.get("members") or []:
                if m.get("deleted") or m.get("is_bot") or not m.get("id"):
                    continue
                profile = m.get("profile") or {}
                out.append(Person(str(m["id"]), tuple(str(n) for n in (
                    m.get("name"), profile.get("display_name")) if n)))
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not cursor:
                break
        return out

    def group_members(self, group_id: str) -> frozenset[str]:
        return frozenset(_asked(
            lambda: self._client.usergroups_users_list(usergroup=group_id)["users"]))
