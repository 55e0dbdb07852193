"""Records, their vocabulary and their lifecycles. Pure: no Slack, no SQL.

The words are the seeds' own: a handoff is a referral, discharge or transfer sent to a
receiving service that must acknowledge by a response deadline; a dependency is a
missing external action that care depends on, with a risk rating and an interim safeguard.
"""

from __future__ import annotations

import re
from enum import StrEnum

from bot.domain.quoting import got, quoted


class DomainError(Exception):
    """A rule of the domain refused the request. str() is the user-facing sentence."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class RecordKind(StrEnum):
    HANDOFF = "handoff"
    DEPENDENCY = "dependency"

    @property
    def prefix(self) -> str:
        return "H" if self is RecordKind.HANDOFF else "D"


class Risk(StrEnum):
    """The seed's continuity risk ratings (same-day, short-term, emerging)."""

    SAME_DAY = "same-day"
    SHORT_TERM = "short-term"
    EMERGING = "emerging"

    @property
    def label(self) -> str:
        return {"same-day": "Same-day", "short-term": "Short-term", "emerging": "Emerging"}[
            self.value
        ]

    @property
    def rank(self) -> int:
        """Lower is more urgent; used to sort rosters and lists."""
        return {"same-day": 0, "short-term": 1, "emerging": 2}[self.value]


_RISK_WORDS = {
    "same-day": Risk.SAME_DAY,
    "sameday": Risk.SAME_DAY,
    "same day": Risk.SAME_DAY,
    "today": Risk.SAME_DAY,
    "short-term": Risk.SHORT_TERM,
    "shortterm": Risk.SHORT_TERM,
    "short term": Risk.SHORT_TERM,
    "short": Risk.SHORT_TERM,
    "emerging": Risk.EMERGING,
}


def read_risk(text: str, *, field: str = "risk") -> Risk:
    key = re.sub(r"\s+", " ", text.strip().lower().replace("_", "-"))
    risk = _RISK_WORDS.get(key)
    if risk is None:
        raise DomainError(
            f"`{field}` must be one of same-day, short-term or emerging{got(text)}.",
            field=field,
        )
    return risk


class HandoffStatus(StrEnum):
    PENDING = "pending"
    ACKNOWLEDGED = "acknowledged"
    RESPONDED = "responded"
    OVERDUE = "overdue"  # the seed's "failed" handoff: deadline passed, no acknowledgement
    CLOSED = "closed"
    CANCELLED = "cancelled"


class DependencyStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"


OPEN_HANDOFF = frozenset(
    {HandoffStatus.PENDING, HandoffStatus.ACKNOWLEDGED, HandoffStatus.RESPONDED,
     HandoffStatus.OVERDUE}
)
# "blocked": a tracker's step still outstanding (bot/domain/trackers.py); it still escalates.
OPEN_STATUSES: frozenset[str] = frozenset({*OPEN_HANDOFF, DependencyStatus.OPEN, "blocked"})


class ResponseCategory(StrEnum):
    """The referral response categories partners are asked to use."""

    ACCEPT = "accept"
    CONDITION = "accept_with_condition"
    CLARIFY = "request_clarification"
    DECLINE = "decline_with_reason"

    @property
    def label(self) -> str:
        return {
            "accept": "Accept",
            "accept_with_condition": "Accept with a condition",
            "request_clarification": "Ask for clarification",
            "decline_with_reason": "Decline with a reason",
        }[self.value]

    @property
    def needs_text(self) -> bool:
        return self is not ResponseCategory.ACCEPT

    @property
    def text_label(self) -> str:
        return {
            "accept": "Note",
            "accept_with_condition": "Condition",
            "request_clarification": "Missing information requested",
            "decline_with_reason": "Reason for decline",
        }[self.value]


_CATEGORY_WORDS = {
    "accept": ResponseCategory.ACCEPT,
    "accepted": ResponseCategory.ACCEPT,
    "condition": ResponseCategory.CONDITION,
    "conditional": ResponseCategory.CONDITION,
    "accept_with_condition": ResponseCategory.CONDITION,
    "clarify": ResponseCategory.CLARIFY,
    "clarification": ResponseCategory.CLARIFY,
    "request_clarification": ResponseCategory.CLARIFY,
    "decline": ResponseCategory.DECLINE,
    "declined": ResponseCategory.DECLINE,
    "decline_with_reason": ResponseCategory.DECLINE,
}


_CATEGORY_LABELS = {
    **{c.label.lower(): c for c in ResponseCategory},
    "accept with condition": ResponseCategory.CONDITION,
    "request clarification": ResponseCategory.CLARIFY,
    "ask for clarification": ResponseCategory.CLARIFY,
    "decline with reason": ResponseCategory.DECLINE,
}


def read_category(text: str) -> ResponseCategory:
    """A response category from its word (`condition`), its label as the form shows it
    ("Accept with a condition") or its stored value, in any case."""
    words = " ".join(text.replace("_", " ").replace("-", " ").lower().split())
    cat = _CATEGORY_WORDS.get(words.replace(" ", "_")) or _CATEGORY_LABELS.get(words)
    if cat is None:
        raise DomainError(
            f"The partner's response must be accept, condition, clarify or decline{got(text)}.",
            field="category",
        )
    return cat


