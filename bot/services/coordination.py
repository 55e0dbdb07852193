"""Coordinator of the day, the huddle roster and the morning digest.

The rota lives in the database (rows only added, so who was coordinator on any day stays
auditable); the ladder's "coordinator" target resolves through RotaCoordinator. The digest and
the "no coordinator today" notice are claimed in the notices table before they are sent, so
several replicas send each once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.domain.permissions import Act, Role
from bot.domain.quoting import mention
from bot.domain.records import OPEN_STATUSES, DomainError, is_open
from bot.domain.roster import Row, flags_for, sort_rows
from bot.domain.rota import Assignment, coordinator_on
from bot.domain.schedule import is_late
from bot.domain.times import WorkingCalendar
from bot.services.delivery import Delivery, Undelivered
from bot.services.guard import Findings
from bot.services.permissions import Permissions
from bot.services.records import (
    Change,
    Happened,
    NotFound,
    RecordService,
    ThreadEvent,
    audit_overrides,
)
from store import queries
from store import trackers as tq
from store.db import transaction
from store.models import CoordinatorAssignment, Record

log = logging.getLogger("baton.coordination")

NOTICE_RETRY = timedelta(minutes=5)  # an unsent claim older than this is tried again
ROSTER_LIMIT = 200


def _assignment(row: CoordinatorAssignment) -> Assignment:
    return Assignment(user_id=row.user_id, kind=row.kind, set_at=row.set_at,
                      weekday=row.weekday, date_from=row.date_from, date_to=row.date_to)


class RotaCoordinator:
    """The coordinator of the day from the rota; the configured one when it names nobody.
    "Today" is the agency's day (default_timezone), the same for everyone in the team."""

    def __init__(self, sessions: sessionmaker[Session], *, tz: ZoneInfo,
                 fallback: str | None = None) -> None:
        self._sessions = sessions
        self.tz = tz
        self.fallback = fallback

    def coordinator(self, *, team_id: str, when: datetime) -> str | None:
        chosen = self.assignment(team_id=team_id, day=when.astimezone(self.tz).date())
        return chosen.user_id if chosen is not None else self.fallback

    def assignment(self, *, team_id: str, day: date) -> Assignment | None:
        with self._sessions() as s:
            rows = [_assignment(r) for r in queries.assignments(s, team_id=team_id)]
        return coordinator_on(day, rows)


@dataclass(frozen=True)
class HuddleRows:
    rows: list[Row]
    total: int  # open records before the limit
    # Open steps of open trackers, overdue or due by the end of today, soonest first. Kept
    # apart from the rows: a step is no handoff or dependency (no partner, no next action).
    steps: list[Record] = field(default_factory=list)


@dataclass(frozen=True)
class RotaSet:
    """Who was just named coordinator of the day, and when: one `day`, a cover from `day`
    to `until`, or every one of `weekdays` (0 is Monday)."""

    user_id: str
    day: date | None = None
    until: date | None = None
    weekdays: tuple[int, ...] = ()


@dataclass(frozen=True)
class RotaDay:
    """One day of the rota as Coordination.describe tells it."""

    day: date
    assignment: Assignment | None  # the rota's choice, if it names anyone
    fallback: str | None  # the configured coordinator, when the rota names nobody
    working: bool  # a working day
    today: bool


