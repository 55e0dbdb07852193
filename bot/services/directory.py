"""Slack's people, as Baton asks after them: a user's own time zone (so deadlines are read as
they meant) and whether they are a workspace admin (for roles), from users.info; a user
group's members (usergroups.users.list, for Permissions). Answers are cached for a while,
and the last one is kept for when Slack can't be asked.

Services reach Slack's look-ups only through the Lookup protocol, which bot/slack/lookup.py
implements over a WebClient.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar
from zoneinfo import ZoneInfo

from cachetools import LRUCache, TTLCache

log = logging.getLogger("baton")

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

MAX_KEPT = 10_000  # users (or groups) remembered per process


@dataclass(frozen=True)
class SlackUser:
    """What users.info says of a user that Baton uses."""

    tz: str | None = None  # an IANA zone name, as the user set it in Slack
    admin: bool = False  # a workspace admin or owner


@dataclass(frozen=True)
class Person:
    """One of users.list's members: the ID and the names an "@name" typed as text may mean
    (the username and the display name)."""

    user_id: str
    names: tuple[str, ...]


class LookupFailed(Exception):
    """Slack could not answer a look-up. `answered`: Slack answered, with an error (no such
    user, a missing scope); else it could not be reached. `kind` names the failure (the
    Slack client's exception type); str() is its message."""

    def __init__(self, message: str, *, answered: bool, kind: str) -> None:
        super().__init__(message)
        self.answered = answered
        self.kind = kind


class Lookup(Protocol):
    """Slack's look-ups. Both raise LookupFailed when Slack can't say."""

    def user(self, user_id: str) -> SlackUser: ...

    def group_members(self, group_id: str) -> frozenset[str]: ...

    def people(self) -> list[Person]: ...


class Answers(Generic[K, V]):
    """Look-up answers: fresh for `ttl` seconds of `timer` (cachetools.TTLCache), and the
    last answer for each key (an LRU cache) for when Slack can't be asked. Thread-safe."""

    def __init__(self, *, ttl: float, timer: Callable[[], float] = time.monotonic,
                 maxsize: int = MAX_KEPT) -> None:
        self._timer = timer
        self._fresh: TTLCache[K, tuple[float, V]] = TTLCache(maxsize, ttl, timer=timer)
        self._last: LRUCache[K, V] = LRUCache(maxsize)
        self._lock = threading.Lock()

    def fresh(self, key: K, max_age: float | None = None) -> V | None:
        """The answer if younger than the cache's ttl (and than `max_age`, when given)."""
        with self._lock:
            hit = self._fresh.get(key)
            now = self._timer()
        if hit is None or (max_age is not None and now - hit[0] >= max_age):
            return None
        return hit[1]

    def last(self, key: K) -> V | None:
        """The last answer, however old."""
        with self._lock:
            return self._last.get(key)

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._fresh[key] = (self._timer(), value)
            self._last[key] = value


class UserDirectory:
    """Slack users as users.info describes them, cached: their own time zones, so deadlines
    are read as they meant, and whether they are workspace admins (for roles). One users.info
    answer serves both."""

    def __init__(self, lookup: Lookup, *, default_tz: str, ttl: float = 3600.0,
                 timer: Callable[[], float] = time.monotonic) -> None:
        self._lookup = lookup
        self._default = ZoneInfo(default_tz)
        self._users: Answers[str, SlackUser] = Answers(ttl=ttl, timer=timer)
        self._people: Answers[str, tuple[Person, ...]] = Answers(ttl=min(ttl, 300.0),
                                                                 timer=timer)

    def _user(self, user_id: str, max_age: float | None = None) -> SlackUser:
        """users.info's user, asked again once the cached copy is older than `max_age` (at
        most the ttl). Raises LookupFailed; a failure is not cached."""
        hit = self._users.fresh(user_id, max_age)
        if hit is not None:
            return hit
        user = self._lookup.user(user_id)
        self._users.put(user_id, user)
        return user

    def by_handle(self, handle: str) -> str | None:
        """The user an "@name" typed as plain text means: the one member whose username or
        display name it is (any case), from users.list (cached for the ttl); None when no
        one or several go by it, or Slack can't be asked."""
        name = handle.strip().removeprefix("@").casefold()
        if not name:
            return None
        people = self._people.fresh("all")
        if people is None:
            try:
                people = tuple(self._lookup.people())
            except LookupFailed as exc:
                log.warning("users.list failed (%s); @%s left unresolved", exc.kind, name)
                people = self._people.last("all") or ()
            else:
                self._people.put("all", people)
        found = {p.user_id for p in people if name in (n.casefold() for n in p.names if n)}
        return found.pop() if len(found) == 1 else None

    def tz(self, user_id: str) -> ZoneInfo:
        try:
            name = self._user(user_id).tz
            return ZoneInfo(name) if name else self._default
        except LookupFailed as exc:
            if not exc.answered:
                raise  # Slack unreachable: as the call itself would have raised
            log.warning("users.info failed for %s (%s); using %s", user_id, exc, self._default)
            return self._default
        except (ValueError, KeyError) as exc:  # a zone this machine does not know
            log.warning("users.info failed for %s (%s); using %s", user_id, exc, self._default)
            return self._default

    def is_admin(self, user_id: str, *, max_age: float = 60.0) -> bool:
        """A workspace admin or owner, as Slack said at most `max_age` seconds ago (else,
        when Slack can't be asked, as it last said)."""
        try:
            user = self._user(user_id, max_age)
        except LookupFailed as exc:
            log.warning("users.info %s failed (%s); using the last known answer", user_id,
                        exc.kind)
            user = self._users.last(user_id) or SlackUser()
        return user.admin
