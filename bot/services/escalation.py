"""Escalation, the human side: who a tier pages, who may acknowledge a page, acknowledging,
recording the interim action, and keeping the page message up to date.

A use case: it decides and records; it reaches Slack only through bot/services/delivery.py's
Delivery (refresh_page, and how Slack names people and quotes configured words), which
bot/slack/delivery.py implements. The time engine (scheduler/engine.py) sends the pages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.domain.edits import FieldChange
from bot.domain.ladder import Ladder, Target, Tier, snapshot_ladder
from bot.domain.permissions import Act
from bot.domain.records import DomainError, RecordKind, Risk, is_open
from bot.domain.schedule import initial_work
from bot.services.guard import Findings
from bot.services.permissions import Permissions
from bot.services.records import (
    Change,
    Happened,
    NotFound,
    RecordService,
    ThreadEvent,
    audit_overrides,
    write_changes,
)
from store import queries
from store.db import transaction
from store.models import DueWork, Record

if TYPE_CHECKING:
    from bot.services.delivery import Delivery

BATON = "baton"  # the actor of what the engine does by itself


class MissingRow(RuntimeError):
    """A record or due item read a moment ago is gone, or belongs to another workspace:
    an invariant broken (records and due work are never deleted)."""


class CoordinatorOfTheDay(Protocol):
    def coordinator(self, *, team_id: str, when: datetime) -> str | None: ...


class ConfiguredCoordinator:
    """The coordinator of the day from settings, until a rota names one."""

    def __init__(self, user_id: str | None) -> None:
        self._user = user_id

    def coordinator(self, *, team_id: str, when: datetime) -> str | None:
        return self._user


@dataclass(frozen=True)
class Audience:
    """Whom a page names: people (user IDs) and user groups (S… IDs). Nobody named means
    the whole channel (@here). bot/slack/blocks/pages.py's mention() writes it for Slack."""

    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    @property
    def channel(self) -> bool:
        """Nobody named (no coordinator set, no manager): the page is the channel's."""
        return not self.users and not self.groups


@dataclass(frozen=True)
class PageView:
    """What a page message shows: its audience and tier, and its items (due work and
    record, in message order), as of `now`. `notice`: a page rerouted from a channel Baton
    could not post in keeps saying so."""

    audience: Audience
    tier: int
    tier_name: str
    items: tuple[tuple[DueWork, Record], ...]
    now: datetime
    notice: str | None = None


def ladder_of(record: Record) -> Ladder:
    """The ladder the record started with (its stored snapshot)."""
    if record.ladder is None:
        raise MissingRow(f"record {record.id} has no ladder snapshot")
    return snapshot_ladder(record.ladder)


def _no_manager(user: str) -> bool:
    return False


def _no_members(group: str) -> frozenset[str]:
    return frozenset()


