"""Roles resolved against Slack, and refusals: a refused action is told who may do it,
leaves an audit event, and changes nothing.

Roles come from the config file's [roles] (user IDs and user group IDs; a group's members
are looked up with usergroups.users.list, through bot/services/directory.py's Lookup, and
cached for a minute). Until the file names any
admin, the workspace's Slack admins and owners are Baton's admins; until it names any
manager, they are its managers too, so a fresh install is never locked out and never open
to all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.domain.permissions import Act, Actor, Role, RoleConfig, allowed, who_may
from bot.domain.records import DomainError
from bot.services.directory import Answers, Lookup, LookupFailed
from store import queries
from store.db import transaction
from store.models import Record

log = logging.getLogger("baton.permissions")


class Refused(DomainError):
    """An action the actor's roles do not allow. Already written to the audit trail."""

    def __init__(self, message: str, *, act: Act, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.act = act


def record_people(record: Record) -> frozenset[str]:
    """Whose record it is: its owner, who logged it, its management owner and whoever holds
    its next action. A tracker's step is its owner's alone (with managers and today's
    coordinator, by role)."""
    if record.kind == "step":
        return frozenset({record.owner_id})
    people = {record.owner_id, record.created_by, record.manager_id, record.next_action_owner}
    return frozenset(p for p in people if p)


class CoordinatorOf(Protocol):
    """Who is coordinator of the day in a workspace at a moment (RotaCoordinator.coordinator)."""

    def __call__(self, *, team_id: str, when: datetime) -> str | None: ...


class Permissions:
    def __init__(self, lookup: Lookup, roles: RoleConfig, *, sessions: sessionmaker[Session],
                 clock: Clock, coordinator_of: CoordinatorOf,
                 slack_admin: Callable[[str], bool], ttl: float = 60.0,
                 timer: Callable[[], float] = time.monotonic) -> None:
        self._lookup = lookup
        self.roles = roles
        self._sessions = sessions
        self._clock = clock
        self._coordinator_of = coordinator_of
        self.slack_admin = slack_admin  # a workspace admin or owner (users.info, cached)
        self._groups: Answers[str, frozenset[str]] = Answers(ttl=ttl, timer=timer)

    # --- lookups, cached ---

    def group_members(self, group_id: str) -> frozenset[str]:
        """A user group's members, as Slack said within the ttl (else, when Slack can't be
        asked, as it last said; nobody when it never has)."""
        hit = self._groups.fresh(group_id)
        if hit is not None:
            return hit
        try:
            members = self._lookup.group_members(group_id)
        except LookupFailed as exc:
            log.warning("role lookup %s failed (%s); using the last known answer", "group",
                        exc.kind)
            return self._groups.last(group_id) or frozenset()
        self._groups.put(group_id, members)
        return members

    def _in(self, user: str, ids: Iterable[str]) -> bool:
        return any(i == user or (i.startswith("S") and user in self.group_members(i))
                   for i in ids)

    def roles_of(self, user: str) -> frozenset[Role]:
        cfg = self.roles
        out: set[Role] = set()
        for role in Role:
            if self._in(user, cfg.of(role)):
                out.add(role)
        if not cfg.configured(Role.STAFF):
            out.add(Role.STAFF)  # no staff list: everyone in the workspace is staff
        fallback = {r for r in (Role.ADMIN, Role.MANAGER) if not cfg.configured(r)}
        if fallback and self.slack_admin(user):
            out |= fallback
        return frozenset(out)

    def actor(self, *, team_id: str, user: str, now: datetime | None = None) -> Actor:
        when = now or self._clock.now()
        return Actor(user=user, roles=self.roles_of(user),
                     coordinator_today=self._coordinator_of(team_id=team_id, when=when) == user)

    def is_manager(self, user: str) -> bool:
        return Role.MANAGER in self.roles_of(user)

    # --- deciding ---

    def require(self, act: Act, *, team_id: str, actor: str, record: Record | None = None,
                channel_id: str | None = None, extra: str | None = None,
                field: str | None = None) -> None:
        """Raise Refused (after writing the refusal to the audit trail) unless allowed.
        Call it outside any write transaction: the refusal is its own transaction."""
        if act is Act.CREATE and not self.roles.configured(Role.STAFF):
            return  # everyone is staff: no lookups on the busiest path
        people = record_people(record) if record is not None else frozenset()
        if act is Act.ACT_ON_RECORD and actor in people:
            return  # their own record: no role lookups (a form's answer is due in 3 s)
        who = self.actor(team_id=team_id, user=actor)
        if allowed(act, who, record_people=people):
            return
        self.refuse(act, team_id=team_id, actor=actor, record=record, channel_id=channel_id,
                    who=who_may(act, record_people=people, extra=extra), field=field)

    def refuse(self, act: Act, *, team_id: str, actor: str, who: str,
               record: Record | None = None,
               channel_id: str | None = None, what: str | None = None,
               field: str | None = None) -> None:
        """Write the refusal to the audit trail and raise Refused saying who may."""
        doing = what or act.value
        ref = f"{record.reference}: " if record is not None else ""
        message = f"{ref}Only {who} can {doing}. Nothing was changed."
        with transaction(self._sessions) as s:
            queries.add_event(s, record=record, team_id=team_id, at=self._clock.now(),
                              actor=actor, kind="refused", field=act.name.lower(),
                              after={"channel": channel_id} if channel_id else None,
                              note=f"only {who} can {doing}")
        raise Refused(message, act=act, field=field)
