"""What the handlers need, assembled once: services, the Slack client, the clock, a
directory of users' time zones, and the worker pool that does the slow part of a request
after Slack has had its answer."""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.domain.drafts import DraftContext, build_dependency, build_handoff
from bot.domain.permissions import Act, Role
from bot.domain.records import RecordKind
from bot.domain.times import WorkingCalendar
from bot.services.coordination import Coordination, RotaRoster
from bot.services.directory import UserDirectory
from bot.services.escalation import Authority, EscalationService, Roster
from bot.services.partner_trends import Governance
from bot.services.permissions import Permissions
from bot.services.records import Change, RecordService
from bot.settings import Settings
from bot.slack.clients import team_scope
from bot.slack.delivery import SlackDelivery
from bot.slack.lookup import SlackLookup
from bot.web.inbox import Inbox, Received
from scheduler.engine import Engine, Pacer, worker_is_dead
from store import queries

log = logging.getLogger("baton")

TRENDS_EVERY = timedelta(minutes=5)


class Held(list[tuple[Any, ...]]):
    """The work one request deferred, and the received_requests row it came in as."""

    def __init__(self, request_id: int | None = None) -> None:
        super().__init__()
        self.request_id = request_id


def _finish_with_last(held: list[tuple[Any, ...]],
                      finish: Callable[[], None]) -> list[tuple[Any, ...]]:
    """The same work, each piece counting down; `finish` runs after the last one ends,
    whether it succeeded or failed (a failure is logged and its sender told)."""
    left = [len(held)]
    lock = threading.Lock()

    def counted(fn: Callable[..., None]) -> Callable[..., None]:
        def run(*args: Any, **kwargs: Any) -> None:
            try:
                fn(*args, **kwargs)
            finally:
                with lock:
                    left[0] -= 1
                    last = left[0] == 0
                if last:
                    finish()

        run.__name__ = getattr(fn, "__name__", "work")
        return run

    return [(counted(fn), args, kwargs) for fn, args, kwargs in held]


