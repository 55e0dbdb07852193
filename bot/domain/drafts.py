"""Turning parsed fields into a validated draft record, with every error named by field."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain.grammar import KEYS, read_user
from bot.domain.records import DomainError, RecordKind, Risk, check_person_ref, read_risk
from bot.domain.times import TimeReadError, WorkingCalendar, add_business_days, read_deadline

# Slack shows long values badly and a section holds 3,000 characters: keep each field short.
SHORT_TEXT = 200
LONG_TEXT = 1000
PERSON_REF = 64  # a code such as P-1042; the database keeps 64 characters


class DraftErrors(DomainError):
    """One or more fields are wrong. `errors` maps field -> message (modal field errors)."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        first = next(iter(errors))
        super().__init__(" ".join(errors.values()), field=first)


class DraftIncomplete(RuntimeError):
    """A draft passed its checks (no DraftErrors) yet lacks a required value: a bug in the
    checks, never a person's typing. Raised instead of an assert, which python -O removes."""


@dataclass(frozen=True)
class HandoffDraft:
    person_ref: str
    receiving_service: str
    receiving_contact: str
    response_deadline: datetime
    owner_id: str
    route: str | None = None
    risk: Risk | None = None
    note: str | None = None
    # What the person must be told about how a time was read (the working-day rule moved a
    # day): shown with the confirmation.
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DependencyDraft:
    person_ref: str
    missing_action: str
    partner: str
    risk: Risk
    owner_id: str
    next_review_at: datetime
    interim_safeguard: str | None = None
    route: str | None = None
    manager_id: str | None = None
    safeguard_until: datetime | None = None
    notes: tuple[str, ...] = ()  # as HandoffDraft.notes


@dataclass(frozen=True)
class DraftContext:
    caller: str
    now: datetime
    tz: ZoneInfo
    calendar: WorkingCalendar
    person_pattern: str


def _label(kind: RecordKind, name: str) -> str:
    return next(k.label for k in KEYS[kind] if k.name == name)


