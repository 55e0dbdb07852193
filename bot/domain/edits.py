"""Editing a record: `/baton edit REF key: value ...` and the card's Edit form. Pure: which
keys may change, reading and checking the new values (the same readers and rules as
logging), and the difference from what the record holds. The service
(RecordService.apply_edit) writes the difference and reschedules the deadlines.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain.drafts import (
    LONG_TEXT,
    SAME_DAY_REVIEW,
    SHORT_TEXT,
    DraftContext,
    DraftErrors,
)
from bot.domain.grammar import KEYS, UnknownKey, key_index, parse_fields, read_user
from bot.domain.quoting import quoted
from bot.domain.records import DomainError, RecordKind, Risk, read_risk
from bot.domain.times import TimeReadError, read_deadline

# The keys each kind of record can edit, in the order the form shows them.
EDITABLE: dict[RecordKind, tuple[str, ...]] = {
    RecordKind.HANDOFF: ("contact", "due", "owner", "route", "risk", "note"),
    RecordKind.DEPENDENCY: ("risk", "safeguard", "until", "route", "review", "manager",
                            "owner"),
}

# Keys that name what the record *is*: changing them makes another record.
_FIXED = {
    "person": "the person reference is what the record is about",
    "to": "the receiving service is who the handoff went to",
    "partner": "the partner agency is whose action the dependency waits on",
    "action": "the missing external action is what the dependency is",
}

# The record's column each key writes.
ATTRIBUTE = {
    "contact": "receiving_contact", "due": "due_at", "review": "due_at", "owner": "owner_id",
    "manager": "manager_id", "route": "route", "risk": "risk", "note": "note",
    "safeguard": "interim_safeguard", "until": "safeguard_until",
}
# Keys that can't be emptied (a handoff's risk is optional, a dependency's is not).
_REQUIRED = {
    RecordKind.HANDOFF: frozenset({"contact", "due", "owner"}),
    RecordKind.DEPENDENCY: frozenset({"risk", "review", "owner"}),
}
FREE_TEXT = frozenset({"contact", "route", "note", "safeguard"})
_LIMIT = {"contact": SHORT_TEXT, "route": SHORT_TEXT, "note": LONG_TEXT, "safeguard": LONG_TEXT}
TIMES = frozenset({"due", "review", "until"})
USAGE = "`/baton edit H-3 due: friday 5pm risk: same-day`"


def label(kind: RecordKind, key: str) -> str:
    return next(k.label for k in KEYS[kind] if k.name == key)


def audit_field(kind: RecordKind, key: str) -> str:
    """The field an edit's audit event names: the deadline by the seeds' words (the
    evidence report reads these), the rest by the record's column."""
    if key in ("due", "review"):
        return "response_deadline" if kind is RecordKind.HANDOFF else "next_review_at"
    return ATTRIBUTE[key]


def editable_keys_text(kind: RecordKind) -> str:
    return ", ".join(f"`{k}:`" for k in EDITABLE[kind])


def read_edit(text: str, kind: RecordKind, reference: str) -> dict[str, str]:
    """`key: value ...` after the reference: {key: value}, every key one the kind can edit.
    A DomainError names what's wrong: nothing given, text before the first key, a key that
    can't be edited."""
    if not text.strip():
        raise DomainError(f"Say what to change on {reference}, e.g. {USAGE}. You can edit "
                          f"{editable_keys_text(kind)}.")
    try:
        fields = parse_fields(text, kind)
    except UnknownKey as exc:
        other = {w: name for k in RecordKind for w, name in key_index(KEYS[k]).items()}
        if exc.word.lower() in other:  # the other kind's key: say it is not for this one
            key = other[exc.word.lower()]
            raise DomainError(f"`{key}:` is not a key a {kind.value} can edit; you can edit "
                              f"{editable_keys_text(kind)}.", field=key) from None
        if exc.meant:
            raise  # "unknown key `contcat:` — did you mean `contact:`?" says it best
        raise DomainError(f"Unknown key `{exc.word}:`. Keys you can edit on {reference}: "
                          f"{editable_keys_text(kind)}.") from None
    except DomainError as exc:
        if exc.field is not None:
            raise
        # Text before the first key this kind knows: another kind's key, or not a key.
        first = re.match(r"\s*([\w-]+)\s*:", text)
        word = first.group(1).lower() if first else ""
        other = {w: name for k in RecordKind for w, name in key_index(KEYS[k]).items()}
        if word in other:
            key = other[word]
            raise DomainError(f"`{key}:` is not a key a {kind.value} can edit; you can edit "
                              f"{editable_keys_text(kind)}.", field=key) from None
        placed = quoted(text.strip(), 40)
        raise DomainError(f"I couldn't place {placed}: start with a key, e.g. {USAGE}. Keys "
                          f"you can edit on {reference}: {editable_keys_text(kind)}.") from None
    for key in fields:
        if key in _FIXED:
            raise DomainError(
                f"`{key}:` can't be edited: {_FIXED[key]}. Cancel {reference} with a reason "
                f"and log a new one instead.", field=key)
        if key not in EDITABLE[kind]:
            raise DomainError(f"`{key}:` is not a key a {kind.value} can edit; you can edit "
                              f"{editable_keys_text(kind)}.", field=key)
    return fields


