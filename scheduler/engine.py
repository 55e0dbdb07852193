"""The time engine: find due work in the database, claim it, send it, record it.

APScheduler only wakes it (scheduler/wake.py); the database holds every deadline. Work is
claimed before it is sent and marked after, so a crash can at most resend what was in
flight, and several engines can share one PostgreSQL database (SKIP LOCKED claims).

A claim is held for a lease. An engine that is stopped gives its unsent claims back at once
(stop()); the claims of a process that died on this host are taken back by the next engine
there (a restart) on its first sweep, not left to the lease. While Slack fails as a whole
(5xx, no answer) every send is held and retried together, oldest first.
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

from bot import pages, roster_blocks
from bot.blocks import escape
from bot.cards import Cards, as_dicts
from bot.clock import Clock
from bot.domain.ladder import snapshot_ladder
from bot.domain.records import Action, HandoffStatus, RecordKind, is_open, transition
from bot.domain.schedule import is_late, page_after
from bot.escalation import BATON, Authority
from bot.services import Change, RecordService
from bot.workspaces import team_scope
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


class SendFailed(Exception):
    def __init__(self, error: str, retry_after: float | None = None, *,
                 outage: bool = False) -> None:
        super().__init__(error)
        self.error = error
        self.retry_after = retry_after
        self.outage = outage  # Slack as a whole failed (5xx, no answer), not this message


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
                 lease: timedelta = timedelta(minutes=5)) -> None:
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
        held: list[int] = []  # sends put off while Slack is down
        for item in items:
            if self._stopping.is_set():
                return  # run_due gives the rest back
            kind = item.work.kind
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
                self._release([item.work.id], exc)
            except Exception as exc:
                log.exception("due work %s failed", item.work.id)
                self._release([item.work.id], SendFailed(type(exc).__name__))
        for (team, channel, tier, mention, _name), group in pages_by_key.items():
            for start in range(0, len(group), pages.PAGE_GROUP):
                if self._stopping.is_set():
                    return  # run_due gives the rest back
                chunk = group[start : start + pages.PAGE_GROUP]
                if self._holding():
                    held += [i.work.id for i in chunk]
                    continue
                try:
                    with team_scope(team):
                        self._page(channel, tier, mention, chunk)
                except SendFailed as exc:
                    self._release([i.work.id for i in chunk], exc)
                except Exception as exc:
                    log.exception("page to %s failed", channel)
                    self._release([i.work.id for i in chunk], SendFailed(type(exc).__name__))
        if held:
            self._defer(held)

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
                ts: str | None = None) -> None:
        with transaction(self._sessions) as s:
            w = self._still_mine(s, work_id, lock=True)
            if w is not None:
                w.state, w.sent_at = state, self._clock.now()
                w.channel_id, w.message_ts = channel or w.channel_id, ts or w.message_ts

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
        if channel and not kwargs.get("thread_ts"):
            self._pacer.wait(str(channel))
        try:
            resp = method(**kwargs)
        except SlackApiError as exc:
            status = exc.response.status_code
            retry_after = None
            if status == 429:
                retry_after = float(exc.response.headers.get("Retry-After", 1) or 1)
            elif status >= 500:
                self._slack_down()
            raise SendFailed(f"{status} {exc.response.get('error', '')}".strip(),
                             retry_after, outage=status >= 500) from None
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
                    changes.append(Change(record, pages.overdue_line(record)))
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
        dm = self._send(self._client.conversations_open, users=coordinator)
        resp = self._send(self._client.chat_postMessage, channel=dm["channel"]["id"], text=text,
                          blocks=as_dicts([roster_blocks.nudge_section(text, record)]))
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
        dm = self._send(self._client.conversations_open, users=record.owner_id)
        resp = self._send(self._client.chat_postMessage, channel=dm["channel"]["id"],
                          text=pages.reminder_text(record, now),
                          blocks=as_dicts(pages.reminder_blocks(record, now)))
        with transaction(self._sessions) as s:
            w = self._still_mine(s, item.work.id, lock=True)
            if w is not None:
                w.state, w.sent_at = "done", now
                w.channel_id, w.message_ts = str(resp["channel"]), str(resp["ts"])
            queries.add_event(s, record=record, team_id=record.team_id, at=now, actor=BATON,
                              kind="reminded",
                              note=f"DM to the owner, {pages.format_duration(record.due_at - now)}"
                                   " left")
        if record.card_ts and record.card_channel:
            try:
                self._client.chat_postMessage(
                    channel=record.card_channel, thread_ts=record.card_ts,
                    text=f"Reminder sent to <@{record.owner_id}>: "
                         f"{pages.format_duration(record.due_at - now)} left.")
            except Exception as exc:  # noqa: BLE001 - a thread line is best effort, logged
                log.warning("reminder thread line for %s failed: %s", record.reference, exc)

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
        resp = self._send(
            self._client.chat_postMessage, channel=channel,
            text=pages.page_text(mention, tier.name, tier_no, len(group), late=late),
            blocks=as_dicts(pages.page_blocks(target=mention, tier_name=tier.name,
                                              tier=tier_no, items=items, now=now, late=late)),
        )
        ts, posted_in = str(resp["ts"]), str(resp["channel"])
        line = f"escalation tier {tier_no} ({escape(tier.name)}) paged in <#{posted_in}>."
        threads: list[tuple[str, str, str]] = []
        with transaction(self._sessions) as s, s.no_autoflush:
            ids = [i.work.id for i in group]
            # The records first, then their due work (see queries.records_by_ids).
            records = queries.records_by_ids(s, ids=[i.work.record_id for i in group],
                                             lock=True)
            still = queries.claimed_by(s, ids=ids, worker=self.worker, lock=True)
            for w in queries.works_by_ids(s, ids=[i for i in ids if i not in still]).values():
                # Acknowledged, resolved or taken over while the message was on its way: it
                # was sent, so remember where (the page can be refreshed), but plan nothing.
                w.channel_id, w.message_ts = posted_in, ts
            for w in still.values():
                record = records[w.record_id]
                if tier_no > 1:  # the first page's thread hears of each climb
                    first = queries.first_page(s, record_id=record.id)
                    if first is not None and first.message_ts != ts:
                        threads.append((str(first.channel_id), str(first.message_ts),
                                        f"{record.reference}: {line}"))
                w.state, w.sent_at, w.channel_id, w.message_ts = "done", now, posted_in, ts
                queries.raise_escalation_tier(s, record_id=record.id, tier=tier_no)
                queries.add_event(s, record=record, team_id=record.team_id, at=now,
                                  actor=BATON, kind="paged", field="tier", after=tier_no,
                                  note=f"{tier.name}, in channel {posted_in}"
                                  + (", late" if is_late(w.due_at, now) else ""))
                nxt = page_after(snapshot_ladder(record.ladder), tier_no + 1, w.due_at,
                                 ZoneInfo(record.tz or "UTC"), reason=w.reason or "overdue")
                if nxt is not None:
                    queries.add_work(s, record=record, kind="page", due_at=nxt.due_at, now=now,
                                     tier=nxt.tier, reason=nxt.reason)
                # The coordinator of the day hears of a page still unacknowledged halfway
                # to the next tier (or, on the last tier, halfway through its own delay),
                # counted from when the page went out: a page sent late while catching up
                # gets its full half-delay, not a nudge saying it waited 0s.
                wait = (nxt.due_at - w.due_at if nxt is not None
                        else snapshot_ladder(record.ladder).tier(tier_no).after)
                sent_from = now if is_late(w.due_at, now) else w.due_at
                if wait > timedelta(0):
                    queries.add_work(s, record=record, kind="nudge",
                                     due_at=sent_from + wait / 2, now=now, tier=tier_no,
                                     reason="page")
                if record.card_ts and record.card_channel:
                    threads.append((record.card_channel, record.card_ts,
                                    f"{record.reference}: {line}"))
        for thread_channel, thread_ts, text in threads:
            try:
                self._client.chat_postMessage(channel=thread_channel, thread_ts=thread_ts,
                                              text=text)
            except Exception as exc:  # noqa: BLE001 - a thread line is best effort, logged
                log.warning("thread line failed: %s", exc)

