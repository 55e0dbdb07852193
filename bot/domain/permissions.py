"""Who may do what. Roles come from the config file's [roles] table, each entry a Slack user
ID or a Slack user group ID (members looked up in Slack); pure rules here, lookups in
bot/services/permissions.py.

- staff: log records and act on their own (the records they own, logged, manage or hold the
  next action for). With no `staff` list, everyone in the workspace is staff.
- coordinator: may be named coordinator of the day; on their day they act on any record.
- manager: acts on any record, acknowledges any page, sets the coordinator rota and
  classifies systemic patterns (the accountable director).
- admin: changes ladders and roles. Admin is not a clinical role: it grants no power over
  records or pages by itself (list a person under both to give both).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bot.domain import slack_ids


class Role(StrEnum):
    STAFF = "staff"
    COORDINATOR = "coordinator"
    MANAGER = "manager"
    ADMIN = "admin"


class Act(StrEnum):
    """Things that need a role. The value completes "Only … can …"."""

    CREATE = "log a record"
    ACT_ON_RECORD = "change this record"
    ACK_PAGE = "acknowledge this page"
    SET_ROTA = "set the coordinator of the day"
    CLASSIFY = "classify a systemic pattern"
    CHANGE_LADDER = "change an escalation ladder"
    CHANGE_ROLES = "change roles"


_ID = slack_ids.ROLE_MEMBER_ID  # people and user groups
_KEYS = {"admins": Role.ADMIN, "managers": Role.MANAGER, "coordinators": Role.COORDINATOR,
         "staff": Role.STAFF}


class RolesError(ValueError):
    pass


@dataclass(frozen=True)
class RoleConfig:
    """Each role's members as configured: user IDs (U…, W…) and user group IDs (S…)."""

    members: Mapping[Role, frozenset[str]] = field(default_factory=dict)

    def of(self, role: Role) -> frozenset[str]:
        return self.members.get(role, frozenset())

    def configured(self, role: Role) -> bool:
        return bool(self.of(role))

    @property
    def groups(self) -> frozenset[str]:
        return frozenset(i for ids in self.members.values() for i in ids if i.startswith("S"))

    def users(self, role: Role) -> list[str]:
        return sorted(i for i in self.of(role) if not i.startswith("S"))

    def describe(self) -> list[str]:
        lines = []
        for key, role in _KEYS.items():
            ids = sorted(self.of(role))
            lines.append(f"{key} = {ids!r}".replace("'", '"'))
        return lines


def parse_roles(data: Mapping[str, Any], *, legacy_managers: Iterable[str] = ()) -> RoleConfig:
    """Read [roles] (and the older top-level `managers` list). RolesError names the key."""
    table = data.get("roles", {})
    if not isinstance(table, Mapping):
        raise RolesError("roles: must be a table, e.g. [roles] managers = [\"U0123ABCD\"]")
    unknown = sorted(set(table) - set(_KEYS))
    if unknown:
        raise RolesError(f"roles.{unknown[0]}: unknown role; the roles are "
                         f"{', '.join(_KEYS)}")
    members: dict[Role, frozenset[str]] = {}
    for key, role in _KEYS.items():
        raw = table.get(key, [])
        if isinstance(raw, str) or not isinstance(raw, list):
            raise RolesError(f"roles.{key}: must be a list of Slack IDs, e.g. "
                             f"{key} = [\"U0123ABCD\", \"S0456EFGH\"]")
        ids = []
        for i, value in enumerate(raw):
            text = str(value).strip()
            if not _ID.match(text):
                raise RolesError(f"roles.{key}[{i}]: “{text[:40]}” is not a Slack user ID "
                                 "(U… or W…) or user group ID (S…)")
            ids.append(text)
        members[role] = frozenset(ids)
    legacy = [str(m).strip() for m in legacy_managers if str(m).strip()]
    for i, value in enumerate(legacy):
        if not _ID.match(value):
            raise RolesError(f"managers[{i}]: “{value[:40]}” is not a Slack user ID (U… or W…) "
                             "or user group ID (S…)")
    members[Role.MANAGER] = members.get(Role.MANAGER, frozenset()) | frozenset(legacy)
    return RoleConfig(members)


@dataclass(frozen=True)
class Actor:
    """One person at one moment: their roles and whether they are coordinator today."""

    user: str
    roles: frozenset[Role]
    coordinator_today: bool = False


def allowed(act: Act, who: Actor, *, record_people: frozenset[str] = frozenset()) -> bool:
    """The rules. Page acknowledgement also admits the paged tier's target (checked where
    the ladder is known): here, only the manager's part of it."""
    roles = who.roles
    if act is Act.CREATE:
        return bool(roles & {Role.STAFF, Role.COORDINATOR, Role.MANAGER})
    if act is Act.ACT_ON_RECORD:
        return (who.user in record_people or Role.MANAGER in roles or who.coordinator_today)
    if act is Act.ACK_PAGE:
        return Role.MANAGER in roles
    if act in (Act.SET_ROTA,):
        return bool(roles & {Role.MANAGER, Role.ADMIN})
    if act is Act.CLASSIFY:
        return Role.MANAGER in roles
    if act in (Act.CHANGE_LADDER, Act.CHANGE_ROLES):
        return Role.ADMIN in roles
    raise AssertionError(f"no rule for {act}")  # a new Act without a rule is a bug


def who_may(act: Act, *, record_people: Iterable[str] = (), extra: str | None = None) -> str:
    """"Only … can …": the people and roles that may, in words (mentions for people)."""
    people = " or ".join(f"<@{u}>" for u in sorted(set(record_people)))
    if act is Act.CREATE:
        return "staff"
    if act is Act.ACT_ON_RECORD:
        base = "the record's owner, a manager or today's coordinator"
        return f"{people} (the record's people), a manager or today's coordinator" if people \
            else base
    if act is Act.ACK_PAGE:
        return f"{extra} or a manager" if extra else "the paged tier or a manager"
    if act is Act.SET_ROTA:
        return "a manager or an admin"
    if act is Act.CLASSIFY:
        return "a manager (the accountable director)"
    return "an admin"
