"""Requests answered 200 but left unfinished by a process that died are done by another
(bot/web/inbox.py), through the real app: which rows are taken over, and when."""

from __future__ import annotations

import socket
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import insert, select

from bot.slack import wire
from store.models import ReceivedRequest, Record
from tests.conftest import ALICE, CHANNEL, SECRET, TEAM

HANDOFF = ("person: P-{n} to: Northside Home Care contact: intake desk 555-0100 "
           "due: tomorrow 5pm risk: short-term")


def _dead_here() -> str:
    # A pid that cannot exist on this host (pid_max is at most 2**22).
    return f"{socket.gethostname()}:{2**22 + 7}:abc123"


def _save(baton, *, n: int, taken_by: str, age: timedelta, attempts: int = 1,
          received: timedelta | None = None, secret: str = SECRET) -> int:
    """A saved /handoff as serve leaves it, taken `age` ago (received `received` ago)."""
    body = wire.slash_command("/handoff", HANDOFF.format(n=n), user=ALICE, channel=CHANNEL,
                              team=TEAM, trigger_id=f"saved-{n}",
                              response_url=baton.slack.response_url(f"saved{n}"))
    signed = wire.signed_headers(body, secret)
    now = baton.clock.now()
    with baton.sessions.begin() as s:
        return s.execute(insert(ReceivedRequest).values(
            team_id=TEAM, received_at=now - (received or age), taken_at=now - age,
            content_type="application/x-www-form-urlencoded", body=body,
            signature=signed["X-Slack-Signature"],
            signed_at=signed["X-Slack-Request-Timestamp"], taken_by=taken_by,
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
    baton.runtime.wait_idle(timeout=60)
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
    baton.runtime.wait_idle(timeout=60)
    assert _people(baton) == ["P-1001", "P-1003"]
    assert inbox.flush()
    assert again not in _rows(baton)


def test_a_redone_handoff_whose_first_attempt_died_before_its_card_posts_it_now(baton):
    """The first attempt saved the record and died before its card and reply went out."""
    from bot.domain.grammar import parse_fields
    from bot.domain.records import RecordKind

    baton.runtime.create_record(RecordKind.HANDOFF,
                                parse_fields(HANDOFF.format(n=3001), RecordKind.HANDOFF),
                                team=TEAM, channel=CHANNEL, user=ALICE,
                                request_key="saved-3001")
    assert baton.slack.calls_to("chat.postMessage") == []
    _save(baton, n=3001, taken_by=_dead_here(), age=timedelta(seconds=5))
    assert baton.runtime.inbox.recover() == 1
    baton.runtime.wait_idle(timeout=60)
    assert _people(baton) == ["P-3001"]  # still one record
    cards = [c for c in baton.slack.calls_to("chat.postMessage")
             if c.params.get("channel") == CHANNEL and not c.params.get("thread_ts")]
    assert len(cards) == 1 and "P-3001" in str(cards[0].params.get("text"))
    (reply,) = baton.slack.calls_to("response_url")
    assert "Logged" in str(reply.params.get("text"))


def test_a_row_slack_did_not_sign_or_too_old_is_never_acted_on(baton):
    forged = _save(baton, n=4001, taken_by=_dead_here(), age=timedelta(seconds=5),
                   secret="not-the-signing-secret")
    old = _save(baton, n=4002, taken_by=_dead_here(), age=timedelta(seconds=5),
                received=timedelta(minutes=31))  # past the response_url's 30 minutes
    assert baton.runtime.inbox.recover() == 0
    baton.runtime.wait_idle(timeout=60)
    assert _people(baton) == []
    assert baton.slack.calls_to("response_url") == []
    rows = _rows(baton)
    assert rows[forged][1] == rows[old][1] == "abandoned"


def test_a_live_owner_renews_its_lease(baton):
    inbox = baton.runtime.inbox
    mine = _save(baton, n=5001, taken_by=inbox.worker, age=timedelta(minutes=30))
    assert inbox.recover() == 0  # not another's to take: renewed instead
    with baton.sessions() as s:
        taken_at = s.get(ReceivedRequest, mine).taken_at
    assert taken_at == baton.clock.now()


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


def _cards_in_channel(baton) -> list[dict]:
    """Top-level messages in the channel: the record cards."""
    return [m for m in baton.slack.messages(CHANNEL) if not m.get("thread_ts")]


def _made_and_carded_then_died(baton, n: int, *, team: str = TEAM) -> tuple[Any, str]:
    """A first attempt that made the record and got its card to Slack (as Cards.post sends
    it, metadata and all), then died before saving the card's ts: the record, the card's ts."""
    from bot.domain.grammar import parse_fields
    from bot.domain.records import RecordKind
    from bot.slack.blocks import records as blocks
    from bot.slack.cards import as_dicts, card_metadata

    change = baton.runtime.create_record(
        RecordKind.HANDOFF, parse_fields(HANDOFF.format(n=n), RecordKind.HANDOFF), team=team,
        channel=CHANNEL, user=ALICE, request_key=f"saved-{n}")
    record = change.record
    resp = WebClient(token="xoxb-test", base_url=baton.slack.base_url).chat_postMessage(
        channel=CHANNEL, text=blocks.card_text(record),
        blocks=as_dicts(blocks.record_card(record)), metadata=card_metadata(record))
    return record, str(resp["ts"])


def test_a_redone_handoff_adopts_the_card_slack_already_has_instead_of_posting_another(baton):
    """The first attempt's card reached Slack and the process died before saving its ts
    (the record's card_ts is empty, as when no card went out). Redone, the request finds
    the card in the channel's history by its metadata and adopts it: no second card. Its
    reply is sent (it may have been on its way: the only repeat allowed)."""
    record, ts = _made_and_carded_then_died(baton, 6001)
    # Another record's card in the channel, posted since: not taken for this one.
    _made_and_carded_then_died(baton, 6002)
    assert len(_cards_in_channel(baton)) == 2
    _save(baton, n=6001, taken_by=_dead_here(), age=timedelta(seconds=5))
    assert baton.runtime.inbox.recover() == 1
    baton.runtime.wait_idle()
    assert len(_cards_in_channel(baton)) == 2  # none posted
    (look,) = baton.slack.calls_to("conversations.history")
    assert look.params.get("include_all_metadata") in ("1", "true", True)
    assert float(look.params["oldest"]) <= float(ts)
    with baton.sessions() as s:
        saved = s.get(Record, record.id)
        assert (saved.card_channel, saved.card_ts) == (CHANNEL, ts)
    (reply,) = baton.slack.calls_to("response_url")
    assert "Logged" in str(reply.params.get("text"))
    # The adopted card is the live one: a change edits it in place.
    baton.command("/baton", f"ack {record.reference}")
    assert baton.slack.calls_to("chat.update")[-1].params["ts"] == ts


def test_a_redone_handoff_posts_its_card_when_slack_does_not_have_it_or_cannot_say(
        baton, caplog):
    from bot.domain.grammar import parse_fields
    from bot.domain.records import RecordKind

    # Slack has only an older card, of another record: not this one's; this one is posted.
    _made_and_carded_then_died(baton, 7001)
    baton.runtime.create_record(RecordKind.HANDOFF,
                                parse_fields(HANDOFF.format(n=7002), RecordKind.HANDOFF),
                                team=TEAM, channel=CHANNEL, user=ALICE,
                                request_key="saved-7002")
    _save(baton, n=7002, taken_by=_dead_here(), age=timedelta(seconds=5))
    assert baton.runtime.inbox.recover() == 1
    baton.runtime.wait_idle()
    cards = _cards_in_channel(baton)
    assert len(cards) == 2 and "P-7002" in cards[-1]["text"]
    assert cards[-1]["metadata"]["event_payload"]["record"] == "H-2"

    # Baton may not read the channel (an install from before channels:history): posted,
    # and the log says it may be there twice.
    baton.runtime.create_record(RecordKind.HANDOFF,
                                parse_fields(HANDOFF.format(n=7003), RecordKind.HANDOFF),
                                team=TEAM, channel=CHANNEL, user=ALICE,
                                request_key="saved-7003")
    baton.slack.fail_next("conversations.history", error="missing_scope")
    _save(baton, n=7003, taken_by=_dead_here(), age=timedelta(seconds=5))
    assert baton.runtime.inbox.recover() == 1
    baton.runtime.wait_idle()
    cards = _cards_in_channel(baton)
    assert len(cards) == 3 and "P-7003" in cards[-1]["text"]
    assert any("H-3: could not look in" in r.getMessage() and "missing_scope" in r.getMessage()
               and "may appear twice" in r.getMessage() for r in caplog.records)
