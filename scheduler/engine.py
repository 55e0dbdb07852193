"""The time engine: find due work in the database, claim it, send it, record it.

APScheduler only wakes it (scheduler/wake.py); the database holds every deadline. Work is
claimed before it is sent and marked after, so a crash can at most resend what was in
flight, and several engines can share one PostgreSQL database (SKIP LOCKED claims).

A claim is held for a lease. An engine that is stopped gives its unsent claims back at once
(stop()); the claims of a process that died on this host are taken back by the next engine
there (a restart) on its first sweep, not left to the lease. While Slack fails as a whole
(5xx, no answer) every send is held and retried together, oldest first.

What Slack refuses for good is never retried blindly (see classify). A page to a channel
Baton cannot post in goes at once to the workspace's coordination channel, else by DM to
the records' owners and the coordinator of the day, with a line saying why and how to fix
it; a workspace whose token Slack refuses has its due work suspended until it is resumed
(queries.resume_team_work). Thread lines are due work of their own ("thread_line"):
paced per channel and retried like pages, dropped (logged) when their thread is gone.
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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.domain.ladder import snapshot_ladder
from bot.domain.records import Action, HandoffStatus, RecordKind, is_open, transition
from bot.domain.schedule import is_late, page_after
from bot.services.escalation import BATON, Authority
from bot.services.records import Change, RecordService
from bot.slack.blocks import pages
from bot.slack.blocks import roster as roster_blocks
from bot.slack.blocks.records import SECTION_LIMIT, escape, fit
from bot.slack.cards import Cards, as_dicts
from bot.slack.clients import NotInstalled, team_scope
from store import queries
from store.db import transaction
from store.models import DueWork, Record

log = logging.getLogger("baton.engine")

ALARM_AFTER = timedelta(minutes=10)  # failing this long: log an error, keep trying
MAX_BACKOFF = timedelta(minutes=5)


class Pacer:
    """Keeps to Slack's about one message per second per channel."""

    def __init__(self, interval: float, *, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._interval = interval
        self._monotonic = monotonic
        self._sleep = sleep
        self._next: dict[str, float] = {}

    def wait(self, channel: str) -> None:
        if self._interval <= 0:
            return
        now = self._monotonic()
        ready = self._next.get(channel, now)
        if ready > now:
            self._sleep(ready - now)
            now = ready
        self._next[channel] = now + self._interval


# What Slack refuses for good, by what it makes unreachable. 429, 5xx, no answer and the
# TRANSIENT_ERRORS are retried with backoff, as they always were.
WORKSPACE_ERRORS = frozenset({"token_revoked", "account_inactive", "invalid_auth",
                              "not_authed", "token_expired", "not_installed"})
CHANNEL_ERRORS = frozenset({"channel_not_found", "not_in_channel", "is_archived",
                            "missing_scope", "restricted_action"})
# conversations.open for someone Baton cannot DM (deactivated, gone, a bot).
USER_ERRORS = frozenset({"user_not_found", "user_disabled", "user_not_visible",
                         "cannot_dm_bot"})
GONE_ERRORS = frozenset({"message_not_found", "thread_not_found"})  # a thread's parent
# The refusals Slack answers with that a retry can cure. Any other refusal of a message
# (invalid_blocks, no_permission, an error Baton has never heard of) is treated as this
# channel's: retrying it would stall the escalation, so the page is rerouted instead.
TRANSIENT_ERRORS = frozenset({"ratelimited", "rate_limited", "internal_error", "fatal_error",
                              "service_unavailable", "request_timeout"})


def classify(error: str) -> str:
    """"workspace" (nothing there can be reached: suspend), "channel" (this conversation:
    reroute or drop), "user" (this person: drop), "gone" (this thread: drop), or
    "transient" (retry later)."""
    if error in WORKSPACE_ERRORS:
        return "workspace"
    if error in CHANNEL_ERRORS:
        return "channel"
    if error in USER_ERRORS:
        return "user"
    if error in GONE_ERRORS:
        return "gone"
    if error in TRANSIENT_ERRORS or not error:
        return "transient"
    return "channel"


class SendFailed(Exception):
    def __init__(self, error: str, retry_after: float | None = None, *,
                 outage: bool = False, kind: str = "transient", code: str = "",
                 needed: str | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.retry_after = retry_after
        self.outage = outage  # Slack as a whole failed (5xx, no answer), not this message
        self.kind = kind  # see classify
        self.code = code or error  # Slack's error code (channel_not_found, ...)
        self.needed = needed  # the scope a missing_scope names

    @property
    def permanent(self) -> bool:
        return self.kind != "transient"


@dataclass
class Item:
    work: DueWork
    record: Record


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
    def __init__(self, *, sessions: sessionmaker[Session], client: WebClient, clock: Clock,
                 authority: Authority, records: RecordService, pacer: Pacer | None = None,
                 worker: str | None = None, batch: int = 500,
                 lease: timedelta = timedelta(minutes=5),
                 coordination_channel: Callable[[str], str | None] | None = None,
                 resume_at_start: bool = False) -> None:
        """`coordination_channel`: a workspace's coordination channel, where a page goes
        when its own channel cannot be reached (None: none). `resume_at_start`: resume the
        suspended work of every workspace on the first sweep (one token: a restart may
        bring a new one)."""
        self._sessions = sessions
        self._client = client
        self._clock = clock
        self._authority = authority
        self._cards = Cards(client, records)
        self._pacer = pacer or Pacer(1.0)
        self.worker = worker or worker_name()
        _OWN_WORKERS.add(self.worker)
        self._batch = batch
        self._lease = lease
        self._running = threading.Lock()
        self._stopping = threading.Event()
        self._takeover_at: float | None = None  # monotonic time of the last look
        # Slack down as a whole: nothing is sent before _hold_until, when one send tries it
        # again (the oldest due); see _slack_down.
        self._hold_until: datetime | None = None
        self._probes = 0
        self._coordination_channel = coordination_channel or (lambda team: None)
        self._resume_at_start = resume_at_start

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
            holders = s.scalars(select(DueWork.claimed_by).where(DueWork.state == "claimed")
                                .distinct()).all()
        dead = [w for w in holders if w and w != self.worker and worker_is_dead(w)]
        if not dead:
            return
        with transaction(self._sessions) as s:
            taken = s.execute(
                update(DueWork).where(DueWork.state == "claimed",
                                      DueWork.claimed_by.in_(dead))
                .values(state="pending", claimed_by=None, claimed_until=None)
                .execution_options(synchronize_session=False)).rowcount
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
            given = s.execute(
                update(DueWork).where(DueWork.state == "claimed",
                                      DueWork.claimed_by == self.worker)
                .values(state="pending", claimed_by=None, claimed_until=None)
                .execution_options(synchronize_session=False)).rowcount
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
        pages_by_key: dict[tuple[str, str, int, str, str], list[Item]] = defaultdict(list)
        lines: list[Item] = []  # thread lines: after the pages, which matter more
        held: list[int] = []  # sends put off while Slack is down
        suspended: set[str] = set()  # workspaces whose token Slack refused just now
        for item in items:
            if self._stopping.is_set():
                return  # run_due gives the rest back
            kind = item.work.kind
            if kind == "thread_line":
                lines.append(item)
                continue
            if item.record.team_id in suspended:
                continue  # suspended with the rest of its workspace
            if kind in ("nudge", "reminder") and self._holding():
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
                        key = self._page_key(item)
                        if key is None:
                            self._finish(item.work.id, state="cancelled")
                        else:
                            pages_by_key[key].append(item)
            except SendFailed as exc:
                self._failed([item.work.id], item.record.team_id, exc, suspended)
            except Exception as exc:
                log.exception("due work %s failed", item.work.id)
                self._release([item.work.id], SendFailed(type(exc).__name__))
        for (team, channel, tier, mention, _name), group in pages_by_key.items():
            for start in range(0, len(group), pages.PAGE_GROUP):
                if self._stopping.is_set():
                    return  # run_due gives the rest back
                if team in suspended:
                    break
                chunk = group[start : start + pages.PAGE_GROUP]
                if self._holding():
                    held += [i.work.id for i in chunk]
                    continue
                try:
                    with team_scope(team):
                        self._page(channel, tier, mention, chunk)
                except SendFailed as exc:
                    self._failed([i.work.id for i in chunk], team, exc, suspended)
                except Exception as exc:
                    log.exception("page to %s failed", channel)
                    self._release([i.work.id for i in chunk], SendFailed(type(exc).__name__))
        for item in lines:
            if self._stopping.is_set():
                return
            team = item.record.team_id
            if team in suspended:
                continue
            if self._holding():
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
        if held:
            self._defer(held)

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
                elif exc.outage and self._hold_until is not None:
                    delay = max(self._hold_until - now, timedelta(0))
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

    def _send(self, method: Callable[..., Any], **kwargs: Any) -> Any:
        channel = kwargs.get("channel")
        if channel:  # a thread's line counts against its channel's rate like any post
            self._pacer.wait(str(channel))
        try:
            resp = method(**kwargs)
        except SlackApiError as exc:
            status = exc.response.status_code
            code = str(exc.response.get("error", "") or "")
            retry_after = None
            kind = "transient"
            if status == 429:
                retry_after = float(exc.response.headers.get("Retry-After", 1) or 1)
            elif status >= 500:
                self._slack_down()
            else:
                kind = classify(code)
                if kind != "transient":
                    self._hold_until, self._probes = None, 0  # Slack answers
            needed = exc.response.get("needed") if code == "missing_scope" else None
            raise SendFailed(f"{status} {code}".strip(), retry_after, outage=status >= 500,
                             kind=kind, code=code, needed=needed and str(needed)) from None
        except NotInstalled:  # no token for the workspace (uninstalled): as a revoked one
            raise SendFailed("not_installed", kind="workspace") from None
        except OSError as exc:  # no answer at all: refused, reset, timed out
            self._slack_down()
            raise SendFailed(type(exc).__name__, outage=True) from None
        except (SlackClientError, ValueError) as exc:
            raise SendFailed(type(exc).__name__) from None
        self._hold_until, self._probes = None, 0  # Slack answers
        return resp

    # --- Slack down as a whole ---
    #
    # Backing off item by item, the longest-failing (oldest) items would wait longest, so
    # after an outage the newest pages went out first and the most overdue up to
    # MAX_BACKOFF later. Instead, while Slack fails as a whole the engine holds every send,
    # and each failed or held item is due again at the same moment; then one send, the
    # oldest due, tries Slack, and when it answers the backlog goes out in deadline order.

    def _slack_down(self) -> None:
        self._probes += 1
        wait = min(MAX_BACKOFF, timedelta(seconds=5 * 2 ** min(self._probes - 1, 10)))
        self._hold_until = self._clock.now() + wait

    def _holding(self) -> bool:
        return self._hold_until is not None and self._clock.now() < self._hold_until

    def _defer(self, ids: list[int]) -> None:
        """Slack is down: give claimed sends back untried (no attempt counted), due again
        when the engine next tries Slack."""
        until = self._hold_until
        assert until is not None
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
        with transaction(self._sessions) as s, s.no_autoflush:
            # The records first, then their due work (see queries.records_by_ids).
            records = queries.records_by_ids(s, ids=[i.work.record_id for i in items],
                                             lock=True)
            works = queries.claimed_by(s, ids=[i.work.id for i in items], worker=self.worker,
                                       lock=True)
            for work in sorted(works.values(), key=lambda w: (w.due_at, w.id)):
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
                elif reason in ("review", "safeguard") and is_open(record.status):
                    queries.add_event(s, record=record, team_id=record.team_id, at=now,
                                      actor=BATON, kind=f"{reason}_due",
                                      note="next review time reached" if reason == "review"
                                      else "interim safeguard past its intended end")
                    page = True
                if page:
                    planned = page_after(snapshot_ladder(record.ladder), 1, work.due_at,
                                         ZoneInfo(record.tz or "UTC"), reason=reason)
                    if planned is not None:
                        queries.add_work(s, record=record, kind="page", due_at=planned.due_at,
                                         now=now, tier=1, reason=reason)
                work.state, work.sent_at = "done", now
        for change in changes:
            with team_scope(change.record.team_id):
                self._cards.changed(change)

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
            if is_open(record.status) and not answered:
                ladder = snapshot_ladder(record.ladder)
                tier = min((work.tier or 1) + 1, len(ladder.tiers))
                queries.add_work(s, record=record, kind="page", due_at=work.due_at, now=now,
                                 tier=tier, reason=work.reason)
                queries.add_event(s, record=record, team_id=record.team_id, at=now,
                                  actor=BATON, kind="escalation_resumed", field="tier",
                                  after=tier, note="acknowledged, but no interim action or "
                                  "next step recorded in time")
            work.state, work.sent_at = "done", now

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
                waited=pages.format_duration(now - page.sent_at) if applies and page
                and page.sent_at else "")
        else:
            applies = coordinator != record.created_by  # they logged it: they know
            text = roster_blocks.nudge_same_day(record)
        if not mine or not is_open(record.status) or not applies or coordinator is None:
            self._finish(work.id, state="cancelled")
            return
        try:
            resp = self._dm(coordinator, text=text,
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
            resp = self._dm(record.owner_id, text=pages.reminder_text(record, now),
                            blocks=as_dicts(pages.reminder_blocks(record, now)))
        except SendFailed as exc:
            if exc.kind not in ("user", "channel", "gone"):
                raise
            self._dm_undeliverable(item, record.owner_id, exc, what="the owner's reminder")
            return
        left = pages.format_duration(record.due_at - now)
        with transaction(self._sessions) as s:
            w = self._still_mine(s, item.work.id, lock=True)
            if w is not None:
                w.state, w.sent_at = "done", now
                w.channel_id, w.message_ts = str(resp["channel"]), str(resp["ts"])
            queries.add_event(s, record=record, team_id=record.team_id, at=now, actor=BATON,
                              kind="reminded", note=f"DM to the owner, {left} left")
            self._plan_line(s, record, record.card_channel, record.card_ts,
                            f"Reminder sent to <@{record.owner_id}>: {left} left.", now=now,
                            prefix=False)

    # --- direct messages and thread lines ---

    def _dm(self, user: str, *, text: str, blocks: list[dict[str, Any]]) -> Any:
        dm = self._send(self._client.conversations_open, users=user)
        return self._send(self._client.chat_postMessage, channel=dm["channel"]["id"],
                          text=text, blocks=blocks)

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
            self._send(self._client.chat_postMessage, channel=work.channel_id,
                       thread_ts=work.message_ts, text=work.text or "")
        except SendFailed as exc:
            if exc.kind not in ("channel", "gone", "user"):
                raise
            log.warning("thread line for %s into thread %s in %s dropped: Slack answered %s",
                        item.record.reference, work.message_ts, work.channel_id, exc.code)
            self._finish(work.id, state="cancelled", error=exc.error)
            return
        self._finish(work.id)

    def _page_key(self, item: Item) -> tuple[str, str, int, str, str] | None:
        """Pages group by workspace, where they go, the tier, whom they mention and the
        tier's name (two ladders may name their tier 2 differently)."""
        record, work = item.record, item.work
        if not is_open(record.status):
            return None
        if work.reason == "overdue" and record.status != HandoffStatus.OVERDUE:
            return None  # the partner acknowledged, late: the climb stops
        tier = snapshot_ladder(record.ladder).tier(work.tier)
        mention = self._authority.mention(tier.target, record, now=self._clock.now())
        return (record.team_id, tier.channel or record.channel_id, work.tier or 1, mention,
                tier.name)

    def _page(self, channel: str, tier_no: int, mention: str, group: list[Item]) -> None:
        now = self._clock.now()
        with self._sessions() as s:
            mine = queries.claimed_by(s, ids=[i.work.id for i in group], worker=self.worker)
        group = [i for i in group if i.work.id in mine]
        if not group:
            return
        tier = snapshot_ladder(group[0].record.ladder).tier(tier_no)
        late = any(is_late(i.work.due_at, now) for i in group)
        items = [(i.work, i.record) for i in group]
        try:
            resp = self._send(
                self._client.chat_postMessage, channel=channel,
                text=pages.page_text(mention, tier.name, tier_no, len(group), late=late),
                blocks=as_dicts(pages.page_blocks(target=mention, tier_name=tier.name,
                                                  tier=tier_no, items=items, now=now,
                                                  late=late)),
            )
        except SendFailed as exc:
            if exc.kind not in ("channel", "user"):
                raise  # transient: retried; the workspace's token: suspended
            self._reroute(channel, tier_no, mention, group, exc)
            return
        ts, posted_in = str(resp["ts"]), str(resp["channel"])
        self._paged(group, tier_no, {i.work.id: (posted_in, ts) for i in group},
                    where=f"in <#{posted_in}>", note=f"{tier.name}, in channel {posted_in}")

    def _reroute(self, channel: str, tier_no: int, mention: str, group: list[Item],
                 failure: SendFailed) -> None:
        """Slack will not take the page in `channel` (Baton not in it, archived, gone, a
        missing permission): send it at once where it can be read, in this order: the
        workspace's coordination channel, else by DM to the records' owners and to the
        coordinator of the day (never back to `channel`). The same rows and buttons, and a
        line saying why and how to fix it. Reaching none of them, the page is recorded as
        undeliverable and the climb goes on (_undeliverable)."""
        now = self._clock.now()
        team = group[0].record.team_id
        tier = snapshot_ladder(group[0].record.ladder).tier(tier_no)
        late = any(is_late(i.work.due_at, now) for i in group)
        notice = pages.unreachable_line(channel, failure.code, needed=failure.needed)
        tried: list[str] = []  # where else it could not go, and why
        locations: dict[int, tuple[str, str]] = {}  # work id -> where its page went
        where = ""

        def post(target: str, subset: list[Item]) -> tuple[str, str] | None:
            items = [(i.work, i.record) for i in subset]
            try:
                resp = self._send(
                    self._client.chat_postMessage, channel=target,
                    text=pages.page_text(mention, tier.name, tier_no, len(subset), late=late)
                    + " " + notice,
                    blocks=as_dicts(pages.page_blocks(target=mention, tier_name=tier.name,
                                                      tier=tier_no, items=items, now=now,
                                                      late=late, notice=notice)))
            except SendFailed as exc:
                if exc.kind == "workspace" or (exc.kind == "transient" and not locations):
                    raise  # suspended, or tried again later (from the top)
                tried.append(f"{target}: {exc.code}")
                return None
            return str(resp["channel"]), str(resp["ts"])

        coordination = self._coordination_channel(team)
        if not coordination:
            tried.append("no coordination channel set")
        elif coordination != channel:
            at = post(coordination, group)
            if at is not None:
                locations.update((i.work.id, at) for i in group)
                where = f"in <#{at[0]}>"
        if not locations:
            coordinator = self._authority.roster.coordinator(team_id=team, when=now)
            people: list[str] = []
            for who in [*(i.record.owner_id for i in group), coordinator]:
                if who and who != channel and who not in people:
                    people.append(who)
            reached: list[str] = []
            for who in people:
                # The coordinator sees every record; an owner, their own.
                subset = group if who == coordinator else \
                    [i for i in group if i.record.owner_id == who]
                try:
                    dm = self._send(self._client.conversations_open, users=who)
                except SendFailed as exc:
                    if exc.kind == "workspace" or (exc.kind == "transient" and not locations):
                        raise
                    tried.append(f"DM to {who}: {exc.code}")
                    continue
                at = post(str(dm["channel"]["id"]), subset)
                if at is None:
                    continue
                reached.append(who)
                for i in subset:  # the coordinator's DM holds them all: it wins
                    if who == coordinator or i.work.id not in locations:
                        locations[i.work.id] = at
            where = "by DM to " + " and ".join(f"<@{u}>" for u in reached)
        refs = ", ".join(i.record.reference for i in group)
        if not locations:
            self._undeliverable(group, tier_no, channel, failure, tried)
            log.error("page tier %s (%s) for %s could not be posted in %s (%s) and no fallback "
                      "could be reached (%s); the ladder goes on. To fix: %s", tier_no,
                      tier.name, refs, channel, failure.code, "; ".join(tried) or "none",
                      pages.unreachable_fix(channel, failure.code))
            return
        reason = pages.unreachable_reason(failure.code, needed=failure.needed)
        self._paged(group, tier_no, locations, where=where,
                    note=f"{tier.name}, {_plain(where)} (rerouted)",
                    rerouted=(channel, failure, reason, notice))
        log.error("page tier %s (%s) for %s could not be posted in %s (%s): sent %s instead. "
                  "To fix: %s", tier_no, tier.name, refs, channel, failure.code,
                  _plain(where),
                  pages.unreachable_fix(channel, failure.code))

    def _paged(self, group: list[Item], tier_no: int,
               locations: dict[int, tuple[str, str]], *, where: str, note: str,
               rerouted: tuple[str, SendFailed, str, str] | None = None) -> None:
        """Record a page that went out: each item done where its message is (the
        Acknowledge button and the page's refresh find it there), the tier raised, the
        next tier and the coordinator's nudge planned, and its thread lines planned, all in
        one transaction."""
        now = self._clock.now()
        tier = snapshot_ladder(group[0].record.ladder).tier(tier_no)
        line = f"escalation tier {tier_no} ({escape(tier.name)}) paged {where}"
        if rerouted is not None:
            line += f" (Baton could not post in <#{rerouted[0]}>: {rerouted[2]})"
        line += "."
        with transaction(self._sessions) as s, s.no_autoflush:
            ids = [i.work.id for i in group]
            # The records first, then their due work (see queries.records_by_ids).
            records = queries.records_by_ids(s, ids=[i.work.record_id for i in group],
                                             lock=True)
            still = queries.claimed_by(s, ids=ids, worker=self.worker, lock=True)
            for w in queries.works_by_ids(s, ids=[i for i in ids if i not in still]).values():
                # Acknowledged, resolved or taken over while the message was on its way: it
                # was sent, so remember where (the page can be refreshed), but plan nothing.
                w.channel_id, w.message_ts = locations[w.id]
            # Thread lines by thread: a thread hears each climb once, naming its records
            # (the first page's thread and the card's may be one; a group shares one).
            threads: dict[tuple[str, str], list[Record]] = {}
            sent_to = set(locations.values())
            for w in still.values():
                record = records[w.record_id]
                targets: list[tuple[str | None, str | None]] = []
                if tier_no > 1:  # the first page's thread hears of each climb
                    first = queries.first_page(s, record_id=record.id)
                    if first is not None:
                        targets.append((first.channel_id, first.message_ts))
                targets.append((record.card_channel, record.card_ts))
                for channel, ts in targets:
                    if not channel or not ts or (channel, ts) in sent_to:
                        continue
                    if rerouted is not None and channel == rerouted[0]:
                        continue  # the channel Baton could not post in
                    refs = threads.setdefault((channel, ts), [])
                    if record not in refs:
                        refs.append(record)
                w.state, w.sent_at = "done", now
                w.channel_id, w.message_ts = locations[w.id]
                if rerouted is not None:
                    w.last_error = f"{rerouted[1].code} in {rerouted[0]}"[:200]
                    w.text = rerouted[3]  # the notice, kept when the page is re-rendered
                queries.raise_escalation_tier(s, record_id=record.id, tier=tier_no)
                if rerouted is not None:
                    queries.add_event(
                        s, record=record, team_id=record.team_id, at=now, actor=BATON,
                        kind="page_undeliverable", field="channel", before=rerouted[0],
                        after=w.channel_id,
                        note=f"tier {tier_no} ({tier.name}): Slack answered "
                             f"{rerouted[1].code} for channel {rerouted[0]} ({rerouted[2]}); "
                             f"sent instead {_plain(where)}")
                queries.add_event(s, record=record, team_id=record.team_id, at=now,
                                  actor=BATON, kind="paged", field="tier", after=tier_no,
                                  note=note + (", late" if is_late(w.due_at, now) else ""))
                self._plan_next(s, record, w, tier_no, now=now, nudge=True)
            for (channel, ts), refs in threads.items():
                names = ", ".join(r.reference for r in refs)
                queries.add_thread_line(s, record=refs[0], channel_id=channel, thread_ts=ts,
                                        text=fit(f"{names}: {line}", SECTION_LIMIT), now=now,
                                        tier=tier_no)

    def _plan_next(self, s: Session, record: Record, w: DueWork, tier_no: int, *,
                   now: datetime, nudge: bool) -> None:
        nxt = page_after(snapshot_ladder(record.ladder), tier_no + 1, w.due_at,
                         ZoneInfo(record.tz or "UTC"), reason=w.reason or "overdue")
        if nxt is not None:
            queries.add_work(s, record=record, kind="page", due_at=nxt.due_at, now=now,
                             tier=nxt.tier, reason=nxt.reason)
        if not nudge:
            return
        # The coordinator of the day hears of a page still unacknowledged halfway to the
        # next tier (or, on the last tier, halfway through its own delay), counted from
        # when the page went out: a page sent late while catching up gets its full
        # half-delay, not a nudge saying it waited 0s.
        wait = (nxt.due_at - w.due_at if nxt is not None
                else snapshot_ladder(record.ladder).tier(tier_no).after)
        sent_from = now if is_late(w.due_at, now) else w.due_at
        if wait > timedelta(0):
            queries.add_work(s, record=record, kind="nudge", due_at=sent_from + wait / 2,
                             now=now, tier=tier_no, reason="page")

    def _undeliverable(self, group: list[Item], tier_no: int, channel: str,
                       failure: SendFailed, tried: list[str]) -> None:
        """The page reached neither its channel nor any fallback. It is recorded (an audit
        event per record, the reason on the due work) and the next tier is planned as if
        it had been paged, so the climb never stalls on one channel: the next tier is
        another person, and often another channel. The tier is not raised (no message
        went out: the page before it can still be acknowledged) and no nudge is planned
        (the coordinator could not be reached either)."""
        now = self._clock.now()
        tier = snapshot_ladder(group[0].record.ladder).tier(tier_no)
        reason = pages.unreachable_reason(failure.code, needed=failure.needed)
        with transaction(self._sessions) as s, s.no_autoflush:
            records = queries.records_by_ids(s, ids=[i.work.record_id for i in group],
                                             lock=True)
            still = queries.claimed_by(s, ids=[i.work.id for i in group], worker=self.worker,
                                       lock=True)
            for w in still.values():
                record = records[w.record_id]
                w.state, w.claimed_by, w.claimed_until = "undeliverable", None, None
                w.last_error = f"{failure.code} in {channel}"[:200]
                queries.add_event(
                    s, record=record, team_id=record.team_id, at=now, actor=BATON,
                    kind="page_undeliverable", field="channel", before=channel, after=None,
                    note=f"tier {tier_no} ({tier.name}): Slack answered {failure.code} for "
                         f"channel {channel} ({reason}); no fallback could be reached ("
                         + ("; ".join(tried) or "none") + "); the next tier follows on time")
                self._plan_next(s, record, w, tier_no, now=now, nudge=False)


def _plain(text: str) -> str:
    """Slack's <#C…> and <@U…> as bare ids, for the audit trail and the log."""
    return text.replace("<#", "").replace("<@", "").replace(">", "")
