"""What a person is told when deferred work fails: a lost race, an outage and a bug each get
their own words (handlers.common.guarded)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import OperationalError

from bot.services.failures import database_unreachable
from bot.services.records import CHANGED_MEANWHILE
from handlers.common import DATABASE_DOWN, GENERIC, guarded


class _PgError(Exception):
    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


class _Told:
    """Stands in for Replies: keeps what would have been sent."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def send(self, *, user: str, channel: Any, text: str, response_url: Any = None,
             block_list: Any = None) -> None:
        self.texts.append(text)


def _fail_with(exc: BaseException) -> str:
    told = _Told()

    @guarded(told, user="U0ALICE01", channel="C0CARE001", response_url=None,  # type: ignore[arg-type]
             what="record the acknowledgement")
    def work() -> None:
        raise exc

    work()
    assert len(told.texts) == 1
    return told.texts[0]


def test_a_deadlock_or_serialization_failure_is_a_race_not_an_outage():
    for state in ("40P01", "40001"):
        exc = OperationalError("UPDATE due_work ...", {}, _PgError(state))
        assert not database_unreachable(exc)
        said = _fail_with(exc)
        assert said == ":warning: Couldn't record the acknowledgement. " + CHANGED_MEANWHILE


def test_a_dropped_connection_is_an_outage():
    exc = OperationalError("SELECT 1", {}, _PgError("08006"))
    assert database_unreachable(exc)
    assert _fail_with(exc) == ":warning: Couldn't record the acknowledgement. " + DATABASE_DOWN


def test_a_bug_gets_the_generic_words():
    assert _fail_with(KeyError("status")) == GENERIC