@dataclass(frozen=True)
class Edits:
    """The changes asked for, read and checked: {key: new value}, None to empty a field.
    Values are typed as the record holds them (Risk, aware datetime, user ID, text)."""

    kind: RecordKind
    values: Mapping[str, Any]
    # How a typed time was read, told with the reply (a weekend day moved: times' notes).
    notes: tuple[str, ...] = ()

    def free_text(self) -> dict[str, str]:
        """The free-text fields being written (contact, route, note, safeguard): what a
        person-name check must look at before they are applied."""
        return {k: v for k, v in self.values.items() if k in FREE_TEXT and v}


def build_edits(fields: Mapping[str, str], kind: RecordKind, ctx: DraftContext, *,
                blank_clears: bool = False) -> Edits:
    """Read each given field as logging reads it. A blank value is an error, unless
    `blank_clears` (the form, where emptying an optional box removes it). DraftErrors names
    every bad field."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    notes: list[str] = []
    for key, raw in fields.items():
        text = " ".join((raw or "").split())
        name = f"`{key}` ({label(kind, key)})"
        if not text:
            if key in _REQUIRED[kind]:
                errors[key] = f"{name} can't be empty."
            elif blank_clears:
                values[key] = None
            else:
                errors[key] = f"{name} has no value: give the new value after `{key}:`."
            continue
        try:
            if key in TIMES:  # deadlines follow the working-day rule, as at logging
                reading = read_deadline(text, now=ctx.now, tz=ctx.tz, calendar=ctx.calendar)
                values[key] = reading.when
                if reading.note:
                    notes.append(f"`{key}`: {reading.note}")
            else:
                values[key] = _read(key, text, kind, ctx)
        except TimeReadError as exc:
            errors[key] = f"`{key}`: {exc}"
        except DomainError as exc:
            errors[key] = str(exc)
    if errors:
        raise DraftErrors(errors)
    return Edits(kind, values, tuple(notes))


def _read(key: str, text: str, kind: RecordKind, ctx: DraftContext) -> Any:
    if key in _LIMIT:
        if len(text) > _LIMIT[key]:
            raise DomainError(f"`{key}` is {len(text)} characters; keep it under "
                              f"{_LIMIT[key]} (details belong in the case record, not the "
                              "channel).", field=key)
        return text
    if key == "risk":
        return read_risk(text, field="risk")
    return read_user(text, caller=ctx.caller, field=key)


@dataclass(frozen=True)
class FieldChange:
    """One field's before and after, as the record holds them."""

    key: str
    before: Any
    after: Any


def current_values(kind: RecordKind, record: Any) -> dict[str, Any]:
    """What the record holds now, for each key its kind can edit (risk as a Risk)."""
    out: dict[str, Any] = {}
    for key in EDITABLE[kind]:
        value = getattr(record, ATTRIBUTE[key])
        if key == "risk" and value is not None:
            value = Risk(value)
        out[key] = value
    return out


def diff(current: Mapping[str, Any], edits: Edits) -> list[FieldChange]:
    """The fields whose value the edit changes, in the form's order."""
    return [FieldChange(key, current.get(key), edits.values[key])
            for key in EDITABLE[edits.kind]
            if key in edits.values and current.get(key) != edits.values[key]]


def pulled_forward_review(kind: RecordKind, current: Mapping[str, Any],
                          changes: list[FieldChange], now: datetime) -> FieldChange | None:
    """A dependency re-rated same-day is looked at again within two hours, as one logged
    same-day is: its next review, when later and not itself being edited, comes forward."""
    keys = {c.key for c in changes}
    rerated = next((c.after for c in changes if c.key == "risk"), None)
    review = current.get("review")
    if (kind is not RecordKind.DEPENDENCY or rerated is not Risk.SAME_DAY or "review" in keys
            or not isinstance(review, datetime) or review <= now + SAME_DAY_REVIEW):
        return None
    return FieldChange("review", review, now + SAME_DAY_REVIEW)


def check_result(kind: RecordKind, merged: Mapping[str, Any]) -> None:
    """The rules logging applies, on the record as the edit would leave it."""
    if kind is not RecordKind.DEPENDENCY:
        return
    errors: dict[str, str] = {}
    if merged.get("risk") is Risk.SAME_DAY and not merged.get("safeguard"):
        errors["safeguard"] = (
            "`safeguard` (Interim safeguard) is required for a same-day risk: say what "
            "protects the person meanwhile (temporary hold, alternative support, internal "
            "review or commissioner notice).")
    if merged.get("until") is not None and not merged.get("safeguard"):
        errors["until"] = "`until` is when the interim safeguard should end: give `safeguard:` too."
    if errors:
        raise DraftErrors(errors)


# --- the form: what it was opened with, so unchanged boxes are left alone ---

def fingerprint(text: str) -> str:
    """A short digest of a box's initial text (the form's private_metadata stays small)."""
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()[:16]


def changed_in_form(submitted: Mapping[str, str], opened: Mapping[str, str],
                    kind: RecordKind) -> dict[str, str]:
    """The boxes of the Edit form whose value differs from what it was opened with
    (`opened`: key -> fingerprint). An untouched box is no edit, even when its value would
    no longer pass (a deadline now past)."""
    return {key: submitted.get(key, "") for key in EDITABLE[kind]
            if key in submitted and fingerprint(submitted.get(key, "")) != opened.get(key)}


def form_text(kind: RecordKind, key: str, value: Any, *, tz: Any) -> str:
    """A field's current value as the form's box shows it (times in the reader's zone, in a
    form the time reader reads back)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, Risk):
        return value.value
    return str(value)
