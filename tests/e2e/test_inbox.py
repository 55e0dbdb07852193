"""Requests answered 200 but left unfinished by a process that died are done by another
(bot/inbox.py), through the real app: which rows are taken over, and when."""

from __future__ import annotations

import socket
from datetime import timedelta

from sqlalchemy import insert, select

from bot import wire
from store.models import ReceivedRequest, Record
from tests.conftest import ALICE, CHANNEL, TEAM

HANDOFF = ("person: P-{n} to: Northside Home Care contact: intake desk 555-0100 "
           "due: tomorrow 5pm risk: short-term")


def _dead_here() -> str:
    # A pid that cannot exist on this host (pid_max is at most 2**22).
    return f"{socket.gethostname()}:{2**22 + 7}:abc123"


def _save(baton, *, n: int, taken_by: str, age: timedelta, attempts: int = 1) -> int:
    body = wire.slash_command("/handoff", HANDOFF.format(n=n), user=ALICE, channel=CHANNEL,
                              team=TEAM, trigger_id=f"saved-{n}",
                              response_url=baton.slack.response_url(f"saved{n}"))
    with baton.sessions.begin() as s:
        return s.execute(insert(ReceivedRequest).values(
            team_id=TEAM, received_at=baton.clock.now() - age,
            content_type="application/x-www-form-urlencoded", body=body, taken_by=taken_by,
            attempts=attempts, state="taken").returning(ReceivedRequest.id)).scalar_one()


def _rows(baton) -> dict[int, tuple[str, str, int]]:
    with baton.sessions() as s:
        return {r.id: (r.taken_by, r.state, r.attempts)
                for r in s.scalars(select(ReceivedRequest))}


def _people(baton) -> list[str]:
    with baton.sessions() as s:
        return sorted(s.scalars(select(Record.person_ref)))


def test_a_dead_process_s_requests_are_redone_a_live_one_s_are_left_alone(baton):
    inbox = baton.runtime.inbox
    dead = _save(baton, n=1001, taken_by=_dead_here(), age=timedelta(seconds=5))
    elsewhere = _save(baton, n=1002, taken_by="other-host:42:feed01", age=timedelta(minutes=1))
    stale = _save(baton, n=1003, taken_by="other-host:42:feed01", age=timedelta(minutes=11))
    worn = _save(baton, n=1004, taken_by=_dead_here(), age=timedelta(seconds=5), attempts=3)

    assert inbox.recover() == 2  # the dead process's, and the one past the 10-minute lease
    baton.runtime.wait_idle()
    assert _people(baton) == ["P-1001", "P-1003"]
    replies = {c.params["_key"]: str(c.params.get("text", ""))
               for c in baton.slack.calls_to("response_url")}
    assert set(replies) == {"saved1001", "saved1003"}
    assert all("Logged" in text for text in replies.values())
    assert inbox.flush()  # the batch of finished requests, now rather than in 50 ms
    rows = _rows(baton)
    assert dead not in rows and stale not in rows  # done: forgotten
    assert rows[elsewhere] == ("other-host:42:feed01", "taken", 1)  # alive, within its lease
    assert rows[worn][1] == "abandoned"  # tried three times: kept for a person, not retried

    # Done twice (the first attempt died after saving the record): still one record.
    again = _save(baton, n=1001, taken_by=_dead_here(), age=timedelta(seconds=5))
    assert inbox.recover() == 1
    baton.runtime.wait_idle()
    assert _people(baton) == ["P-1001", "P-1003"]
    assert inbox.flush()
    assert again not in _rows(baton)


def test_an_answered_request_is_saved_while_its_work_runs_and_forgotten_after(baton):
    seen: list[dict[int, tuple[str, str, int]]] = []
    baton.slack.on_call(lambda call: seen.append(_rows(baton))
                        if call.method == "response_url" else None)
    assert baton.command("/handoff", HANDOFF.format(n=2001)).status_code == 200
    assert len(seen) == 1 and len(seen[0]) == 1  # while its reply was sent, it was saved
    ((owner, state, _),) = seen[0].values()
    assert owner == baton.runtime.inbox.worker and state == "taken"
    assert baton.runtime.inbox.flush()
    assert _rows(baton) == {}