@dataclass
class Baton:
    settings: Settings
    client: WebClient
    sessions: sessionmaker[Session]
    clock: Clock
    engine_client: WebClient
    roster: Roster
    records: RecordService = field(init=False)
    escalation: EscalationService = field(init=False)
    engine: Engine = field(init=False)
    rota: RotaRoster = field(init=False)
    coordination: Coordination = field(init=False)
    governance: Governance = field(init=False)
    inbox: Inbox = field(init=False)
    permissions: Permissions = field(init=False)
    directory: UserDirectory = field(init=False)
    calendar: WorkingCalendar = field(init=False)
    executor: ThreadPoolExecutor = field(init=False)
    _waker: Any = field(init=False, default=None)
    _trends_at: datetime | None = field(init=False, default=None)
    _local: threading.local = field(init=False, default_factory=threading.local)
    _pending: set[Future[Any]] = field(init=False, default_factory=set)
    _held: int = field(init=False, default=0)
    _idle: threading.Condition = field(init=False, default_factory=threading.Condition)
    _shed: int = field(init=False, default=0)
    _saving: threading.Condition = field(init=False, default_factory=threading.Condition)
    _to_save: list[tuple[Held, Received]] = field(init=False, default_factory=list)
    _saver: threading.Thread | None = field(init=False, default=None)
    _busy_slots: threading.BoundedSemaphore = field(
        init=False, default_factory=lambda: threading.BoundedSemaphore(50))
    _busy_pool: ThreadPoolExecutor = field(
        init=False, default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="busy"))

    def __post_init__(self) -> None:
        self.rota = (self.roster if isinstance(self.roster, RotaRoster) else
                     RotaRoster(self.sessions, tz=ZoneInfo(self.settings.default_timezone),
                                fallback=self.settings.coordinator))
        roles = self.settings.roles
        lookup = SlackLookup(self.client)
        self.directory = UserDirectory(lookup, default_tz=self.settings.default_timezone)
        self.permissions = Permissions(lookup, roles, sessions=self.sessions,
                                       clock=self.clock, coordinator_of=self.rota.coordinator,
                                       slack_admin=self.directory.is_admin)
        self.records = RecordService(self.sessions, self.clock, self.settings.ladders,
                                     permissions=self.permissions)
        authority = Authority(self.roster, sorted(roles.of(Role.MANAGER)),
                              is_manager=self.permissions.is_manager,
                              group_members=self.permissions.group_members)
        self.escalation = EscalationService(self.sessions, self.clock, self.client, authority,
                                            self.records)
        self.escalation.permissions = self.permissions
        self.engine = Engine(sessions=self.sessions, client=self.engine_client, clock=self.clock,
                             authority=authority, records=self.records,
                             pacer=Pacer(self.settings.channel_post_interval),
                             coordination_channel=lambda team: self.settings.channel_for(
                                 team, "coordination_channel"),
                             # One token: a restart is how a new one arrives.
                             resume_at_start=not self.settings.oauth)
        self.calendar = WorkingCalendar(
            end_of_day=self.settings.end_of_day, holidays=frozenset(self.settings.holidays)
        )
        self.executor = ThreadPoolExecutor(self.settings.workers, thread_name_prefix="baton")
        self.inbox = Inbox(self.sessions, self.clock, worker=self.engine.worker,
                           is_dead=worker_is_dead)
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

    # --- load shedding: the work already answered 200 stays a few seconds' worth ---

    def overloaded(self) -> bool:
        with self._idle:
            return len(self._pending) + self._held >= self.settings.max_backlog

    def note_shed(self) -> None:
        with self._idle:
            self._shed += 1
            shed = self._shed
        if shed == 1 or shed % 100 == 0:
            log.warning("overloaded: %d requests turned away with a 'try again' so far (more "
                        "than BATON_MAX_BACKLOG=%d waiting)", shed, self.settings.max_backlog)

    def tell_busy(self, response_url: str, text: str) -> None:
        """Tell a button's presser to try again, on a small pool of its own; when even that
        is full the note is skipped (counted in the log above)."""
        if not self._busy_slots.acquire(blocking=False):
            return

        def send() -> None:
            try:
                WebhookClient(response_url, timeout=5).send(
                    text=text, response_type="ephemeral", replace_original=False)
            except Exception as exc:  # noqa: BLE001 - best effort, and logged
                log.warning("could not send a 'try again': %s", type(exc).__name__)
            finally:
                self._busy_slots.release()

        self._busy_pool.submit(send)

    def sweep_now(self, timeout: float = 30.0) -> bool:
        """Sweep (and do the housekeeping) at once and wait for it: the console's `clock`."""
        return self._waker is not None and self._waker.sweep_now(timeout)

    def poke(self, due: datetime | None = None) -> None:
        """New due work may be sooner than the engine's next wake: tell it."""
        if self._waker is not None:
            self._waker.poke(due)

    def create_record(self, kind: RecordKind, fields: dict[str, str], *, team: str,
                      channel: str, user: str, request_key: str | None) -> Change:
        """Validate typed or submitted fields (DraftErrors names each bad one) and log the
        record, its deadlines read in the caller's zone and its offsets in the owner's."""
        self.permissions.require(Act.CREATE, team_id=team, actor=user, channel_id=channel)
        ctx = self.draft_context(user)
        if kind is RecordKind.HANDOFF:
            h = build_handoff(fields, ctx)
            change = self.records.create_handoff(
                team_id=team, channel_id=channel, actor=user, draft=h, request_key=request_key,
                tz=self.directory.tz(h.owner_id).key)
        else:
            d = build_dependency(fields, ctx)
            change = self.records.create_dependency(
                team_id=team, channel_id=channel, actor=user, draft=d, request_key=request_key,
                tz=self.directory.tz(d.owner_id).key)
        self.poke(change.next_due)
        return change

    def draft_context(self, user_id: str) -> DraftContext:
        return DraftContext(
            caller=user_id,
            now=self.clock.now(),
            tz=self.directory.tz(user_id),
            calendar=self.calendar,
            person_pattern=self.settings.person_ref_pattern,
        )

    def defer(self, fn: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        """Run the slow part after Slack has its 200. Exceptions are logged, never lost.
        Inside an HTTP request (see hold_deferred) it starts once the response is sent. It
        runs in the caller's context: the request's workspace (bot/slack/clients.py) goes with it."""
        ctx = contextvars.copy_context()
        work = fn

        def in_context(*a: Any, **k: Any) -> None:
            ctx.run(work, *a, **k)

        in_context.__name__ = getattr(work, "__name__", "work")
        fn = in_context
        held = getattr(self._local, "held", None)
        if held is not None:
            with self._idle:
                self._held += 1  # counted as pending from now: wait_idle must see it
            held.append((fn, args, kwargs))
            return
        self._submit(fn, *args, **kwargs)

    @contextmanager
    def hold_deferred(self, request_id: int | None = None) -> Iterator[Held]:
        """Collect work deferred while a request is being answered, so it does not compete
        with writing Slack's response; the caller submits it with release(). With the
        request's received_requests row, the row is deleted once all of it has run."""
        self._local.held = held = Held(request_id)
        try:
            yield held
        finally:
            self._local.held = None

    def release(self, held: Held, *, keep: Received | None = None) -> None:
        """Queue the work a request deferred. With `keep`, the request is saved first (its
        200 is out by now), so that the work is done even if this process dies: on the
        saver thread, in batches, so the server's thread is free at once (waitress sends the
        response only once the request's thread is done with it)."""
        if keep is not None and held and held.request_id is None:
            with self._saving:
                self._to_save.append((held, keep))
                if self._saver is None or not self._saver.is_alive():
                    self._saver = threading.Thread(target=self._save_loop, daemon=True,
                                                   name="baton-saver")
                    self._saver.start()
                self._saving.notify()
            return
        self._queue(held)

    def _save_loop(self) -> None:
        while True:
            with self._saving:
                while not self._to_save:
                    self._saving.wait()
                batch, self._to_save = self._to_save, []
            try:
                ids = self.inbox.receive_many([k for _, k in batch])
                for (held, _), request_id in zip(batch, ids, strict=True):
                    held.request_id = request_id
            except Exception as exc:  # noqa: BLE001 - the work still runs, and tells its sender
                log.warning("could not save %d answered request(s) (%s); doing their work "
                            "unsaved", len(batch), type(exc).__name__)
            for held, _ in batch:
                self._queue(held)

    def _queue(self, held: Held) -> None:
        request_id = held.request_id
        if request_id is not None:
            if not held:
                self.inbox.finish(request_id)  # it deferred nothing: done already
            else:
                held[:] = _finish_with_last(held, lambda: self.inbox.finish(request_id))
        for fn, args, kwargs in held:
            try:
                self._submit(fn, *args, **kwargs)
            except RuntimeError:  # the pool is shut down: do it here rather than lose it
                log.warning("worker pool closed; running %s inline", getattr(fn, "__name__", fn))
                try:
                    fn(*args, **kwargs)
                except Exception:
                    log.exception("deferred work failed")
            finally:
                with self._idle:
                    self._held -= 1
                    self._idle.notify_all()

    def _submit(self, fn: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        def run() -> None:
            try:
                fn(*args, **kwargs)
            except Exception:
                log.exception("background work failed in %s", getattr(fn, "__name__", fn))

        fut = self.executor.submit(run)
        with self._idle:
            self._pending.add(fut)
        fut.add_done_callback(self._done)

    def _done(self, fut: Future[Any]) -> None:
        with self._idle:
            self._pending.discard(fut)
            self._idle.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until deferred work has finished (the console and shutdown use this)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending or self._held:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self, drain: float = 8.0) -> None:
        """Stop the engine (its claims handed back), then give the work already answered 200
        up to `drain` seconds to finish, so SIGTERM exits within 10 s. What is still queued
        after that stays in received_requests: the next start, or another replica, does it
        (bot/web/inbox.py); nothing of it was half-written."""
        if self._waker is not None:
            self._waker.stop()
        finished = self.wait_idle(drain)
        self.inbox.close()
        if not finished:
            with self._idle:
                left = len(self._pending) + self._held
            log.warning("shutting down with %d deferred requests unfinished after %.0f s: they "
                        "stay saved, for the next start or another replica to do", left, drain)
        # Queued work is cancelled; a task still running is not waited for (a Slack retry
        # may be sleeping in it): the process exits on time, its transaction rolls back.
        self.executor.shutdown(wait=False, cancel_futures=True)
        self._busy_pool.shutdown(wait=False, cancel_futures=True)
