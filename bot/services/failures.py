"""Why a use case failed, in the terms a person is told: another writer got there first (the
same request again will do), the database is not answering (try again later), or neither
(a bug). The store knows its driver's errors (store/db.py); listeners and the edge ask here,
so that none of them imports SQLAlchemy to tell an outage from a bug."""

from __future__ import annotations

from store import db


def lost_a_race(exc: BaseException) -> bool:
    """The transaction was rolled back to settle a clash with another (PostgreSQL's
    serialization failure or deadlock): nothing is wrong, and trying again will do."""
    return db.lost_a_race(exc)


def database_unreachable(exc: BaseException) -> bool:
    """The database is down or unreachable, as opposed to a bug: nothing was written, and
    trying again later will do."""
    return db.database_unreachable(exc)
