"""A workspace that removed Baton (or revoked its token) and one that installed it again: its
due work is suspended, an audit event per record concerned, and resumed on a reinstall.
Records and the audit chain stay either way. One transaction each."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from store import queries
from store.db import transaction


def suspend(*, sessions: sessionmaker[Session], team_id: str, reason: str,
            now: datetime) -> int:
    """The workspace's due work waits, with `reason`; returns how many items."""
    with transaction(sessions) as s:
        return queries.suspend_team_work(s, team_id=team_id, reason=reason, now=now)


def resume(*, sessions: sessionmaker[Session], team_id: str, now: datetime) -> int:
    """What was suspended is due once more (at once if its time came); returns how many."""
    with transaction(sessions) as s:
        return queries.resume_team_work(s, team_id=team_id, now=now)
