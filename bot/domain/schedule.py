"""What the time engine must do for a record, and when. Pure: the engine stores these as
due-work rows and the database is the one source of truth for every deadline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain.ladder import Ladder, shift
from bot.domain.records import RecordKind

# A message is marked late when it goes out this long after it fell due (downtime, outage).
LATE_AFTER = timedelta(minutes=2)


@dataclass(frozen=True)
class Planned:
    kind: str  # reminder | deadline | page | ack_timeout
    due_at: datetime
    tier: int | None = None
    reason: str | None = None  # overdue | review | safeguard


def initial_work(*, kind: RecordKind, due_at: datetime, now: datetime, ladder: Ladder,
                 tz: ZoneInfo, safeguard_until: datetime | None = None) -> list[Planned]:
    """Reminders before the deadline (those still in the future) and the deadline itself."""
    work = [Planned("reminder", when) for when in
            (shift(due_at, -offset, tz) for offset in ladder.remind_before) if when > now]
    reason = "overdue" if kind is RecordKind.HANDOFF else "review"
    work.append(Planned("deadline", due_at, reason=reason))
    if safeguard_until is not None:
        work.append(Planned("deadline", safeguard_until, reason="safeguard"))
    return sorted(work, key=lambda p: p.due_at)


def page_after(ladder: Ladder, tier: int, previous_due: datetime, tz: ZoneInfo,
               *, reason: str) -> Planned | None:
    """The page for `tier` (1-based), due its delay after the previous step fell due; None
    when the ladder has no such tier. Counting from when the previous step *fell due* (not
    when it was sent) keeps a catch-up after downtime in the ladder's own rhythm."""
    if tier < 1 or tier > len(ladder.tiers):
        return None
    return Planned("page", shift(previous_due, ladder.tiers[tier - 1].after, tz), tier=tier,
                   reason=reason)


def is_late(due_at: datetime, sent_at: datetime) -> bool:
    return sent_at - due_at > LATE_AFTER
