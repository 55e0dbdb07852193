"""The time engine: find due work in the database, claim it, send it, record it.

APScheduler only wakes it (scheduler/wake.py); the database holds every deadline. Work is
claimed before it is sent and marked after, so a crash can at most resend what was in
flight, and several engines can share one PostgreSQL database (SKIP LOCKED claims). The
engine's own statements are in store/due_work.py, the shared ones in store/queries.py.

A claim is held for a lease. An engine that is stopped gives its unsent claims back at once
(stop()); the claims of a process that died on this host are taken back by the next engine
there (a restart) on its first sweep, not left to the lease. While Slack fails as a whole
(5xx, no answer) every send is held and retried together, oldest first (the hold is kept
by scheduler/sending.py's Sender, which paces each send with scheduler/pacing.py's Pacer).

What Slack refuses for good is never retried blindly (scheduler/sending.py's classify). A
page to a channel Baton cannot post in goes at once to the workspace's coordination
channel, else by DM to the records' owners and the coordinator of the day, with a line
saying why and how to fix it (sending.PageSender; pages are grouped, sent and recorded by
scheduler/paging.py); a workspace whose token Slack refuses has its due work suspended
until it is resumed (queries.resume_team_work). Thread lines are due work of their own
("thread_line"): paced per channel and retried like pages, dropped (logged) when their
thread is gone. Pages and reminders are rendered by bot/slack/blocks/pages.py, cards edited
by bot/slack/cards.py.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.domain.records import Action, HandoffStatus, RecordKind, is_open, transition
from bot.domain.schedule import page_after
from bot.domain.times import format_duration, to_the_second
from bot.services.escalation import BATON, Authority, ladder_of
from bot.services.records import Change, RecordService
from bot.services.trackers import TrackerService
from bot.slack.blocks import pages, tracker_lines
from bot.slack.blocks import roster as roster_blocks
from bot.slack.blocks.records import SECTION_LIMIT, fit
from bot.slack.cards import Cards, as_dicts
from bot.slack.clients import team_scope
from scheduler.pacing import Pacer
from scheduler.paging import PageKey, Paging
from scheduler.sending import MAX_BACKOFF, Item, PageSender, Sender, SendFailed
from store import due_work, queries
from store import trackers as tracker_store
from store.db import transaction
from store.models import DueWork, Record

__all__ = ["ALARM_AFTER", "MAX_BACKOFF", "Engine", "NotHolding", "Pacer", "SendFailed",
           "worker_is_dead", "worker_name"]

log = logging.getLogger("baton.engine")

ALARM_AFTER = timedelta(minutes=10)  # failing this long: log an error, keep trying


class NotHolding(RuntimeError):
    """Held sends were deferred while the engine was not holding them (Slack not down)."""


TAKEOVER_EVERY = 60.0  # seconds between looks for claims left by a dead process

_OWN_WORKERS: set[str] = set()  # the names of this process's engines


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def worker_is_dead(worker: str) -> bool:
    """True only when `worker` (host:pid:nonce, as worker_name() makes them) was an engine of
    a process on this host that is gone: its pid no longer exists, or it is this process's
    pid but not one of this process's engines (a restarted container's pid 1). A live
    process, a name from another host, or one we cannot tell: False, and its claims wait out
    their lease."""
    host, _, rest = worker.partition(":")
    pid_text, _, nonce = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit() or not nonce:
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return worker not in _OWN_WORKERS
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. PermissionError: it exists, run by someone else
        return False
    return False


class Engine:
    """Due work found in the database and claimed (store/queries.py, store/due_work.py),
    sent (scheduler/sending.py), and recorded, round by round (run_due)."""

    def __init__(self, *, sessions: sessionmaker[Session], client: WebClient, clock: Clock,
                 authority: Authority, records: RecordService,
                 trackers: TrackerService | None = None, pacer: Pacer | None = None,
                 worker: str | None = None, batch: int = 500,
                 lease: timedelta = timedelta(minutes=5),
                 coordination_channel: Callable[[str], str | None] | None = None,
                 refresh_page: Callable[[str, str], None] | None = None,
                 resume_at_start: bool = False) -> None:
        """`coordination_channel`: a workspace's coordination channel, where a page goes
        when its own channel cannot be reached (None: none). `resume_at_start`: resume the
        suspended work of every workspace on the first sweep (one token: a restart may
        bring a new one)."""
        self._sessions = sessions
        self._clock = clock
        self._authority = authority
        self._cards = Cards(client, records, trackers)
        self._trackers = trackers
        self._sender = Sender(client, clock, pacer or Pacer(1.0))
        self.worker = worker or worker_name()
        _OWN_WORKERS.add(self.worker)
        self._paging = Paging(
            sessions=sessions, clock=clock, authority=authority, worker=self.worker,
            pages_out=PageSender(self._sender, authority.roster, clock,
                                 coordination_channel=coordination_channel
                                 or (lambda team: None)))
        self._batch = batch
        self._lease = lease
        self._running = threading.Lock()
        self._stopping = threading.Event()
        self._takeover_at: float | None = None  # monotonic time of the last look
        self._resume_at_start = resume_at_start
        # A page message shown again as it now stands (EscalationService.refresh_page):
        # a sprint's end settles its steps' pages.
        self._refresh_page = refresh_page or (lambda channel, ts: None)

    def stop(self) -> None:
        """Shutting down (SIGTERM): the send in flight finishes and is recorded, nothing
        more is sent, and what this engine had claimed but not sent is given back at once
        (not left to its lease), so a restart or another replica sends it without delay."""
        self._stopping.set()

    # --- the loop APScheduler wakes ---

    def run_due(self, *, max_rounds: int = 1000) -> int:
        """Handle everything due now, round after round (a deadline makes a tier-1 page, a
        page makes the next tier's), so a catch-up after downtime goes tier by tier in
        order. Returns how many items were handled."""
        if self._stopping.is_set() or not self._running.acquire(blocking=False):
            return 0  # stopping, or a sweep is already under way in this process
        try:
            if self._resume_at_start:
                self._resume_suspended()  # raises if the database fails: tried next sweep
                self._resume_at_start = False
            self._take_over_dead_claims()
            total = 0
            for _ in range(max_rounds):
                if self._stopping.is_set():
                    break
                claimed = self.claim()
                if not claimed:
                    break
                self.process(claimed)
                total += len(claimed)
            return total
        finally:
            try:
                if self._stopping.is_set():
                    self._give_back()
            finally:
                self._running.release()

    def _take_over_dead_claims(self) -> None:
        """Claims held by an engine whose process died (SIGKILL, OOM, a crash) would wait
        out their lease before anyone sends them. An engine on the same host can tell that
        process is gone; it gives those claims back at once (on its first sweep, so a
        restart picks them up, then once a minute). The message the dead process had in
        flight may go out twice: at-least-once, as the module docstring says."""
        now = time.monotonic()
        if self._takeover_at is not None and now - self._takeover_at < TAKEOVER_EVERY:
            return
        self._takeover_at = now
        with self._sessions() as s:
            holders = due_work.claim_holders(s)
        dead = [w for w in holders if w != self.worker and worker_is_dead(w)]
        if not dead:
            return
        with transaction(self._sessions) as s:
            taken = due_work.give_back_claims(s, workers=dead)
        log.warning("took back %s due items claimed by %s, whose process is gone", taken,
                    ", ".join(dead))

    def keep_suspended(self) -> None:
        """Slack itself said the workspace removed Baton (app_uninstalled, tokens_revoked):
        nothing suspended is resumed at this engine's start; a reinstall resumes it."""
        self._resume_at_start = False

    def _resume_suspended(self) -> None:
        """Engine start with one token: work suspended because Slack refused the token is
        tried again (a restart is how a new SLACK_BOT_TOKEN arrives). If Slack still
        refuses it, the first send suspends it again, with one log line."""
        now = self._clock.now()
        with transaction(self._sessions) as s:
            resumed = {team: queries.resume_team_work(s, team_id=team, now=now)
                       for team in queries.suspended_teams(s)}
        for team, count in resumed.items():
            log.warning("workspace %s: resumed %s due items suspended when Slack refused "
                        "Baton's token (engine start)", team, count)

    def _give_back(self) -> None:
        """Stopping: return every claim of this engine not yet sent, as it was (due now,
        no attempt counted)."""
        with transaction(self._sessions) as s:
            given = due_work.give_back_claims(s, workers=[self.worker])
        if given:
            log.info("stopping: gave back %s claimed due items unsent", given)

    def claim(self) -> list[int]:
        now = self._clock.now()
        with transaction(self._sessions) as s:
            rows = queries.claim_due(s, now=now, worker=self.worker,
                                     lease_until=now + self._lease, limit=self._batch)
            return [w.id for w in rows]

    def next_ready_at(self) -> datetime | None:
        with self._sessions() as s:
            return queries.next_ready_at(s)

    def next_ready_after(self, after: datetime) -> datetime | None:
        """When the next pending due work becomes ready, strictly after `after`."""
        with self._sessions() as s:
            return queries.next_ready_after(s, after=after)

    # --- handling claimed work ---

    def process(self, ids: list[int]) -> None:
        items = self._load(ids)
        deadlines = [i for i in items if i.work.kind == "deadline"]
        if deadlines and not self._stopping.is_set():
            try:
                self._deadlines(deadlines)
            except Exception as exc:
                log.exception("deadline batch failed")
                self._release([i.work.id for i in deadlines], SendFailed(type(exc).__name__))
        pages_by_key: dict[PageKey, list[Item]] = defaultdict(list)
        lines: list[Item] = []  # thread lines: after the pages, which matter more
        held: list[int] = []  # sends put off while Slack is down
        suspended: set[str] = set()  # workspaces whose token Slack refused just now
        # Stopping part-way: return at once; run_due gives the rest back (held included).
        if not self._each_item(items, pages_by_key, lines, held, suspended):
            return
        if not self._pages(pages_by_key, held, suspended):
            return
        if not self._thread_lines(lines, held, suspended):
            return
        if held:
            self._defer(held)

    def _each_item(self, items: list[Item], pages_by_key: dict[PageKey, list[Item]],
                   lines: list[Item], held: list[int], suspended: set[str]) -> bool:
        """Acknowledgement timeouts, nudges and reminders, one by one; pages are grouped
        into `pages_by_key` and thread lines put in `lines` for later. False: stopping."""
        for item in items:
            if self._stopping.is_set():
                return False
            kind = item.work.kind
            if kind == "thread_line":
                lines.append(item)
                continue
            if item.record.team_id in suspended:
                continue  # suspended with the rest of its workspace
            if kind in ("nudge", "reminder") and self._sender.holding():
                held.append(item.work.id)
                continue
            try:
                with team_scope(item.record.team_id):  # its workspace's token, in OAuth mode
                    if kind == "ack_timeout":
                        self._ack_timeout(item)
                    elif kind == "nudge":
                        self._nudge(item)
                    elif kind == "reminder":
                        self._reminder(item)
                    elif kind == "page":
                        key = self._paging.key(item)
                        if key is None:
                            self._finish(item.work.id, state="cancelled")
                        else:
                            pages_by_key[key].append(item)
            except SendFailed as exc:
                self._failed([item.work.id], item.record.team_id, exc, suspended)
            except Exception as exc:
                log.exception("due work %s failed", item.work.id)
                self._release([item.work.id], SendFailed(type(exc).__name__))
        return True

    def _pages(self, pages_by_key: dict[PageKey, list[Item]], held: list[int],
               suspended: set[str]) -> bool:
        """The grouped pages, a message per PAGE_GROUP records. False: stopping."""
        for (team, channel, tier, mention, _name), group in pages_by_key.items():
            for start in range(0, len(group), pages.PAGE_GROUP):
                if self._stopping.is_set():
                    return False
                if team in suspended:
                    break
                chunk = group[start : start + pages.PAGE_GROUP]
                if self._sender.holding():
                    held += [i.work.id for i in chunk]
                    continue
                try:
                    with team_scope(team):
                        self._paging.page(channel, tier, mention, chunk)
                        self._refresh_trackers(team, chunk)
                except SendFailed as exc:
                    self._failed([i.work.id for i in chunk], team, exc, suspended)
                except Exception as exc:
                    log.exception("page to %s failed", channel)
                    self._release([i.work.id for i in chunk], SendFailed(type(exc).__name__))
        return True

    def _refresh_trackers(self, team: str, chunk: list[Item]) -> None:
        """A step paged: its tracker's card shows the tier it reached (the card is a view;
        a failure to edit it is logged by Cards, never retried as the page)."""
        for tracker_id in sorted({i.record.parent_id or i.record.id for i in chunk
                                  if i.record.tracked}):
            self._cards.tracker_changed(team_id=team, tracker_id=tracker_id)

    def _thread_lines(self, lines: list[Item], held: list[int], suspended: set[str]) -> bool:
        """The thread lines, after the pages. False: stopping."""
        for item in lines:
            if self._stopping.is_set():
                return False
            team = item.record.team_id
            if team in suspended:
                continue
            if self._sender.holding():
                held.append(item.work.id)
                continue
            try:
                with team_scope(team):
                    self._thread_line(item)
            except SendFailed as exc:
                self._failed([item.work.id], team, exc, suspended)
            except Exception as exc:
                log.exception("thread line %s failed", item.work.id)
                self._release([item.work.id], SendFailed(type(exc).__name__))
        return True

    def _failed(self, ids: list[int], team: str, exc: SendFailed, suspended: set[str]) -> None:
        """A send failed. Slack refused the workspace's token: suspend all its work (not
        retried in a loop). Anything else that reaches here is retried with backoff."""
        if exc.kind == "workspace":
            self._suspend(team, exc)
            suspended.add(team)
        else:
            self._release(ids, exc)

    def _suspend(self, team: str, exc: SendFailed) -> None:
        now = self._clock.now()
        with transaction(self._sessions) as s:
            count = queries.suspend_team_work(s, team_id=team, reason=exc.code, now=now)
        log.error("workspace %s: Slack refuses Baton's token (%s): %s due reminders, pages and "
                  "checks suspended, not retried. To fix: reinstall Baton in that workspace "
                  "(or, with one SLACK_BOT_TOKEN, set a new token and restart); its suspended "
                  "work then resumes", team, exc.code, count)

    def _load(self, ids: list[int]) -> list[Item]:
        with self._sessions() as s:
            works = queries.works_by_ids(s, ids=ids)
            records = queries.records_by_ids(s, ids=[w.record_id for w in works.values()])
        out = [Item(w, records[w.record_id]) for w in works.values() if w.record_id in records]
        return sorted(out, key=lambda i: (i.work.due_at, i.work.tier or 0, i.work.id))

    def _still_mine(self, s: Session, work_id: int, *, lock: bool = False) -> DueWork | None:
        """Right before sending: is the claim still ours (not cancelled by an acknowledgement
        or resolution a moment ago)?"""
        return queries.claimed_by(s, ids=[work_id], worker=self.worker, lock=lock).get(work_id)

    def _finish(self, work_id: int, *, state: str = "done", channel: str | None = None,
                ts: str | None = None, error: str | None = None) -> None:
        with transaction(self._sessions) as s:
            w = self._still_mine(s, work_id, lock=True)
            if w is not None:
                w.state, w.sent_at = state, self._clock.now()
                w.channel_id, w.message_ts = channel or w.channel_id, ts or w.message_ts
                if error:
                    w.last_error = error[:200]

    def _release(self, ids: list[int], exc: SendFailed) -> None:
        """Give failed work back with a backoff (Retry-After on a 429; while Slack is down,
        until the engine tries Slack again), never dropping it."""
        now = self._clock.now()
        with transaction(self._sessions) as s:
            for w in queries.claimed_by(s, ids=ids, worker=self.worker).values():
                w.attempts += 1
                w.first_failed_at = w.first_failed_at or now
                if exc.retry_after is not None:
                    delay = timedelta(seconds=exc.retry_after)
                elif exc.outage and self._sender.hold_until is not None:
                    delay = max(self._sender.hold_until - now, timedelta(0))
                else:
                    delay = min(MAX_BACKOFF, timedelta(seconds=5 * 2 ** min(w.attempts, 10)))
                w.state, w.claimed_by, w.claimed_until = "pending", None, None
                w.ready_at = now + delay
                w.last_error = exc.error[:200]
                if now - w.first_failed_at >= ALARM_AFTER:
                    log.error("due work %s (%s for record %s) has failed for %s: %s; still "
                              "retrying", w.id, w.kind, w.record_id, now - w.first_failed_at,
                              exc.error)
                else:
                    log.warning("due work %s failed (%s); retry in %s", w.id, exc.error, delay)

    def _defer(self, ids: list[int]) -> None:
        """Slack is down: give claimed sends back untried (no attempt counted), due again
        when the engine next tries Slack."""
        until = self._sender.hold_until
        if until is None:
            raise NotHolding(f"{len(ids)} sends held, but Slack is not being waited for")
        with transaction(self._sessions) as s:
            for w in queries.claimed_by(s, ids=ids, worker=self.worker).values():
                w.state, w.claimed_by, w.claimed_until = "pending", None, None
                w.ready_at = max(w.ready_at, until)

    # --- the kinds of work ---

    def _deadlines(self, items: list[Item]) -> None:
        """Deadlines of a round in one transaction: overdue handoffs, reviews and safeguards
        that came due. Each plans its tier-1 page; the cards are updated after the commit."""
        now = self._clock.now()
        changes: list[Change] = []
        trackers: set[int] = set()  # tracker cards to refresh after the commit
        ended: list[tuple[str, tuple[str, str]]] = []  # pages of ended trackers, to refresh
        with transaction(self._sessions) as s, s.no_autoflush:
            # The records first, then their due work (see queries.records_by_ids).
            records = queries.records_by_ids(s, ids=[i.work.record_id for i in items],
                                             lock=True)
            works = queries.claimed_by(s, ids=[i.work.id for i in items], worker=self.worker,
                                       lock=True)
            # A sprint that ends as its last steps fall due closes first: those steps are
            # then counted "not done" in its summary, not paged after the close.
            for work in sorted(works.values(), key=lambda w: (w.due_at, w.reason != "sprint_end",
                                                              w.id)):
                record = records[work.record_id]
                reason = work.reason or "overdue"
                page = False
                if reason == "overdue" and record.status == HandoffStatus.PENDING:
                    before = record.status
                    record.status = transition(RecordKind.HANDOFF, record.reference, before,
                                               Action.MARK_OVERDUE)
                    record.updated_at = now
                    queries.add_event(s, record=record, team_id=record.team_id, at=now,
                                      actor=BATON, kind="status_changed", field="status",
                                      before=before, after=record.status,
                                      note="response deadline passed with no acknowledgement")
                    # The card is edited after the commit; its thread hears why, paced.
                    changes.append(Change(record))
                    self._plan_line(s, record, record.card_channel, record.card_ts,
                                    pages.overdue_line(record), now=now)
                    page = True
                elif reason in ("step", "decision", "sprint_end") and record.tracked:
                    page = self._tracker_deadline(s, record, reason, now=now,
                                                  touched=trackers, ended=ended)
                elif reason in ("review", "safeguard") and is_open(record.status):
                    queries.add_event(s, record=record, team_id=record.team_id, at=now,
                                      actor=BATON, kind=f"{reason}_due",
                                      note="next review time reached" if reason == "review"
                                      else "interim safeguard past its intended end")
                    page = True
                if page:
                    planned = page_after(ladder_of(record), 1, work.due_at,
                                         ZoneInfo(record.tz or "UTC"), reason=reason)
                    if planned is not None:
                        queries.add_work(s, record=record, kind="page", due_at=planned.due_at,
                                         now=now, tier=1, reason=reason)
                work.state, work.sent_at = "done", now
        for change in changes:
            with team_scope(change.record.team_id):
                self._cards.changed(change)
        for tracker_id in sorted(trackers):
            team = next(i.record.team_id for i in items if tracker_id in
                        (i.record.id, i.record.parent_id))
            with team_scope(team):
                self._cards.tracker_changed(team_id=team, tracker_id=tracker_id)
        for team, (channel, ts) in ended:
            with team_scope(team):
                self._refresh_page(channel, ts)

    def _tracker_deadline(self, s: Session, record: Record, reason: str, *, now: datetime,
                          touched: set[int], ended: list[tuple[str, tuple[str, str]]]
                          ) -> bool:
        """A step past due (paged like a record), a provisional package's hard decision
        deadline (paged), or a sprint's end (closed with its summary). True: page tier 1."""
        if reason == "sprint_end":
            closed = (self._trackers.close_sprint(s, record, now=now)
                      if self._trackers is not None else None)
            if closed is not None:
                summary, page_messages = closed
                ended += [(record.team_id, m) for m in page_messages]
                touched.add(record.id)
                self._plan_line(s, record, record.card_channel, record.card_ts,
                                tracker_lines.sprint_closed_line(summary), now=now)
            return False
        if reason == "decision":
            if record.status != "open" or record.decision:
                return False
            queries.add_event(s, record=record, team_id=record.team_id, at=now, actor=BATON,
                              kind="decision_due", note="hard decision deadline reached")
            self._plan_line(s, record, record.card_channel, record.card_ts,
                            tracker_lines.decision_due_line(record), now=now)
            return True
        if (record.kind != "step" or record.status not in tracker_store.STEP_OPEN
                or not self._still_chased(s, record)):
            return False
        queries.add_event(s, record=record, team_id=record.team_id, at=now, actor=BATON,
                          kind="step_overdue", note=f"{record.title}: due time passed, "
                          f"step {record.status}")
        touched.add(record.parent_id or 0)
        self._plan_line(s, record, record.card_channel, record.card_ts,
                        tracker_lines.step_overdue_line(record), now=now, prefix=False)
        return True

    def _ack_timeout(self, item: Item) -> None:
        now = self._clock.now()
        with transaction(self._sessions) as s:
            # The record first, then its due work (see queries.records_by_ids).
            record = queries.records_by_ids(s, ids=[item.work.record_id], lock=True).get(
                item.work.record_id)
            work = self._still_mine(s, item.work.id, lock=True)
            if work is None or record is None:
                return
            acked = queries.latest_page(s, record_id=record.id)
            answered = (record.interim_at is not None and acked is not None
                        and acked.acked_at is not None and record.interim_at >= acked.acked_at)
            # A service change's immediate-risk page is answered by its acknowledgement:
            # its steps carry the work from there, each with its own deadline. (A
            # provisional package's decision page climbs again, as a response deadline's
            # does, until the decision is recorded.)
            answered = answered or (record.kind == "tracker" and work.reason == "urgent")
            if is_open(record.status) and not answered and self._still_chased(s, record):
                ladder = ladder_of(record)
                tier = min((work.tier or 1) + 1, len(ladder.tiers))
                queries.add_work(s, record=record, kind="page", due_at=work.due_at, now=now,
                                 tier=tier, reason=work.reason)
                queries.add_event(s, record=record, team_id=record.team_id, at=now,
                                  actor=BATON, kind="escalation_resumed", field="tier",
                                  after=tier, note="acknowledged, but no interim action or "
                                  "next step recorded in time")
            work.state, work.sent_at = "done", now

    @staticmethod
    def _still_chased(s: Session, record: Record) -> bool:
        """A step is chased only while its tracker is open: a sprint's close (or a
        package's decision) ends it even for an old page acknowledged afterwards."""
        if record.kind != "step":
            return True
        parent = queries.records_by_ids(s, ids=[record.parent_id or 0]).get(
            record.parent_id or 0)
        return parent is not None and parent.status in tracker_store.TRACKER_OPEN

    def _nudge(self, item: Item) -> None:
        """A direct message to the coordinator of the day: a page waiting unacknowledged, or
        a new same-day risk dependency. Dropped when it no longer applies."""
        now = self._clock.now()
        record, work = item.record, item.work
        with self._sessions() as s:
            mine = self._still_mine(s, work.id) is not None
            page = queries.latest_page(s, record_id=record.id) if work.reason == "page" else None
        coordinator = self._authority.roster.coordinator(team_id=record.team_id, when=now)
        if work.reason == "page":
            applies = (page is not None and page.tier == work.tier and page.acked_at is None
                       and page.sent_at is not None)
            text = roster_blocks.nudge_page(
                record, tier=work.tier or 1,
                waited=format_duration(to_the_second(now - page.sent_at)) if applies and page
                and page.sent_at else "")
        else:
            applies = coordinator != record.created_by  # they logged it: they know
            text = roster_blocks.nudge_same_day(record)
        if not mine or not is_open(record.status) or not applies or coordinator is None:
            self._finish(work.id, state="cancelled")
            return
        try:
            resp = self._sender.dm(coordinator, text=text,
                            blocks=as_dicts([roster_blocks.nudge_section(text, record)]))
        except SendFailed as exc:
            if exc.kind not in ("user", "channel", "gone"):
                raise
            self._dm_undeliverable(item, coordinator, exc, what="the coordinator's nudge")
            return
        with transaction(self._sessions) as s:
            w = self._still_mine(s, work.id, lock=True)
            if w is not None:
                w.state, w.sent_at = "done", now
                w.channel_id, w.message_ts = str(resp["channel"]), str(resp["ts"])
            queries.add_event(s, record=record, team_id=record.team_id, at=now, actor=BATON,
                              kind="coordinator_nudged", note=f"DM to <@{coordinator}>: "
                              + ("page unacknowledged" if work.reason == "page"
                                 else "new same-day risk dependency"))

    def _reminder(self, item: Item) -> None:
        now = self._clock.now()
        record = item.record
        wanted = (record.status == HandoffStatus.PENDING if record.kind == RecordKind.HANDOFF
                  else is_open(record.status))
        with self._sessions() as s:
            mine = self._still_mine(s, item.work.id) is not None
        if not mine or not wanted or record.due_at <= now:
            self._finish(item.work.id, state="cancelled")
            return
        try:
            resp = self._sender.dm(record.owner_id, text=pages.reminder_text(record, now),
                                   blocks=as_dicts(pages.reminder_blocks(record, now)))
        except SendFailed as exc:
            if exc.kind not in ("user", "channel", "gone"):
                raise
            self._dm_undeliverable(item, record.owner_id, exc, what="the owner's reminder")
            return
        left = format_duration(record.due_at - now)
        with transaction(self._sessions) as s:
            w = self._still_mine(s, item.work.id, lock=True)
            if w is not None:
                w.state, w.sent_at = "done", now
                w.channel_id, w.message_ts = str(resp["channel"]), str(resp["ts"])
            queries.add_event(s, record=record, team_id=record.team_id, at=now, actor=BATON,
                              kind="reminded", note=f"DM to the owner, {left} left")
            self._plan_line(s, record, record.card_channel, record.card_ts,
                            pages.reminder_line(record, left), now=now, prefix=False)

    # --- direct messages and thread lines ---

    def _dm_undeliverable(self, item: Item, user: str, exc: SendFailed, *, what: str) -> None:
        """Slack will never take this DM (the person deactivated, gone, Baton not allowed):
        the work is cancelled with the reason, and the audit trail says so."""
        now, record = self._clock.now(), item.record
        with transaction(self._sessions) as s:
            w = self._still_mine(s, item.work.id, lock=True)
            if w is None:
                return
            w.state, w.last_error = "cancelled", exc.error[:200]
            queries.add_event(s, record=record, team_id=record.team_id, at=now, actor=BATON,
                              kind="dm_undeliverable", field=item.work.kind, after=exc.code,
                              note=f"{what} could not be sent to <@{user}>: Slack answered "
                                   f"{exc.code}; not retried")
        log.warning("%s for %s could not be sent to %s (%s): cancelled, not retried", what,
                    record.reference, user, exc.code)

    @staticmethod
    def _plan_line(s: Session, record: Record, channel: str | None, thread_ts: str | None,
                   line: str, *, now: datetime, prefix: bool = True,
                   tier: int | None = None) -> None:
        """A line for a thread, sent later by the engine (paced, retried): see _thread_line."""
        if not channel or not thread_ts:
            return
        text = f"{record.reference}: {line}" if prefix else line
        queries.add_thread_line(s, record=record, channel_id=channel, thread_ts=thread_ts,
                                text=fit(text, SECTION_LIMIT, ref=record.reference), now=now,
                                tier=tier)

    def _thread_line(self, item: Item) -> None:
        """One line into a thread (a page's, a record card's), paced and retried like a
        page. A thread Slack will not take (the message deleted, the channel archived or
        left) is dropped with a log line: the line is news, not the page itself."""
        work = item.work
        with self._sessions() as s:
            if self._still_mine(s, work.id) is None:
                return
        try:
            self._sender.post(channel=work.channel_id, thread_ts=work.message_ts,
                              text=work.text or "")
        except SendFailed as exc:
            if exc.kind not in ("channel", "gone", "user"):
                raise
            log.warning("thread line for %s into thread %s in %s dropped: Slack answered %s",
                        item.record.reference, work.message_ts, work.channel_id, exc.code)
            self._finish(work.id, state="cancelled", error=exc.error)
            return
        self._finish(work.id)