class Authority:
    """Resolves page targets to the people and groups a page names, and decides who may
    acknowledge a page."""

    def __init__(self, roster: CoordinatorOfTheDay, managers: Sequence[str], *,
                 is_manager: Callable[[str], bool] = _no_manager,
                 group_members: Callable[[str], frozenset[str]] = _no_members) -> None:
        """`managers`: user IDs and user group IDs (S…) of the managers; `is_manager` and
        `group_members` (a user group's members, cached by Permissions) default to
        nobody's."""
        self.roster = roster
        self._managers = frozenset(m for m in managers if not m.startswith("S"))
        self._manager_groups = tuple(sorted(m for m in managers if m.startswith("S")))
        self._is_manager = is_manager
        self.group_members = group_members

    def people(self, target: Target, record: Record, *, now: datetime) -> list[str]:
        """The user IDs a target names for this record (empty for a group or @here)."""
        if target.kind == "user":
            return [target.id]
        if target.kind == "owner":
            return [record.owner_id]
        if target.kind == "manager":
            return [record.manager_id] if record.manager_id else sorted(self._managers)
        if target.kind == "coordinator":
            who = self.roster.coordinator(team_id=record.team_id, when=now)
            return [who] if who else []
        return []

    def audience(self, target: Target, record: Record, *, now: datetime) -> Audience:
        """Whom a page to `target` names for this record: a user group; the managers'
        people and groups when the record has no manager of its own; else its people (none:
        the whole channel)."""
        if target.kind == "usergroup":
            return Audience(groups=(target.id,))
        people = tuple(self.people(target, record, now=now))
        if target.kind == "manager" and not record.manager_id and self._manager_groups:
            return Audience(users=people, groups=self._manager_groups)
        return Audience(users=people)

    def tier_audience(self, tier: Tier, record: Record, *, now: datetime) -> Audience:
        """Whom a tier's page names: every target's audience together."""
        parts = [self.audience(t, record, now=now) for t in tier.targets]
        users = tuple(dict.fromkeys(u for a in parts for u in a.users))
        groups = tuple(dict.fromkeys(g for a in parts for g in a.groups))
        return Audience(users=users, groups=groups)

    def may_acknowledge_tier(self, user: str, tier: Tier, record: Record, *,
                             now: datetime) -> bool:
        """Any target of the tier may acknowledge its page (or a manager). A target that
        names nobody today (no coordinator of the day) makes the page everyone's only when
        no other target names anyone: else it went to those named, not to the channel."""
        targets = tier.targets
        if len(targets) > 1 and not self.tier_audience(tier, record, now=now).channel:
            targets = tuple(t for t in targets
                            if not self.audience(t, record, now=now).channel)
        return any(self.may_acknowledge(user, t, record, now=now) for t in targets)

    def may_acknowledge(self, user: str, target: Target, record: Record, *,
                        now: datetime) -> bool:
        if self._is_manager(user):
            return True
        if target.kind == "here":
            return True
        if target.kind == "usergroup":
            return user in self.group_members(target.id)
        people = self.people(target, record, now=now)
        if people:
            return user in people
        # Nobody named: only a page that went to the whole channel (@here) is anyone's.
        # Managers named only as user groups were mentioned as groups: theirs, checked above.
        return self.audience(target, record, now=now).channel