def check_person_ref(value: str, *, pattern: str) -> str:
    """A person reference must be a code such as P-1042, never a name."""
    # Punctuation typed after the code ("P-5004," in a list) is not part of it.
    v = value.strip().rstrip(",;.:!?").strip()
    if not v:
        raise DomainError("`person` is required: give the person reference code.", field="person")
    inside = re.search(pattern, v, flags=re.IGNORECASE)
    if not re.fullmatch(pattern, v, flags=re.IGNORECASE) and inside:
        raise DomainError(
            f"`person` takes one person reference code such as {inside.group(0).upper()}, "
            f"alone: {quoted(v)} has more than the code.",
            field="person",
        )
    if not re.fullmatch(pattern, v, flags=re.IGNORECASE):
        example = example_person_ref(pattern)
        # The pattern itself is a regular expression: shown only when no example fits it.
        shape = f"such as {example}" if example != "a code" else f"matching `{pattern}`"
        raise DomainError(
            f"`person` must be a person reference code {shape}, never a name. "
            f"Got {quoted(v)}.",
            field="person",
        )
    return v.upper() if re.fullmatch(pattern, v.upper()) else v


def example_person_ref(pattern: str) -> str:
    return "P-1042" if re.fullmatch(pattern, "P-1042") else "a code"



# --- Lifecycles: every status change goes through transition(), nowhere else. ---

class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"  # partner confirmed receipt
    RESPOND = "respond"  # partner's response category recorded
    CLOSE = "close"
    MARK_OVERDUE = "mark_overdue"  # the time engine, when the deadline passes
    RESOLVE = "resolve"
    CANCEL = "cancel"
    EDIT = "edit"  # a field changed (/baton edit, the card's Edit button): the status stays


_H = HandoffStatus
_D = DependencyStatus

_HANDOFF_MOVES: dict[tuple[str, Action], str] = {
    (_H.PENDING, Action.ACKNOWLEDGE): _H.ACKNOWLEDGED,
    (_H.OVERDUE, Action.ACKNOWLEDGE): _H.ACKNOWLEDGED,  # late, but still recorded
    (_H.ACKNOWLEDGED, Action.RESPOND): _H.RESPONDED,
    # A further response (say, acceptance after a clarification) replaces the last one.
    (_H.RESPONDED, Action.RESPOND): _H.RESPONDED,
    (_H.RESPONDED, Action.CLOSE): _H.CLOSED,
    # Acknowledged and settled without a formal response (the service started, the partner
    # confirmed by phone): closed with its outcome. The seeds' "confirmed" handoff needs no
    # more monitoring. A handoff never acknowledged can't be closed: that failure stays
    # visible until it is acknowledged or cancelled with a reason.
    (_H.ACKNOWLEDGED, Action.CLOSE): _H.CLOSED,
    (_H.PENDING, Action.MARK_OVERDUE): _H.OVERDUE,
    **{(s, Action.CANCEL): _H.CANCELLED for s in OPEN_HANDOFF},
    **{(s, Action.EDIT): s for s in OPEN_HANDOFF},
}

_DEPENDENCY_MOVES: dict[tuple[str, Action], str] = {
    (_D.OPEN, Action.RESOLVE): _D.RESOLVED,
    (_D.OPEN, Action.CANCEL): _D.CANCELLED,
    (_D.OPEN, Action.EDIT): _D.OPEN,
}

_VERB = {
    Action.ACKNOWLEDGE: "be marked as acknowledged by the partner",
    Action.RESPOND: "have a partner response recorded",
    Action.CLOSE: "be closed",
    Action.MARK_OVERDUE: "be marked overdue",
    Action.RESOLVE: "be resolved",
    Action.CANCEL: "be cancelled",
    Action.EDIT: "be edited",
}

_HINT = {
    (RecordKind.HANDOFF, Action.RESPOND): " Record “Partner acknowledged” first.",
    (RecordKind.HANDOFF, Action.CLOSE): (" Record “Partner acknowledged” (or the partner's "
                                         "response) first, or cancel it with a reason."),
}


def transition(kind: RecordKind, reference: str, current: str, action: Action) -> str:
    """The next status, or a DomainError that says why the move is refused."""
    moves = _HANDOFF_MOVES if kind is RecordKind.HANDOFF else _DEPENDENCY_MOVES
    if kind is RecordKind.HANDOFF and action is Action.RESOLVE:
        action = Action.CLOSE  # "resolve" on a handoff closes it
    nxt = moves.get((current, action))
    if nxt is None:
        hint = _HINT.get((kind, action), "") if current in OPEN_STATUSES else ""
        raise DomainError(f"{reference} is {current}, so it can't {_VERB[action]}.{hint}")
    return nxt


def is_open(status: str) -> bool:
    return status in OPEN_STATUSES
