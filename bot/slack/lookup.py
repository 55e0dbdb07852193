"""bot/services/directory.py's Lookup, over Slack's Web API: users.info and
usergroups.users.list, their failures as LookupFailed."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.services.directory import LookupFailed, SlackUser

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

    def group_members(self, group_id: str) -> frozenset[str]:
        return frozenset(_asked(
            lambda: self._client.usergroups_users_list(usergroup=group_id)["users"]))