class _Collector:
    def __init__(self, kind: RecordKind, fields: dict[str, str]) -> None:
        self.kind = kind
        self.fields = fields
        self.errors: dict[str, str] = {}
        self.notes: list[str] = []

    def text(self, name: str, *, required: bool, limit: int) -> str | None:
        value = " ".join((self.fields.get(name) or "").split())
        if not value:
            if required:
                self.errors[name] = f"`{name}` ({_label(self.kind, name)}) is required."
            return None
        if len(value) > limit:
            self.errors[name] = (
                f"`{name}` is {len(value)} characters; keep it under {limit} "
                f"(details belong in the case record, not the channel)."
            )
            return None
        return value

    def attempt(self, name: str, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return fn(*args, **kwargs)
        except TimeReadError as exc:
            self.errors[name] = f"`{name}`: {exc}"
        except DomainError as exc:
            self.errors[name] = str(exc)
        return None

    def time(self, name: str, text: str | None, ctx: DraftContext) -> datetime | None:
        """A deadline read with the working-day rule; what the rule did kept as a note."""
        if not text:
            return None
        reading = self.attempt(name, read_deadline, text, now=ctx.now, tz=ctx.tz,
                               calendar=ctx.calendar)
        if reading is None:
            return None
        if reading.note:
            self.notes.append(f"`{name}`: {reading.note}")
        when: datetime = reading.when
        return when

    def done(self) -> None:
        if self.errors:
            raise DraftErrors(self.errors)


def build_handoff(fields: dict[str, str], ctx: DraftContext) -> HandoffDraft:
    c = _Collector(RecordKind.HANDOFF, fields)
    person = c.text("person", required=True, limit=PERSON_REF)
    if person:
        person = c.attempt("person", check_person_ref, person, pattern=ctx.person_pattern)
    service = c.text("to", required=True, limit=SHORT_TEXT)
    contact = c.text("contact", required=True, limit=SHORT_TEXT)
    due_text = c.text("due", required=True, limit=SHORT_TEXT)
    due = c.time("due", due_text, ctx)
    owner = c.attempt("owner", read_user, fields.get("owner", ""), caller=ctx.caller, field="owner")
    route = c.text("route", required=False, limit=SHORT_TEXT)
    risk_text = c.text("risk", required=False, limit=SHORT_TEXT)
    risk = c.attempt("risk", read_risk, risk_text, field="risk") if risk_text else None
    note = c.text("note", required=False, limit=LONG_TEXT)
    c.done()
    if not (person and service and contact and due and owner):
        raise DraftIncomplete("a checked handoff lacks a required field")
    return HandoffDraft(person, service, contact, due, owner, route, risk, note,
                        tuple(c.notes))


SAME_DAY_SAFEGUARD = ("A same-day risk needs an interim safeguard (`safeguard:`): a temporary "
                      "hold, alternative support, internal review or commissioner notice.")


# A same-day risk is looked at again within this (a dependency logged or re-rated same-day).
SAME_DAY_REVIEW = timedelta(hours=2)


def default_review(risk: Risk, ctx: DraftContext) -> datetime:
    """Same-day risk is looked at again within two hours; anything else by the end of the
    next working day ("service leads review active dependencies every working day")."""
    if risk is Risk.SAME_DAY:
        return ctx.now + SAME_DAY_REVIEW
    local_today = ctx.now.astimezone(ctx.tz).date()
    day = add_business_days(local_today, 1, ctx.calendar)
    return datetime.combine(day, ctx.calendar.end_of_day, tzinfo=ctx.tz).astimezone(ctx.now.tzinfo)


def build_dependency(fields: dict[str, str], ctx: DraftContext) -> DependencyDraft:
    c = _Collector(RecordKind.DEPENDENCY, fields)
    person = c.text("person", required=True, limit=PERSON_REF)
    if person:
        person = c.attempt("person", check_person_ref, person, pattern=ctx.person_pattern)
    action = c.text("action", required=True, limit=LONG_TEXT)
    partner = c.text("partner", required=True, limit=SHORT_TEXT)
    risk_text = c.text("risk", required=True, limit=SHORT_TEXT)
    risk = c.attempt("risk", read_risk, risk_text, field="risk") if risk_text else None
    safeguard = c.text("safeguard", required=risk is Risk.SAME_DAY, limit=LONG_TEXT)
    if risk is Risk.SAME_DAY and "safeguard" in c.errors and \
            not (fields.get("safeguard") or "").strip():  # missing, not merely too long
        # Whole within a form's field error (FIELD_ERROR_LIMIT, 150), where the key in
        # brackets is left out: handlers/views.py.
        c.errors["safeguard"] = SAME_DAY_SAFEGUARD
    route = c.text("route", required=False, limit=SHORT_TEXT)
    until_text = c.text("until", required=False, limit=SHORT_TEXT)
    until = c.time("until", until_text, ctx)
    if until_text and not safeguard and "until" not in c.errors:
        c.errors["until"] = (
            "`until` is when the interim safeguard should end: give `safeguard:` too."
        )
    review_text = c.text("review", required=False, limit=SHORT_TEXT)
    review = c.time("review", review_text, ctx)
    manager_text = fields.get("manager", "").strip()
    manager = (
        c.attempt("manager", read_user, manager_text, caller=ctx.caller, field="manager")
        if manager_text
        else None
    )
    owner = c.attempt("owner", read_user, fields.get("owner", ""), caller=ctx.caller, field="owner")
    c.done()
    if not (person and action and partner and risk and owner):
        raise DraftIncomplete("a checked dependency lacks a required field")
    if review is None:
        review = default_review(risk, ctx)
    return DependencyDraft(
        person, action, partner, risk, owner, review, safeguard, route, manager, until,
        tuple(c.notes),
    )
