"""The user directory and role look-ups: Slack asked once per cache age (an injected timer,
no sleeping), the last answer used while Slack can't be asked, a refusal not cached."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from bot.domain.permissions import RoleConfig
from bot.services.directory import Answers, LookupFailed, Person, SlackUser, UserDirectory
from bot.services.permissions import Permissions


class Timer:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeLookup:
    def __init__(self) -> None:
        self.users: dict[str, SlackUser] = {}
        self.groups: dict[str, frozenset[str]] = {}
        self.members: list[Person] = []
        self.asked: list[str] = []
        self.failure: LookupFailed | None = None

    def user(self, user_id: str) -> SlackUser:
        self.asked.append(user_id)
        if self.failure is not None:
            raise self.failure
        return self.users[user_id]

    def people(self) -> list[Person]:
        self.asked.append("users.list")
        if self.failure is not None:
            raise self.failure
        return list(self.members)

    def group_members(self, group_id: str) -> frozenset[str]:
        self.asked.append(group_id)
        if self.failure is not None:
            raise self.failure
        return self.groups[group_id]


def test_answers_are_fresh_for_their_ttl_and_the_last_one_is_kept() -> None:
    timer = Timer()
    answers: Answers[str, int] = Answers(ttl=60, timer=timer)
    answers.put("k", 1)
    timer.now = 59.9
    assert answers.fresh("k") == 1 and answers.fresh("k", max_age=30) is None
    timer.now = 60.0
    assert answers.fresh("k") is None and answers.last("k") == 1


def test_one_users_info_serves_the_zone_for_an_hour_and_the_admin_flag_for_a_minute() -> None:
    timer, lookup = Timer(), FakeLookup()
    lookup.users["U1"] = SlackUser(tz="America/Chicago", admin=True)
    directory = UserDirectory(lookup, default_tz="America/New_York", timer=timer)
    assert directory.tz("U1") == ZoneInfo("America/Chicago")
    assert directory.is_admin("U1") is True
    assert lookup.asked == ["U1"]
    timer.now = 61.0
    assert directory.tz("U1") == ZoneInfo("America/Chicago")
    assert lookup.asked == ["U1"]  # the zone is good for an hour
    assert directory.is_admin("U1") is True
    assert lookup.asked == ["U1", "U1"]  # the admin flag for a minute
    timer.now = 3700.0
    lookup.failure = LookupFailed("down", answered=False, kind="URLError")
    assert directory.is_admin("U1") is True  # Slack unreachable: as it last said
    with pytest.raises(LookupFailed):
        directory.tz("U1")  # unreachable is not "no zone": the caller hears of it
    lookup.failure = LookupFailed("user_not_found", answered=True, kind="SlackApiError")
    assert directory.tz("U1") == ZoneInfo("America/New_York")  # Slack said no: the default
    assert directory.is_admin("U9") is False  # never known: not an admin


def test_group_members_are_asked_once_a_minute_and_last_known_while_slack_is_down() -> None:
    timer, lookup = Timer(), FakeLookup()
    lookup.groups["S1"] = frozenset({"U1", "U2"})
    permissions = Permissions(lookup, RoleConfig({}), sessions=None,  # type: ignore[arg-type]
                              clock=None, coordinator_of=lambda **_: None,  # type: ignore[arg-type]
                              slack_admin=lambda _user: False, timer=timer)
    assert permissions.group_members("S1") == {"U1", "U2"}
    timer.now = 59.0
    assert permissions.group_members("S1") == {"U1", "U2"} and lookup.asked == ["S1"]
    timer.now = 60.0
    lookup.groups["S1"] = frozenset({"U3"})
    assert permissions.group_members("S1") == {"U3"} and lookup.asked == ["S1", "S1"]
    timer.now = 500.0
    lookup.failure = LookupFailed("down", answered=False, kind="URLError")
    assert permissions.group_members("S1") == {"U3"}  # the last known answer
    assert permissions.group_members("S404") == frozenset()  # never known: nobody