class Coordination:
    """`delivery` sends what a person asked for (the huddle, the App Home), `engine_delivery`
    what the sweep sends by itself (the digest, the "no coordinator" notice), which is tried
    again on the next sweep rather than retried on the spot."""

    def __init__(self, *, sessions: sessionmaker[Session], clock: Clock, delivery: Delivery,
                 engine_delivery: Delivery, records: RecordService, roster: RotaCoordinator,
                 calendar: WorkingCalendar, digest_time: time,
                 permissions: Permissions | None = None,
                 coordination_channel: Callable[[str], str | None] | None = None) -> None:
        self._sessions = sessions
        self._clock = clock
        self._delivery = delivery
        self._engine_delivery = engine_delivery
        self._records = records
        self._permissions = permissions  # None: anyone may set the rota
        self.roster = roster
        self._calendar = calendar
        self._digest_time = digest_time
        self._channel = coordination_channel or (lambda _team: None)  # per workspace

    # --- the rota ---

    def set_day(self, *, team_id: str, actor: str, user_id: str, day: date) -> RotaSet:
        self.require_rota_change(team_id=team_id, actor=actor, user_id=user_id)
        self._assign(team_id=team_id, actor=actor, user_id=user_id, kind="date", date_from=day)
        return RotaSet(user_id, day=day)

    def set_weekly(self, *, team_id: str, actor: str, user_id: str,
                   days: list[int]) -> RotaSet:
        self.require_rota_change(team_id=team_id, actor=actor, user_id=user_id)
        for d in days:
            self._assign(team_id=team_id, actor=actor, user_id=user_id, kind="weekday",
                         weekday=d)
        return RotaSet(user_id, weekdays=tuple(days))

    def set_cover(self, *, team_id: str, actor: str, user_id: str, start: date,
                  end: date) -> RotaSet:
        self.require_rota_change(team_id=team_id, actor=actor, user_id=user_id)
        today = self._today()
        if end < start:
            raise DomainError(f"The cover ends ({end:%a %d %b}) before it starts "
                              f"({start:%a %d %b}).")
        if end < today:
            raise DomainError(f"That cover is wholly in the past (it ended {end:%a %d %b}).")
        if (end - start).days > 366:
            raise DomainError("Cover is for an absence: give at most a year.")
        self._assign(team_id=team_id, actor=actor, user_id=user_id, kind="cover",
                     date_from=start, date_to=end)
        return RotaSet(user_id, day=start, until=end)

    def require_rota_change(self, *, team_id: str, actor: str, user_id: str) -> None:
        """Managers and admins set the rota (refused, and audited, for anyone else); with a
        coordinators list, only those on it (or managers) can be named."""
        if self._permissions is None:
            return
        self._permissions.require(Act.SET_ROTA, team_id=team_id, actor=actor)
        roles = self._permissions.roles
        if roles.configured(Role.COORDINATOR):
            theirs = self._permissions.roles_of(user_id)
            if not theirs & {Role.COORDINATOR, Role.MANAGER}:
                raise DomainError(f"{mention(user_id)} is not on the coordinators list, so "
                                  "can't be coordinator of the day. Nothing was changed.")

    def _assign(self, *, team_id: str, actor: str, user_id: str, kind: str,
                weekday: int | None = None, date_from: date | None = None,
                date_to: date | None = None) -> None:
        now = self._clock.now()
        with transaction(self._sessions) as s:
            queries.add_assignment(s, team_id=team_id, user_id=user_id, kind=kind,
                                   weekday=weekday, date_from=date_from, date_to=date_to,
                                   set_by=actor, set_at=now)
            queries.add_event(s, record=None, team_id=team_id, at=now, actor=actor,
                              kind="coordinator_set", field=kind, after={
                                  "user": user_id, "weekday": weekday,
                                  "from": date_from.isoformat() if date_from else None,
                                  "to": date_to.isoformat() if date_to else None})

    def describe(self, *, team_id: str) -> list[RotaDay]:
        """Who it is today, and the next seven days."""
        today = self._today()
        days = []
        for offset in range(8):
            day = today + timedelta(days=offset)
            days.append(RotaDay(day=day, assignment=self.roster.assignment(team_id=team_id,
                                                                            day=day),
                                fallback=self.roster.fallback,
                                working=self._calendar.is_working_day(day), today=offset == 0))
        return days

    def _today(self) -> date:
        return self._clock.now().astimezone(self.roster.tz).date()

    # --- the roster ---

    def roster_rows(self, *, team_id: str, channel_id: str | None = None,
                    user_id: str | None = None, limit: int = ROSTER_LIMIT) -> HuddleRows:
        now = self._clock.now()
        local = now.astimezone(self.roster.tz)
        day_end = datetime.combine(local.date(), self._calendar.end_of_day,
                                   tzinfo=self.roster.tz)
        with self._sessions() as s:
            records = queries.open_records(s, team_id=team_id, statuses=sorted(OPEN_STATUSES),
                                           channel_id=channel_id, limit=limit)
            if user_id is not None:
                records = [r for r in records
                           if user_id in (r.owner_id, r.manager_id, r.next_action_owner)]
            unacked = queries.unacknowledged_pages(s, record_ids=[r.id for r in records])
            # "Due today" for a step is by the end of the agency's day, midnight.
            tomorrow = datetime.combine(local.date() + timedelta(days=1), time(),
                                        tzinfo=self.roster.tz)
            steps = tq.steps_due(s, team_id=team_id, before=tomorrow, channel_id=channel_id,
                                 user_id=user_id)
        rows = [Row(r, flags_for(r, now=now, day_end=day_end,
                                 unacknowledged_page=r.id in unacked)) for r in records]
        return HuddleRows(sort_rows(rows), total=len(records), steps=steps)

    def assign_next_action(self, *, team_id: str, record_id: int, actor: str, owner: str,
                           action: str, due: datetime,
                           overrides: Findings | None = None) -> Change:
        action = " ".join(action.split())
        if not action:
            raise DomainError("Say what the next action is.", field="text")
        if len(action) > 500:
            raise DomainError("Keep the next action under 500 characters.", field="text")
        self._records.require_on_record(team_id=team_id, ref=record_id, actor=actor)
        now = self._clock.now()
        with transaction(self._sessions) as s:
            record = queries.get_record(s, team_id=team_id, record_id=record_id)
            if record is None:
                raise NotFound("That record no longer exists.")
            if not is_open(record.status):
                raise DomainError(f"{record.reference} is {record.status}: it needs no next "
                                  "action.", field="text")
            before = {"owner": record.next_action_owner, "action": record.next_action,
                      "due": record.next_action_due.isoformat()
                      if record.next_action_due else None}
            record.next_action, record.next_action_owner = action, owner
            record.next_action_due, record.next_action_set_at = due, now
            record.next_action_set_by, record.updated_at = actor, now
            queries.add_event(s, record=record, team_id=team_id, at=now, actor=actor,
                              kind="next_action_assigned", field="next_action",
                              before=before, after={"owner": owner, "action": action,
                                                    "due": due.isoformat()})
            if overrides:
                audit_overrides(s, record=record, actor=actor, at=now, found=overrides)
        return Change(record, ThreadEvent(Happened.NEXT_ACTION, actor, text=action, owner=owner,
                                          due=due))

    def note(self, *, team_id: str, actor: str, kind: str, field: str | None = None,
             after: Any = None) -> None:
        """A workspace-level audit event (no record): a report uploaded, and the like."""
        with transaction(self._sessions) as s:
            queries.add_event(s, record=None, team_id=team_id, at=self._clock.now(),
                              actor=actor, kind=kind, field=field, after=after)

    # --- the huddle and the App Home ---

    def post_huddle(self, *, team_id: str, channel_id: str, actor: str) -> int:
        """Post the channel's roster, with its tracker steps overdue or due today; the huddle
        itself goes in the audit trail (seed 004: "huddle logs, attendance, actions
        closed"). Returns how many records and steps it holds."""
        roster = self.roster_rows(team_id=team_id, channel_id=channel_id)
        now = self._clock.now()
        ts = self._delivery.post_huddle(channel_id=channel_id, rows=roster.rows,
                                        total=roster.total, now=now, steps=roster.steps)
        with transaction(self._sessions) as s:
            queries.add_event(s, record=None, team_id=team_id, at=now, actor=actor,
                              kind="huddle_posted", after={
                                  "channel": channel_id, "ts": ts,
                                  "records": [r.record.reference for r in roster.rows],
                                  "steps": [st.reference for st in roster.steps]})
        return roster.total + len(roster.steps)

    def refresh_huddle(self, *, team_id: str, channel: str, ts: str) -> None:
        roster = self.roster_rows(team_id=team_id, channel_id=channel)
        self._delivery.update_huddle(channel_id=channel, ts=ts, rows=roster.rows,
                                     total=roster.total, now=self._clock.now(),
                                     steps=roster.steps)

    def publish_home(self, *, team_id: str, user_id: str) -> None:
        team = self.roster_rows(team_id=team_id)
        mine = [r for r in team.rows
                if user_id in (r.record.owner_id, r.record.manager_id,
                               r.record.next_action_owner)]
        now = self._clock.now()
        self._delivery.publish_home(
            user_id=user_id, mine=mine, team=team.rows, team_total=team.total,
            coordinator=self.roster.coordinator(team_id=team_id, when=now), now=now,
            my_steps=[st for st in team.steps if st.owner_id == user_id],
            team_steps=team.steps)

    # --- the morning digest (the engine calls tick on every sweep) ---

    def tick(self, *, teams: list[str] | None = None) -> int:
        """Send today's digest (or the "no coordinator" notice) once the digest time has
        passed on a working day. Returns how many messages went out."""
        now = self._clock.now()
        local = now.astimezone(self.roster.tz)
        if not self._calendar.is_working_day(local.date()) or local.time() < self._digest_time:
            return 0
        if teams is None:
            with self._sessions() as s:
                teams = queries.known_teams(s)
        sent = 0
        for team in teams:
            try:
                sent += self._digest_for(team, local.date())
            except Exception:
                log.exception("morning digest for %s failed; it will be tried again", team)
        return sent

    def _digest_for(self, team_id: str, day: date) -> int:
        now = self._clock.now()
        key = day.isoformat()
        coordinator = self.roster.coordinator(team_id=team_id, when=now)
        kind = "digest" if coordinator else "no_coordinator"
        with transaction(self._sessions) as s:
            if not queries.claim_notice(s, team_id=team_id, kind=kind, key=key, now=now,
                                        retry_after=NOTICE_RETRY):
                return 0
        channel: str | None
        ts: str | None
        try:
            if coordinator:
                channel, ts = self._send_digest(team_id, coordinator, day)
            else:
                channel, ts = self._send_no_coordinator(team_id, day)
        except Undelivered:
            with transaction(self._sessions) as s:
                queries.release_notice(s, team_id=team_id, kind=kind, key=key)
            raise
        with transaction(self._sessions) as s:
            queries.notice_sent(s, team_id=team_id, kind=kind, key=key, now=now,
                                channel_id=channel, message_ts=ts)
            queries.add_event(s, record=None, team_id=team_id, at=now, actor="baton",
                              kind=f"{kind}_sent", note=f"{day.isoformat()}"
                              + (f", to {mention(coordinator)}" if coordinator else ""))
        return 1

    def digest_rows(self, *, team_id: str) -> HuddleRows:
        """The digest's rows: every open record with a risk flag, highest risk first; and
        every tracker step overdue or due today."""
        roster = self.roster_rows(team_id=team_id)
        flagged = [r for r in roster.rows if r.flags]
        return HuddleRows(flagged, total=len(flagged), steps=roster.steps)

    def _send_digest(self, team_id: str, coordinator: str, day: date) -> tuple[str, str]:
        now = self._clock.now()
        due = datetime.combine(day, self._digest_time, tzinfo=self.roster.tz)
        digest = self.digest_rows(team_id=team_id)
        return self._engine_delivery.post_digest(
            team_id=team_id, coordinator=coordinator, rows=digest.rows, day=day, now=now,
            late=is_late(due, now), steps=digest.steps)

    def next_digest_at(self, after: datetime) -> datetime:
        """The first digest time strictly after `after`: the digest time of a working day
        (the console steps its clock to it, so the digest comes at its own time)."""
        local = after.astimezone(self.roster.tz)
        day = local.date()
        for _ in range(400):  # a year of holidays at most
            at = datetime.combine(day, self._digest_time, tzinfo=self.roster.tz)
            if self._calendar.is_working_day(day) and at > after:
                return at.astimezone(UTC)
            day += timedelta(days=1)
        raise ValueError("no working day within a year: check the holidays")

    def _send_no_coordinator(self, team_id: str, day: date) -> tuple[str | None, str | None]:
        named = self._channel(team_id)
        if named:
            channels = [named]
        else:
            with self._sessions() as s:
                channels = queries.open_channels(s, team_id=team_id,
                                                 statuses=sorted(OPEN_STATUSES))
        first: tuple[str | None, str | None] = (None, None)
        for channel in channels:
            sent = self._engine_delivery.post_no_coordinator(team_id=team_id, channel_id=channel,
                                                            day=day)
            if first[0] is None:
                first = sent
        return first
