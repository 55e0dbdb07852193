"""Pages, for the time engine (scheduler/engine.py): due pages grouped into one message per
workspace, channel, tier and audience, sent (scheduler/sending.py's PageSender, which
reroutes a page its channel will not take) and recorded: the tier raised, the next tier and
the coordinator's nudge planned, thread lines planned; or, reaching nobody, recorded as
undeliverable with the climb going on."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.domain.records import HandoffStatus, is_open
from bot.domain.schedule import is_late, page_after
from bot.services.escalation import BATON, Authority, ladder_of
from bot.slack.blocks import pages
from bot.slack.blocks.records import SECTION_LIMIT, fit
from scheduler.sending import Item, Paged, PageSender, SendFailed, Unreached
from store import queries
from store.db import transaction
from store.models import DueWork, Record

log = logging.getLogger("baton.engine")

PageKey = tuple[str, str, int, str, str]  # workspace, channel, tier, mention, tier name


class Paging:
    """The page kind of due work, for one engine (`worker`, whose claims it checks)."""

    def __init__(self, *, sessions: sessionmaker[Session], clock: Clock, authority: Authority,
                 pages_out: PageSender, worker: str) -> None:
        self._sessions = sessions
        self._clock = clock
        self._authority = authority
        self._pages_out = pages_out
        self._worker = worker

    def key(self, item: Item) -> PageKey | None:
        """Pages group by workspace, where they go, the tier, whom they mention and the
        tier's name (two ladders may name their tier 2 differently)."""
        record, work = item.record, item.work
        if not is_open(record.status):
            return None
        if work.reason == "overdue" and record.status != HandoffStatus.OVERDUE:
            return None  # the partner acknowledged, late: the climb stops
        tier = ladder_of(record).tier(work.tier)
        mention = pages.mention(self._authority.tier_audience(tier, record,
                                                              now=self._clock.now()))
        return (record.team_id, tier.channel or record.channel_id, work.tier or 1, mention,
                tier.name)

    def page(self, channel: str, tier_no: int, mention: str, group: list[Item]) -> None:
        """Send one page message for `group` (those still claimed by this engine) and
        record it."""
        now = self._clock.now()
        with self._sessions() as s:
            mine = queries.claimed_by(s, ids=[i.work.id for i in group], worker=self._worker)
        group = [i for i in group if i.work.id in mine]
        if not group:
            return
        tier = ladder_of(group[0].record).tier(tier_no)
        late = any(is_late(i.work.due_at, now) for i in group)
        sent = self._pages_out.send(channel, tier_no, tier.name, mention, group, now=now,
                                    late=late)
        if isinstance(sent, Unreached):
            self._undeliverable(group, tier_no, channel, sent.failure, sent.tried)
            log.error("page tier %s (%s) for %s could not be posted in %s (%s) and no fallback "
                      "could be reached (%s); the ladder goes on. To fix: %s", tier_no,
                      tier.name, _refs(group), channel, sent.failure.code,
                      "; ".join(sent.tried) or "none",
                      pages.unreachable_fix(channel, sent.failure.code))
            return
        rerouted = sent.rerouted
        if rerouted is None:
            posted_in = sent.locations[group[0].work.id][0]
            self._paged(group, tier_no, sent, note=f"{tier.name}, in channel {posted_in}")
            # (The audit keeps the bare ID; /baton show names it <#C…>: blocks/audit.py.)
            return
        self._paged(group, tier_no, sent, note=f"{tier.name}, {_plain(sent.where)} (rerouted)")
        log.error("page tier %s (%s) for %s could not be posted in %s (%s): sent %s instead. "
                  "To fix: %s", tier_no, tier.name, _refs(group), channel,
                  rerouted.failure.code, _plain(sent.where),
                  pages.unreachable_fix(channel, rerouted.failure.code))

    def _paged(self, group: list[Item], tier_no: int, sent: Paged, *, note: str) -> None:
        """Record a page that went out: each item done where its message is (the
        Acknowledge button and the page's refresh find it there), the tier raised, the
        next tier and the coordinator's nudge planned, and its thread lines planned, all in
        one transaction."""
        now = self._clock.now()
        locations, rerouted = sent.locations, sent.rerouted
        tier = ladder_of(group[0].record).tier(tier_no)
        line = pages.paged_line(tier_no, tier.name, sent.where, unreachable=None if rerouted
                                is None else (rerouted.channel, rerouted.reason))
        with transaction(self._sessions) as s, s.no_autoflush:
            ids = [i.work.id for i in group]
            # The records first, then their due work (see queries.records_by_ids).
            records = queries.records_by_ids(s, ids=[i.work.record_id for i in group],
                                             lock=True)
            still = queries.claimed_by(s, ids=ids, worker=self._worker, lock=True)
            for w in queries.works_by_ids(s, ids=[i for i in ids if i not in still]).values():
                # Acknowledged, resolved or taken over while the message was on its way: it
                # was sent, so remember where (the page can be refreshed), but plan nothing.
                w.channel_id, w.message_ts = locations[w.id]
            # Thread lines by thread: a thread hears each climb once, naming its records
            # (the first page's thread and the card's may be one; a group shares one).
            threads: dict[tuple[str, str], list[Record]] = {}
            for w in still.values():
                record = records[w.record_id]
                _gather_threads(s, record, tier_no, sent, threads)
                w.state, w.sent_at = "done", now
                w.channel_id, w.message_ts = locations[w.id]
                if rerouted is not None:
                    w.last_error = f"{rerouted.failure.code} in {rerouted.channel}"[:200]
                    w.text = rerouted.notice  # kept when the page is re-rendered
                queries.raise_escalation_tier(s, record_id=record.id, tier=tier_no)
                if rerouted is not None:
                    queries.add_event(
                        s, record=record, team_id=record.team_id, at=now, actor=BATON,
                        kind="page_undeliverable", field="channel", before=rerouted.channel,
                        after=w.channel_id,
                        note=f"tier {tier_no} ({tier.name}): Slack answered "
                             f"{rerouted.failure.code} for channel {rerouted.channel} "
                             f"({rerouted.reason}); sent instead {_plain(sent.where)}")
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
        nxt = page_after(ladder_of(record), tier_no + 1, w.due_at,
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
                else ladder_of(record).tier(tier_no).after)
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
        tier = ladder_of(group[0].record).tier(tier_no)
        reason = pages.unreachable_reason(failure.code, needed=failure.needed)
        with transaction(self._sessions) as s, s.no_autoflush:
            records = queries.records_by_ids(s, ids=[i.work.record_id for i in group],
                                             lock=True)
            still = queries.claimed_by(s, ids=[i.work.id for i in group], worker=self._worker,
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


def _gather_threads(s: Session, record: Record, tier_no: int, sent: Paged,
                    threads: dict[tuple[str, str], list[Record]]) -> None:
    """Add `record` to the threads that hear of its page (`threads`, by thread): its card's
    and, from tier 2 on, its first page's when that is in another channel (in the card's
    channel, the card's thread already says it: a climb is told once a channel); never the
    page's own message, nor a thread in the channel Baton could not post in."""
    targets: list[tuple[str | None, str | None]] = []
    if tier_no > 1:  # the first page's thread hears of each climb
        first = queries.first_page(s, record_id=record.id)
        if first is not None and not (record.card_ts and first.channel_id == record.card_channel):
            targets.append((first.channel_id, first.message_ts))
    targets.append((record.card_channel, record.card_ts))
    sent_to = set(sent.locations.values())
    for channel, ts in targets:
        if not channel or not ts or (channel, ts) in sent_to:
            continue
        if sent.rerouted is not None and channel == sent.rerouted.channel:
            continue  # the channel Baton could not post in
        refs = threads.setdefault((channel, ts), [])
        if record not in refs:
            refs.append(record)


def _plain(text: str) -> str:
    """Slack's <#C…> and <@U…> as bare ids, for the audit trail and the log."""
    return text.replace("<#", "").replace("<@", "").replace(">", "")


def _refs(group: list[Item]) -> str:
    return ", ".join(i.record.reference for i in group)
