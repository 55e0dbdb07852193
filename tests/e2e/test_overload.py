"""Overload: once more work is waiting than BATON_MAX_BACKLOG, requests are turned away at
once with a clear "try again" in Slack's own ways, nothing is written, and nothing answered
200 is left to wait minutes (or be lost at a restart)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from bot.slack import wire
from bot.slack.ids import ActionId
from bot.web.shedding import BUSY
from store.models import Record

HANDOFF = ("person: P-1042 to: Northside Home Care contact: intake desk 555-0100 "
           "due: tomorrow 5pm risk: short-term")


@pytest.fixture
def baton(serve_factory, database_url):
    return serve_factory(database_url, BATON_MAX_BACKLOG=10)


def records(baton) -> int:
    with baton.sessions() as s:
        return s.scalar(select(func.count()).select_from(Record))


def test_a_full_backlog_turns_requests_away_clearly_and_writes_nothing(baton):
    baton.command("/handoff", HANDOFF)
    assert records(baton) == 1
    gate = threading.Event()
    for _ in range(10):  # the workers are busy with ten slow pieces of work
        baton.runtime.defer(gate.wait, 30)
    assert baton.runtime.overloaded()

    body = wire.slash_command("/handoff", HANDOFF.replace("P-1042", "P-2"), user="U0ALICE01",
                              channel="C0CARE01", team="T0BATON", trigger_id="t-busy",
                              response_url=baton.slack.response_url("busy"))
    resp = baton.post(body)
    assert resp.status_code == 200 and resp.headers["x-baton-shed"] == "1"
    assert resp.json() == {"response_type": "ephemeral", "text": BUSY}

    view = {"id": "V0BUSY", "callback_id": "anything", "type": "modal"}
    resp = baton.post(wire.view_submission(view=view, values={"due": {"a": {
        "type": "plain_text_input", "value": "tomorrow"}}}, user="U0ALICE01", team="T0BATON"))
    assert resp.json()["response_action"] == "errors"
    assert resp.json()["errors"]["due"].startswith("Baton is very busy right now")

    replies_before = len(baton.slack.calls_to("response_url"))
    resp = baton.post(wire.block_actions(
        action_id=ActionId.PARTNER_ACK, value="1", user="U0ALICE01", team="T0BATON",
        channel="C0CARE01", message_ts="1.0", trigger_id="t-click",
        response_url=baton.slack.response_url("click")))
    assert resp.status_code == 200 and resp.headers["x-baton-shed"] == "1"
    # A forged request is still refused, busy or not.
    assert baton.post(body, headers={"Content-Type": "application/x-www-form-urlencoded",
                                     "X-Slack-Signature": "v0=00",
                                     "X-Slack-Request-Timestamp": "1"}).status_code == 401

    gate.set()
    assert baton.runtime.wait_idle(timeout=30)
    assert records(baton) == 1  # nothing of the turned-away requests was written
    # The "try again" goes out on a pool of its own, not waited for by wait_idle: wait for it.
    baton.slack.wait_for("response_url", replies_before + 1, timeout=30)
    told = [c for c in baton.slack.calls_to("response_url") if BUSY in c.params.get("text", "")]
    assert len(told) == 1  # the button's presser was told
    assert not baton.runtime.overloaded()
    baton.command("/handoff", HANDOFF.replace("P-1042", "P-3"))
    assert records(baton) == 2