class EscalationService:
    def __init__(self, *, sessions: sessionmaker[Session], clock: Clock, delivery: Delivery,
                 authority: Authority, records: RecordService,
                 permissions: Permissions) -> None:
        self._sessions = sessions
        self._clock = clock
        self._delivery = delivery
        self.authority = authority
        self._records = records
        self.permissions = permissions

    def _who_may(self, audience: Audience) -> str:
        """"Only … can …": whoever the page names, or a manager."""
        named = ("anyone in the channel" if audience.channel
                 else self._delivery.mention(audience))
        return named + " or a manager"

    def acknowledge_page(self, *, team_id: str, work_id: int, actor: str) -> DueWork:
        now = self._clock.now()
        # Who may acknowledge is settled first, outside the write transaction: it may ask
        # Slack for a user group's members.
        with self._sessions() as s:
            work = queries.get_work(s, work_id=work_id, team_id=team_id)
            if work is None or work.kind != "page":
                raise NotFound("That page no longer exists.")
            record = queries.get_record(s, team_id=team_id, record_id=work.record_id)
            if record is None:
                raise MissingRow(f"due work {work_id} has no record {work.record_id}")
        if record.kind == "step" and record.closed_at is not None and not work.acked_by:
            # Settled, or its tracker ended (a sprint closed, a decision made, cancelled):
            # nothing is chased any more. The page is shown again as it now stands.
            self.refresh_page(channel=work.channel_id, ts=work.message_ts)
            raise DomainError(f"{record.reference} is no longer chased (it was settled, or "
                              "its tracker ended): there is nothing to acknowledge. Nothing "
                              "was changed.")
        ladder = ladder_of(record)
        tier = ladder.tier(work.tier)
        if (work.tier or 1) < (record.escalation_tier or 1) and not work.acked_by:
            # That page is out of date: shown again as it now stands (no Acknowledge).
            self.refresh_page(channel=work.channel_id, ts=work.message_ts)
            raise DomainError(
                f"{record.reference} has since been escalated to tier {record.escalation_tier}: "
                "acknowledge the latest page. Nothing was changed.")
        if not self.authority.may_acknowledge_tier(actor, tier, record, now=now):
            self.permissions.refuse(
                Act.ACK_PAGE, team_id=team_id, actor=actor, record=record,
                who=self._who_may(self.authority.tier_audience(tier, record, now=now)),
                what=f"acknowledge tier {work.tier} ({self._delivery.quote(tier.name)})")
        with transaction(self._sessions) as s:
            # The record first, then its due work (see queries.records_by_ids).
            locked = queries.records_by_ids(s, ids=[record.id], lock=True).get(record.id)
            acked = queries.get_work(s, work_id=work_id, team_id=team_id)
            if acked is None or locked is None or locked.team_id != team_id:
                raise MissingRow(f"page {work_id} or its record {record.id} is gone")
            record, work = locked, acked
            if work.acked_by:
                by = self._delivery.mention(Audience(users=(work.acked_by,)))
                raise DomainError(f"This page for {record.reference} was already acknowledged "
                                  f"by {by}.")
            work.acked_by, work.acked_at = actor, now
            # Acknowledging stops the climb; if nothing follows, the ladder resumes later.
            queries.cancel_work(s, record_id=record.id, kinds=("page", "ack_timeout"))
            if is_open(record.status):
                queries.add_work(s, record=record, kind="ack_timeout",
                                 due_at=now + ladder.ack_timeout, now=now, tier=work.tier,
                                 reason=work.reason)
            queries.add_event(s, record=record, team_id=team_id, at=now, actor=actor,
                              kind="page_acknowledged", field="tier", after=work.tier,
                              note=tier.name)
        self.refresh_page(channel=work.channel_id, ts=work.message_ts)
        return work

    def record_interim(self, *, team_id: str, record_id: int, actor: str, text: str,
                       next_review: datetime | None = None,
                       risk: Risk | None = None,
                       overrides: Findings | None = None) -> Change:
        """The interim action or next step, from a page's form; the next review may move
        and the continuity risk be re-rated there (an audited `field_changed`)."""
        text = " ".join(text.split())
        if not text:
            raise DomainError("Say what the interim action or next step is.", field="text")
        now = self._clock.now()
        with self._sessions() as s:
            record = queries.get_record(s, team_id=team_id, record_id=record_id)
        if record is None:
            raise NotFound("That record no longer exists.")
        self._require_interim(record, team_id=team_id, actor=actor, now=now)
        with transaction(self._sessions) as s:
            record = queries.get_record(s, team_id=team_id, record_id=record_id)
            if record is None:
                raise MissingRow(f"record {record_id} is gone")
            if not is_open(record.status):
                raise DomainError(f"{record.reference} is {record.status}; nothing to record.")
            rerated: tuple[FieldChange, ...] = ()
            if risk is not None and record.risk != risk.value:
                if (record.kind == RecordKind.DEPENDENCY and risk is Risk.SAME_DAY
                        and not record.interim_safeguard):
                    raise DomainError(
                        "A same-day risk needs an interim safeguard on the record: add it "
                        f"first with Edit on the card (`/baton edit {record.reference} "
                        "safeguard: …`).", field="risk")
                rerated = (FieldChange("risk", Risk(record.risk) if record.risk else None,
                                       risk),)
                write_changes(s, record, rerated, actor=actor, now=now, note="re-rated")
            before = record.interim_action
            record.interim_action, record.interim_at = text, now
            record.updated_at = now
            queries.add_event(s, record=record, team_id=team_id, at=now, actor=actor,
                              kind="interim_action", field="interim_action", before=before,
                              after=text)
            if overrides:
                audit_overrides(s, record=record, actor=actor, at=now, found=overrides)
            # A recorded interim action or next step is an answer: the ladder stops here.
            queries.cancel_work(s, record_id=record.id, kinds=("page", "ack_timeout"))
            moved = False  # the next review, by this interim action
            if next_review is not None and record.kind == RecordKind.DEPENDENCY:
                # Only the review moves; a safeguard's own deadline stays as it was.
                queries.cancel_work(s, record_id=record.id, kinds=("deadline",), reason="review")
                queries.cancel_work(s, record_id=record.id, kinds=("reminder",))
                queries.add_event(s, record=record, team_id=team_id, at=now, actor=actor,
                                  kind="field_changed", field="next_review_at",
                                  before=record.due_at.isoformat(),
                                  after=next_review.isoformat())
                record.due_at = next_review
                for planned in initial_work(kind=RecordKind.DEPENDENCY, due_at=next_review,
                                            now=now, ladder=ladder_of(record),
                                            tz=ZoneInfo(record.tz or "UTC")):
                    queries.add_work(s, record=record, kind=planned.kind, due_at=planned.due_at,
                                     now=now, reason=planned.reason)
                moved = True
            latest = queries.latest_page(s, record_id=record.id)
            page_at = (latest.channel_id, latest.message_ts) if latest else None
        return Change(record, ThreadEvent(Happened.INTERIM_ACTION, actor, text=text,
                                          review_moved=moved, changes=rerated),
                      page_at=page_at, next_due=now if rerated else None)

    def may_record_interim(self, *, team_id: str, record_id: int, actor: str) -> None:
        """Refused (audited) now, as record_interim would refuse it: so that nobody is
        asked about a name in a change they could not make. Nothing changed."""
        with self._sessions() as s:
            record = queries.get_record(s, team_id=team_id, record_id=record_id)
        if record is None:
            raise NotFound("That record no longer exists.")
        self._require_interim(record, team_id=team_id, actor=actor, now=self._clock.now())

    def _require_interim(self, record: Record, *, team_id: str, actor: str,
                         now: datetime) -> None:
        """Refused (audited) unless `actor` may record the interim action on `record`."""
        if record.escalation_tier:
            # Recording the interim action stops the climb: only whoever may acknowledge the
            # tier now paged (or a manager) may do that.
            tier = ladder_of(record).tier(record.escalation_tier)
            if not self.authority.may_acknowledge_tier(actor, tier, record, now=now):
                self.permissions.refuse(
                    Act.ACT_ON_RECORD, team_id=team_id, actor=actor, record=record,
                    who=self._who_may(self.authority.tier_audience(tier, record, now=now)),
                    what=f"record the interim action while it is escalated to tier "
                         f"{record.escalation_tier} ({self._delivery.quote(tier.name)})",
                    field="text")
        else:
            self.permissions.require(Act.ACT_ON_RECORD, team_id=team_id, actor=actor,
                                     record=record, field="text")

    def refresh_pages_of(self, record_id: int) -> None:
        """Re-render every page the record went out in: after the partner acknowledged
        (even late), responded, or the record was closed, a page still saying "no partner
        acknowledgement" would contradict the card."""
        with self._sessions() as s:
            messages = queries.page_messages(s, record_id=record_id)
        for channel, ts in messages:
            self.refresh_page(channel=channel, ts=ts)

    def refresh_page(self, *, channel: str | None, ts: str | None) -> None:
        """Re-render a page message in place from the database (through Delivery)."""
        if not channel or not ts:
            return
        now = self._clock.now()
        with self._sessions() as s:
            works = queries.work_in_message(s, channel_id=channel, message_ts=ts)
            records = queries.records_by_ids(s, ids=[w.record_id for w in works])
            items = tuple((w, records[w.record_id]) for w in works)
            if not items:
                return
            first_work, first_record = items[0]
            tier = ladder_of(first_record).tier(first_work.tier)
            # A page rerouted from a channel Baton could not post in keeps saying so.
            page = PageView(audience=self.authority.tier_audience(tier, first_record, now=now),
                            tier=first_work.tier or 1, tier_name=tier.name, items=items,
                            now=now, notice=first_work.text)
        self._delivery.refresh_page(channel=channel, ts=ts, page=page)

    # --- per-channel ladders ---

    def channel_ladder(self, *, team_id: str, channel_id: str) -> str | None:
        with self._sessions() as s:
            return queries.channel_ladder(s, team_id=team_id, channel_id=channel_id)

    def set_channel_ladder(self, *, team_id: str, channel_id: str, name: str | None,
                           actor: str, known: Sequence[str]) -> None:
        self.permissions.require(Act.CHANGE_LADDER, team_id=team_id, actor=actor,
                                 channel_id=channel_id)
        if name is not None and name not in known:
            raise DomainError(f"There is no ladder named `{name}`. Ladders: "
                              f"{', '.join(sorted(known))}.")
        now = self._clock.now()
        with transaction(self._sessions) as s:
            before = queries.channel_ladder(s, team_id=team_id, channel_id=channel_id)
            queries.set_channel_ladder(s, team_id=team_id, channel_id=channel_id, name=name,
                                       actor=actor, now=now)
            queries.add_event(s, record=None, team_id=team_id, at=now, actor=actor,
                              kind="ladder_changed", field=channel_id, before=before,
                              after=name)

