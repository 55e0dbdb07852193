"""What the handlers need, assembled once: services, the Slack client, the clock, a
directory of users' time zones, and the worker pool that does the slow part of a request
after Slack has had its answer (bot/web/workers.py; the requests it saves first are
bot/web/inbox.py's)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.domain.drafts import DraftContext, build_dependency, build_handoff
from bot.domain.edits import build_edits, changed_in_form, read_edit
from bot.domain.grammar import with_mentions
from bot.domain.permissions import Act, Role
from bot.domain.records import Action, RecordKind
from bot.domain.times import WorkingCalendar
from bot.services.coordination import Coordination, RotaCoordinator
from bot.services.directory import UserDirectory
from bot.services.escalation import Authority, CoordinatorOfTheDay, EscalationService
from bot.services.guard import CHOICES, Guard
from bot.services.partner_trends import Governance
from bot.services.permissions import Permissions
from bot.services.records import Change, RecordService
from bot.services.trackers import TrackerService
from bot.settings import Settings
from bot.slack.clients import team_scope
from bot.slack.delivery import SlackDelivery
from bot.slack.lookup import SlackLookup
from bot.web.inbox import Inbox, Redo, saved_keys
from bot.web.workers import Workers
from scheduler.engine import Engine, Pacer, worker_is_dead
from store import queries

log = logging.getLogger("baton")

TRENDS_EVERY = timedelta(minutes=5)


@dataclass
class Baton:
    settings: Settings
    client: WebClient
    sessions: sessionmaker[Session]
    clock: Clock
    engine_client: WebClient
    roster: CoordinatorOfTheDay
    workers: Workers  # the pool deferred work runs on (bot/web/workers.py)
    redo: Redo | None = None  # how saved requests are redone here (bot/web/inbox.py)
    records: RecordService = field(init=False)
    escalation: EscalationService = field(init=False)
    engine: Engine = field(init=False)
    rota: RotaCoordinator = field(init=False)
    coordination: Coordination = field(init=False)
    governance: Governance = field(init=False)
    inbox: Inbox = field(init=False)
    permissions: Permissions = field(init=False)
    trackers: TrackerService = field(init=False)
    guard: Guard = field(init=False)
    directory: UserDirectory = field(init=False)
    calendar: WorkingCalendar = field(init=False)
    _waker: Any = field(init=False, default=None)
    _trends_at: datetime | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.rota = (self.roster if isinstance(self.roster, RotaCoordinator) else
                     RotaCoordinator(self.sessions, tz=ZoneInfo(self.settings.default_timezone),
                                fallback=self.settings.coordinator))
        roles = self.settings.roles
        lookup = SlackLookup(self.client)
        self.directory = UserDirectory(lookup, default_tz=self.settings.default_timezone)
        self.permissions = Permissions(lookup, roles, sessions=self.sessions,
                                       clock=self.clock, coordinator_of=self.rota.coordinator,
                                       slack_admin=self.directory.is_admin)
        self.records = RecordService(self.sessions, self.clock, self.settings.ladders,
                                     permissions=self.permissions)
        self.trackers = TrackerService(self.sessions, self.clock, self.settings.templates,
                                       self.settings.ladders, permissions=self.permissions)
        self.guard = Guard(self.sessions)
        authority = Authority(self.roster, sorted(roles.of(Role.MANAGER)),
                              is_manager=self.permissions.is_manager,
                              group_members=self.permissions.group_members)
        self.escalation = EscalationService(
            sessions=self.sessions, clock=self.clock, delivery=SlackDelivery(self.client),
            authority=authority, records=self.records, permissions=self.permissions)
        self.engine = Engine(sessions=self.sessions, client=self.engine_client, clock=self.clock,
                             authority=authority, records=self.records,
                             trackers=self.trackers,
                             refresh_page=lambda channel, ts: self.escalation.refresh_page(
                                 channel=channel, ts=ts),
                             pacer=Pacer(self.settings.channel_post_interval),
                             coordination_channel=lambda team: self.settings.channel_for(
                                 team, "coordination_channel"),
                             # One token: a restart is how a new one arrives.
                             resume_at_start=not self.settings.oauth)
        self.calendar = WorkingCalendar(
            end_of_day=self.settings.end_of_day, holidays=frozenset(self.settings.holidays)
        )
        self.inbox = Inbox(self.sessions, self.clock, worker=self.engine.worker,
                           is_dead=worker_is_dead, workers=self.workers,
                           keys=saved_keys(self.settings), redo=self.redo)
        # What a person asks for goes out on the client that retries; what the sweep sends
        # by itself, on the engine's (the next sweep tries again).
        asked, swept = SlackDelivery(self.client), SlackDelivery(self.engine_client)
        self.governance = Governance(self.sessions, self.clock, swept, self.settings,
                                     permissions=self.permissions)
        self.coordination = Coordination(
            sessions=self.sessions, clock=self.clock, delivery=asked, engine_delivery=swept,
            records=self.records, roster=self.rota, calendar=self.calendar,
            digest_time=self.settings.digest_time, permissions=self.permissions,
            coordination_channel=lambda team: self.settings.channel_for(
                team, "coordination_channel"))

    def start_engine(self) -> None:
        """Start waking the time engine (serve, socket and console do; tests sweep by hand)."""
        from scheduler.wake import Waker

        self._waker = Waker(self.engine, self.clock, interval=self.settings.sweep_seconds,
                            housekeeping=self.housekeeping)
        self._waker.start()

    def housekeeping(self) -> None:
        """After each sweep: requests that a dead process answered but never finished, the
        coordinator's morning digest (once a working day) and the partner-trend check."""
        try:
            self.inbox.recover()
        except Exception:
            log.exception("could not look for unfinished requests; trying again next sweep")
        self.coordination.tick()
        now = self.clock.now()
        if self._trends_at is not None and now - self._trends_at < TRENDS_EVERY:
            return  # the partner-trend check reads a window of records: not every wake
        self._trends_at = now
        with self.sessions() as s:
            teams = queries.known_teams(s)
        for team in teams:
            with team_scope(team):
                self.governance.sweep(team)

    # --- the worker pool (bot/web/workers.py) and the inbox (bot/web/inbox.py) ---

    def overloaded(self) -> bool:
        return self.workers.overloaded()

    def sweep_now(self, timeout: float = 30.0, *, trends: bool = False) -> bool:
        """Sweep (and do the housekeeping) at once and wait for it: the console's `clock`.
        `trends`: look for systemic patterns on this sweep too, however recently the last
        look was (the console steps from one due moment to the next, minutes apart)."""
        if trends:
            self._trends_at = None
        return self._waker is not None and self._waker.sweep_now(timeout)

    def next_due_after(self, after: datetime) -> datetime | None:
        """The next moment strictly after `after` at which Baton has something to do by
        itself: due work in the database (reminders, deadlines, pages, nudges, thread
        lines) or a working day's digest time. The console steps its clock through them."""
        moments = [self.engine.next_ready_after(after),
                   self.coordination.next_digest_at(after)]
        found = [m for m in moments if m is not None]
        return min(found) if found else None

    def poke(self, due: datetime | None = None) -> None:
        """New due work may be sooner than the engine's next wake: tell it."""
        if self._waker is not None:
            self._waker.poke(due)

    def create_record(self, kind: RecordKind, fields: dict[str, str], *, team: str,
                      channel: str, user: str, request_key: str | None,
                      confirmed: Collection[str] = ()) -> Change:
        """Validate typed or submitted fields (DraftErrors names each bad one) and log the
        record, its deadlines read in the caller's zone and its offsets in the owner's.
        A likely person name in its free text, or an open record for the same person and
        partner, stops it first with NeedsConfirmation (nothing saved) unless `confirmed`
        holds that choice (bot/services/guard.py); a confirmed warning is audited."""
        self.permissions.require(Act.CREATE, team_id=team, actor=user, channel_id=channel)
        if request_key and self.records.by_request(team_id=team, request_key=request_key):
            confirmed = CHOICES  # a retry: its record exists, and is answered as it is
        ctx = self.draft_context(user)
        if kind is RecordKind.HANDOFF:
            h = build_handoff(fields, ctx)
            found = self.guard.check(
                team, {"contact": h.receiving_contact, "route": h.route, "note": h.note},
                confirmed=confirmed, known=[h.receiving_service], person_ref=h.person_ref,
                partner=h.receiving_service)
            change = self.records.create_handoff(
                team_id=team, channel_id=channel, actor=user, draft=h, request_key=request_key,
                tz=self.directory.tz(h.owner_id).key, overrides=found)
            notes = h.notes
        else:
            d = build_dependency(fields, ctx)
            found = self.guard.check(
                team, {"action": d.missing_action, "safeguard": d.interim_safeguard,
                       "route": d.route}, confirmed=confirmed, known=[d.partner],
                person_ref=d.person_ref, partner=d.partner)
            change = self.records.create_dependency(
                team_id=team, channel_id=channel, actor=user, draft=d, request_key=request_key,
                tz=self.directory.tz(d.owner_id).key, overrides=found)
            notes = d.notes
        self.poke(change.next_due)
        return replace(change, notes=notes) if notes else change

    def edit_record(self, ref: str | int, *, team: str, user: str, text: str | None = None,
                    form: dict[str, str] | None = None,
                    opened: dict[str, str] | None = None,
                    confirmed: Collection[str] = ()) -> Change:
        """Edit a record: `text` as typed after `/baton edit REF`, or the Edit form's boxes
        (`form`) with the fingerprints it was opened with (`opened`: untouched boxes are
        not read). Times are read in the caller's zone, as at logging. The new free text
        passes the name guard as at logging (NeedsConfirmation unless `confirmed`), after
        the checks that would refuse the edit anyway. The changes are applied by
        RecordService.apply_edit, the one path every edit takes."""
        record = self.records.get(team_id=team, ref=ref)
        kind = RecordKind(record.kind)
        ctx = self.draft_context(user)
        if text is not None:
            fields = read_edit(text, kind, record.reference)
            for key in ("owner", "manager"):  # "@jo" typed, not picked: the directory's jo
                if fields.get(key):
                    fields[key] = with_mentions(fields[key], self.directory.by_handle)
            edits = build_edits(fields, kind, ctx)
        else:
            edits = build_edits(changed_in_form(form or {}, opened or {}, kind), kind, ctx,
                                blank_clears=True)
        self.records.precheck(team_id=team, ref=record.id, actor=user, action=Action.EDIT)
        # The partner directory (this record's partner among it) is never flagged.
        found = self.guard.check(team, edits.free_text(), confirmed=confirmed)
        new_owner = edits.values.get("owner")
        change = self.records.apply_edit(
            team_id=team, ref=record.id, actor=user, edits=edits,
            owner_tz=self.directory.tz(new_owner).key if new_owner else None,
            overrides=found)
        self.poke(change.next_due)
        return replace(change, notes=edits.notes) if edits.notes else change

    def draft_context(self, user_id: str) -> DraftContext:
        return DraftContext(
            caller=user_id,
            now=self.clock.now(),
            tz=self.directory.tz(user_id),
            calendar=self.calendar,
            person_pattern=self.settings.person_ref_pattern,
        )

    def defer(self, fn: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        """Run the slow part after Slack has its 200 (Workers.defer)."""
        self.workers.defer(fn, *args, **kwargs)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until deferred work has finished (the console and shutdown use this)."""
        return self.workers.wait_idle(timeout)

    def close(self, drain: float = 8.0) -> None:
        """Stop the engine (its claims handed back), then give the work already answered 200
        up to `drain` seconds to finish, so SIGTERM exits within 10 s. What is still queued
        after that stays in received_requests: the next start, or another replica, does it
        (bot/web/inbox.py); nothing of it was half-written."""
        if self._waker is not None:
            self._waker.stop()
        finished = self.workers.wait_idle(drain)
        self.inbox.close()
        if not finished:
            log.warning("shutting down with %d deferred requests unfinished after %.0f s: they "
                        "stay saved, for the next start or another replica to do",
                        self.workers.waiting(), drain)
        self.workers.shutdown()
