"""SQLAlchemy 2 typed models. Every datetime is timezone-aware UTC, in and out."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC on both sides. SQLite has no zone, so it stores naive UTC; PostgreSQL
    stores timestamptz. A naive datetime handed in is a bug and is refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime()}


class PartnerAgency(Base):
    """A receiving service or partner agency; `key` is its normalised name so later work can
    count failures per partner and route."""

    __tablename__ = "partner_agencies"
    __table_args__ = (UniqueConstraint("team_id", "key", name="uq_partner_team_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class ReferenceCounter(Base):
    """Next number for H-n / D-n per workspace: short, stable, unique."""

    __tablename__ = "reference_counters"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Record(Base):
    """A handoff or a dependency (single-table inheritance on `kind`)."""

    __tablename__ = "records"
    __table_args__ = (
        UniqueConstraint("team_id", "kind", "number", name="uq_records_reference"),
        UniqueConstraint("team_id", "request_key", name="uq_records_request_key"),
        Index("ix_records_channel_open", "team_id", "channel_id", "status", "due_at"),
        Index("ix_records_owner_open", "team_id", "owner_id", "status"),
        Index("ix_records_parent", "parent_id"),
        Index("ix_records_person", "team_id", "person_ref", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    number: Mapped[int]
    person_ref: Mapped[str] = mapped_column(String(64))
    # A tracker or step (bot/domain/trackers.py) has no partner: its steps name owner agencies.
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partner_agencies.id"))
    route: Mapped[str | None] = mapped_column(String(200))
    risk: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    # The response deadline of a handoff; the next review time of a dependency.
    due_at: Mapped[datetime]
    owner_id: Mapped[str] = mapped_column(String(32))  # internal owner / internal lead
    channel_id: Mapped[str] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # The record card in the channel, edited in place on every change.
    card_channel: Mapped[str | None] = mapped_column(String(32))
    card_ts: Mapped[str | None] = mapped_column(String(32))
    # Slack's trigger_id (or view id) of the request that created it: a retried request
    # finds the record it already made instead of making a second.
    request_key: Mapped[str | None] = mapped_column(String(255))
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None]

    # handoff
    receiving_contact: Mapped[str | None] = mapped_column(String(200))
    response_category: Mapped[str | None] = mapped_column(String(32))
    response_text: Mapped[str | None] = mapped_column(Text)
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)

    # dependency
    missing_action: Mapped[str | None] = mapped_column(Text)
    interim_safeguard: Mapped[str | None] = mapped_column(Text)
    manager_id: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str | None] = mapped_column(Text)

    # The time engine's view of the record.
    ladder: Mapped[Any | None] = mapped_column(JSON)  # the ladder it started with
    tz: Mapped[str | None] = mapped_column(String(64))  # the owner's zone, for offsets
    safeguard_until: Mapped[datetime | None]  # when the interim safeguard is meant to end
    interim_action: Mapped[str | None] = mapped_column(Text)  # "record the interim action"
    interim_at: Mapped[datetime | None]
    escalation_tier: Mapped[int | None]  # the highest tier paged so far (1-based)

    # The huddle's "next action owner": who does what next, by when, and when that was set.
    next_action: Mapped[str | None] = mapped_column(Text)
    next_action_owner: Mapped[str | None] = mapped_column(String(32))
    next_action_due: Mapped[datetime | None]
    next_action_set_at: Mapped[datetime | None]
    next_action_set_by: Mapped[str | None] = mapped_column(String(32))

    # Pathway trackers (kind "tracker") and their steps (kind "step", parent_id the
    # tracker; number = the tracker's * 100 + its position): bot/domain/trackers.py.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("records.id"))
    template: Mapped[str | None] = mapped_column(String(32))
    title: Mapped[str | None] = mapped_column(String(200))  # the step's or tracker's name
    step_key: Mapped[str | None] = mapped_column(String(64))
    agency: Mapped[str | None] = mapped_column(String(32))  # a step's owner agency
    gate: Mapped[bool] = mapped_column(Boolean, default=False)  # "cannot proceed without"
    step_group: Mapped[str | None] = mapped_column(String(32))  # "Day 0", "Day 1", …
    anchor_at: Mapped[datetime | None]  # a tracker's move date, discharge time, …
    details: Mapped[Any | None] = mapped_column(JSON)  # a tracker's fields; a decision's
    decision: Mapped[str | None] = mapped_column(String(64))

    version: Mapped[int] = mapped_column(Integer, default=1)

    # Every handoff and dependency has one; a tracker or a step has none.
    partner: Mapped[PartnerAgency] = relationship(lazy="joined")

    __mapper_args__ = {"polymorphic_on": "kind", "version_id_col": version}

    @property
    def reference(self) -> str:
        if self.kind == "step":
            return f"T-{self.number // 100}.{self.number % 100}"
        return f"{_PREFIX.get(self.kind, 'D')}-{self.number}"

    @property
    def tracked(self) -> bool:
        """A tracker or one of its steps, not a handoff or a dependency."""
        return self.kind in ("tracker", "step")


_PREFIX = {"handoff": "H", "dependency": "D", "tracker": "T"}


class Handoff(Record):
    __mapper_args__ = {"polymorphic_identity": "handoff"}

    @property
    def response_deadline(self) -> datetime:
        return self.due_at


class Dependency(Record):
    __mapper_args__ = {"polymorphic_identity": "dependency"}

    @property
    def next_review_at(self) -> datetime:
        return self.due_at


class Tracker(Record):
    """A pathway tracker: steps for one person from a template (bot/domain/trackers.py)."""

    __mapper_args__ = {"polymorphic_identity": "tracker"}


class Step(Record):
    """A tracker's step: owned, timed, reminded and paged like a record."""

    __mapper_args__ = {"polymorphic_identity": "step"}


