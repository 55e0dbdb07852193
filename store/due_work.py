"""Keyword-only queries the time engine (scheduler/engine.py) runs on its claims of due work,
beside the shared ones in store/queries.py (claim_due, claimed_by, works_by_ids, ...)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from store.models import DueWork


def claim_holders(session: Session) -> list[str]:
    """The engines (worker names) holding a claim on some due work now."""
    return [w for w in session.scalars(select(DueWork.claimed_by)
                                       .where(DueWork.state == "claimed").distinct()) if w]


def give_back_claims(session: Session, *, workers: Sequence[str]) -> int:
    """Every claim held by one of `workers` returned as it was (pending, due at once, no
    attempt counted). Returns how many were given back."""
    if not workers:
        return 0
    result = session.execute(
        update(DueWork).where(DueWork.state == "claimed",
                              DueWork.claimed_by.in_(list(workers)))
        .values(state="pending", claimed_by=None, claimed_until=None)
        .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)