class ContactAttempt(Base):
    """A provisional package's contact-attempt log: each attempt timestamped (seed 003)."""

    __tablename__ = "contact_attempts"
    __table_args__ = (Index("ix_contact_attempts_record", "record_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))  # attempted | reached
    note: Mapped[str | None] = mapped_column(Text)


class DueWork(Base):
    """One reminder, deadline check or page the engine must send: the database holds every
    deadline. Work is claimed (claimed_by, claimed_until) before it is sent, so several
    engines can share one database and each item goes out once."""

    __tablename__ = "due_work"
    __table_args__ = (
        # The sweep reads only this index: its cost grows with the due work, not the records.
        Index("ix_due_work_ready", "state", "ready_at"),
        Index("ix_due_work_record", "record_id", "state"),
        Index("ix_due_work_message", "channel_id", "message_ts"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"))
    # reminder | deadline | page | ack_timeout | nudge | thread_line
    kind: Mapped[str] = mapped_column(String(24))
    due_at: Mapped[datetime]  # when it fell due: fixed, the order and the lateness count from it
    ready_at: Mapped[datetime]  # when to try next: due_at, or later after a failed send
    tier: Mapped[int | None]  # 1-based, for pages
    reason: Mapped[str | None] = mapped_column(String(32))  # overdue | review | safeguard
    # pending | claimed | done | cancelled | suspended (the workspace's token was refused)
    # | undeliverable (a page that reached no channel and no fallback)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    first_failed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(200))
    sent_at: Mapped[datetime | None]
    # Where it went (a page, a reminder); for a thread_line, the thread it goes into.
    channel_id: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    acked_by: Mapped[str | None] = mapped_column(String(32))
    acked_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    text: Mapped[str | None] = mapped_column(Text)  # a thread_line's line, fixed when planned


class ChannelLadder(Base):
    """A channel's choice of named ladder, set from Slack by a manager."""

    __tablename__ = "channel_ladders"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    ladder_name: Mapped[str] = mapped_column(String(64))
    set_by: Mapped[str] = mapped_column(String(32))
    set_at: Mapped[datetime]


class CoordinatorAssignment(Base):
    """Who is coordinator of the day: one date, a weekday of the weekly rota, or absence
    cover over a span of dates. Rows are only added; for any day the most specific kind
    wins (cover, then date, then weekday) and, within a kind, the latest set."""

    __tablename__ = "coordinator_assignments"
    __table_args__ = (Index("ix_coordinator_team", "team_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # date | weekday | cover
    weekday: Mapped[int | None]  # 0 = Monday, for the weekly rota
    date_from: Mapped[date | None] = mapped_column(Date)  # the day, or the cover's first
    date_to: Mapped[date | None] = mapped_column(Date)  # the cover's last day
    set_by: Mapped[str] = mapped_column(String(32))
    set_at: Mapped[datetime]


class Notice(Base):
    """A message that must go out once only (a morning digest, a "no coordinator today"
    notice, a nudge): inserting the row claims it, so replicas never send it twice."""

    __tablename__ = "notices"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    claimed_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    channel_id: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))


class SystemicPattern(Base):
    """A partner route that repeatedly missed acknowledgement deadlines, posted to the
    governance channel for the accountable director to classify (seed 002, Example 3)."""

    __tablename__ = "systemic_patterns"
    __table_args__ = (Index("ix_systemic_route", "team_id", "partner_id", "route"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner_agencies.id"))
    route: Mapped[str] = mapped_column(String(200), default="")  # "" when none was given
    detected_at: Mapped[datetime]
    window_days: Mapped[int]
    misses: Mapped[int]
    evidence: Mapped[Any] = mapped_column(JSON)  # the affected records, dates and delays
    channel_id: Mapped[str | None] = mapped_column(String(32))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    classification: Mapped[str | None] = mapped_column(String(16))  # case-level | systemic
    corrective_route: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[str | None] = mapped_column(String(32))  # the executive owner
    review_due: Mapped[datetime | None]
    classified_by: Mapped[str | None] = mapped_column(String(32))
    classified_at: Mapped[datetime | None]

    partner: Mapped[PartnerAgency] = relationship(lazy="joined")


class AuditEvent(Base):
    """Append-only: the commissioner's evidence. The code has no path that updates or
    deletes one, and the ORM refuses to flush such a change."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_record", "record_id", "id"),
        Index("ix_audit_chain", "team_id", "seq", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[int | None] = mapped_column(ForeignKey("records.id"))
    record_ref: Mapped[str | None] = mapped_column(String(16))
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    field: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[Any | None] = mapped_column(JSON)
    after: Mapped[Any | None] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)
    # The workspace's hash chain (bot/domain/audit_chain.py): number, predecessor, own hash.
    seq: Mapped[int]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChain(Base):
    """Each workspace's chain head: the last event's number and hash. Sealing a commit's
    events takes this row's lock last, so it is held only for the commit itself."""

    __tablename__ = "audit_chains"

    team_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int]
    head_hash: Mapped[str] = mapped_column(String(64))


class ReceivedRequest(Base):
    """A request from Slack that was answered 200 and whose work is not finished yet. Saved
    before the 200 goes back and deleted once the work it deferred has run, so a process
    that dies in between leaves it here for the next start, or another replica, to finish
    (bot/web/inbox.py). Holds only unfinished requests: a few rows, not a history."""

    __tablename__ = "received_requests"
    __table_args__ = (Index("ix_received_requests_state", "state", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime]
    content_type: Mapped[str | None] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)  # as Slack sent it; its signature was checked
    # Slack's signature and its timestamp: checked again before the request is redone, so
    # a row written into this table by anyone but Baton is never acted on.
    signature: Mapped[str] = mapped_column(String(100))
    signed_at: Mapped[str] = mapped_column(String(20))
    taken_by: Mapped[str] = mapped_column(String(64))  # the process doing its work
    taken_at: Mapped[datetime]  # when taken, renewed by a live owner each sweep (the lease)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(16), default="taken")  # taken | abandoned


class HealthProbe(Base):
    """One row /healthz rewrites every few seconds: the cheapest write that still reaches
    the disk, so a database that answers reads but takes no writes (a full disk, a read-only
    file or replica) is reported unhealthy."""

    __tablename__ = "health_probes"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    probed_at: Mapped[datetime]
    probed_by: Mapped[str] = mapped_column(String(64))


class AppendOnlyError(RuntimeError):
    pass


def table(model: type[Base]) -> Table:
    """A model's Core table, for statements that need none of the ORM (typed as the Table it
    is: DeclarativeBase declares `__table__` as a FromClause)."""
    return cast(Table, model.__table__)


@event.listens_for(AuditEvent, "before_insert")
def _no_orm_insert(*_: Any) -> None:
    raise AppendOnlyError("audit events are written with queries.add_event, which chains them")


@event.listens_for(AuditEvent, "before_update")
def _no_update(*_: Any) -> None:
    raise AppendOnlyError("audit events are append-only")


@event.listens_for(AuditEvent, "before_delete")
def _no_delete(*_: Any) -> None:
    raise AppendOnlyError("audit events are append-only")


# --- Slack's OAuth install flow: slack_sdk's own SQLAlchemy stores, with their own layout,
# kept in Baton's database and created by Baton's migrations (0005) ---

SLACK_BOTS = "slack_bots"
SLACK_INSTALLATIONS = "slack_installations"
SLACK_OAUTH_STATES = "slack_oauth_states"


def slack_oauth_tables(metadata: MetaData) -> list[Any]:
    from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
    from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore

    return [
        SQLAlchemyInstallationStore.build_bots_table(metadata, SLACK_BOTS),
        SQLAlchemyInstallationStore.build_installations_table(metadata, SLACK_INSTALLATIONS),
        SQLAlchemyOAuthStateStore.build_oauth_states_table(metadata, SLACK_OAUTH_STATES),
    ]


slack_oauth_tables(Base.metadata)
