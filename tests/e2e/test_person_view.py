"""One person, one picture: `/baton person P-1042` through `serve` with signed requests
(everything open for that person across handoffs, dependencies and pathway trackers, most
urgent first, nothing of anyone else or of another workspace; a name refused), and tracker
steps overdue or due today in the huddle roster, the coordinator's digest and the App Home.
Time moves on the injected clock."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.domain.trackers import StepStatus
from bot.slack import wire
from store import queries
from store.models import AuditEvent, Record
from tests.conftest import ALICE, BOB, CHANNEL, START, TEAM

OTHER_TEAM = "T0OTHER01"
OTHER_USER = "U0OTHER01"
OTHER_CHANNEL = "C0OTHER01"
MONDAY_8_31 = datetime(2026, 11, 24, 13, 31, tzinfo=UTC)  # Tue 08:31 in New York


def reply_in_full(baton) -> tuple[str, list[dict]]:
    """The last ephemeral reply: its text and blocks."""
    call = [c for c in baton.slack.calls if c.method in ("response_url", "chat.postEphemeral")][-1]
    blocks = call.json_param("blocks") or []
    blocks = json.loads(blocks) if isinstance(blocks, str) else blocks
    return str(call.params.get("text", "")), blocks


def shown(blocks: list[dict]) -> str:
    return "\n".join(b.get("text", {}).get("text", "") for b in blocks
                     if b["type"] == "section") + json.dumps(
        [b for b in blocks if b["type"] == "context"])


def start(baton, template: str, person: str, *, anchor: datetime, team: str = TEAM,
          channel: str = CHANNEL, owner: str = ALICE) -> str:
    change = baton.runtime.trackers.start(
        team_id=team, channel_id=channel, actor=owner, template=template, person_ref=person,
        anchor=anchor, owner_id=owner, values={}, times={}, tz="America/New_York")
    return change.view.reference


def step_done(baton, ref: str, *, team: str = TEAM, actor: str = ALICE) -> None:
    baton.runtime.trackers.set_step(team_id=team, ref=ref, step="", status=StepStatus.DONE,
                                    text="done on the phone", actor=actor)


def home(baton, user: str = ALICE, team: str = TEAM) -> str:
    body = wire.event_callback({"type": "app_home_opened", "user": user, "channel": "D0HOME",
                                "tab": "home"}, team=team)
    resp = baton.post(body, headers=wire.signed_headers(body, "test-signing-secret",
                                                        content_type="application/json"))
    assert resp.status_code == 200
    baton.runtime.wait_idle(timeout=60)
    publish = [c for c in baton.slack.calls_to("views.publish")
               if c.params.get("user_id") == user][-1]
    assert publish.response.get("ok"), publish.response
    view = publish.json_param("view")
    view = json.loads(view) if isinstance(view, str) else view
    assert len(view["blocks"]) <= 100
    return json.dumps(view["blocks"])


def step_refs(text: str) -> list[str]:
    return re.findall(r"\*(T-\d+\.\d+)\*", text)


@pytest.fixture
def others(baton):
    """Another workspace with its own P-1042: a handoff and a tracker, owned by its user."""
    baton.slack.add_user(OTHER_USER, name="olga", tz="America/New_York")
    baton.command("/handoff", "person: P-1042 to: Riverside Behavioral Health contact: desk "
                              "due: tomorrow 5pm risk: short-term",
                  user=OTHER_USER, team=OTHER_TEAM, channel=OTHER_CHANNEL)
    start(baton, "discharge", "P-1042", anchor=START, team=OTHER_TEAM, channel=OTHER_CHANNEL,
          owner=OTHER_USER)
    with baton.sessions() as s:
        assert s.scalar(select(Record).where(Record.team_id == OTHER_TEAM,
                                             Record.kind == "handoff")) is not None


def test_person_view_is_everything_open_for_that_person_most_urgent_first(baton, others):
    baton.command("/handoff", "person: P-1042 to: Northside Home Care contact: intake desk "
                              "due: 2031-01-15 17:00 risk: short-term")  # H-1: far off
    baton.command("/dependency", "person: P-1042 action: unsigned authorization partner: "
                                 "County Managed Care risk: same-day safeguard: temporary "
                                 "hold review: in 1h")  # D-1: its review falls due first
    baton.command("/handoff", "person: P-2000 to: Eastside Clinic contact: desk due: "
                              "tomorrow 5pm risk: short-term")  # H-2: someone else
    later = start(baton, "discharge", "P-1042", anchor=START + timedelta(days=1))  # T-1
    urgent = start(baton, "provisional", "P-1042", anchor=START - timedelta(days=2))  # T-2
    start(baton, "discharge", "P-2000", anchor=START)  # T-3: someone else's
    assert (later, urgent) == ("T-1", "T-2")
    with baton.sessions() as s:
        h1 = s.scalar(select(Record).where(Record.team_id == TEAM, Record.kind == "handoff",
                                           Record.number == 1))
    baton.runtime.coordination.assign_next_action(
        team_id=TEAM, record_id=h1.id, actor=ALICE, owner=BOB, action="call the intake desk",
        due=START + timedelta(days=1))
    step_done(baton, "T-2.1")  # the welfare check is done: no longer open
    baton.clock.set(START + timedelta(hours=2))

    baton.command("/baton", "person p-1042")  # any case: the code as stored
    text, blocks = reply_in_full(baton)
    body = shown(blocks)
    assert len(blocks) <= 50
    assert text.startswith("P-1042: 2 open handoffs and dependencies, 2 open trackers")
    # Handoffs and dependencies as the lists show them, the overdue review first, with
    # next actions and their owners.
    assert body.index("*D-1*") < body.index("*H-1*")
    assert "Northside Home Care" in body and "County Managed Care" in body
    assert f"*Next action:* <@{BOB}>" in body and "call the intake desk" in body
    assert "No next-action owner" in body  # D-1 has none
    # Trackers: the one with overdue steps first; only their open steps, most urgent first.
    assert body.index("*T-2*") < body.index("*T-1*")
    refs = step_refs(body)
    assert "T-2.1" not in refs  # done
    assert refs[:4] == ["T-2.2", "T-2.3", "T-2.4", "T-2.5"]  # overdue (the package started
    assert set(refs[4:]) == {f"T-1.{n}" for n in range(1, 10)}  # two days ago); then T-1's
    t2 = body[body.index("*T-2*"):body.index("*T-1*")]
    assert t2.count(":red_circle: *Overdue*") == 1  # its contacts, due two days in
    assert re.search(r"• \*T-2\.2\* Short-term coordination contacts · Case management · "
                     rf"owner <@{ALICE}> · :red_circle: \*Overdue\* since <!date\^", t2)
    assert re.search(r"• \*T-2\.3\* [^·]+ · Pharmacy · owner <@\w+> · due <!date", t2)
    assert ":mag: *Review due*" in body.split("*H-1*")[0]  # D-1's review has passed
    t1 = body[body.index("*T-1*"):]
    assert "Overdue" not in t1 and f"owner <@{ALICE}>" in t1
    assert "Health partner" in t1 and "Pharmacy" in t1
    # Nothing of P-2000, nor of the other workspace's P-1042.
    assert "P-2000" not in text + body and "Eastside" not in body and "*T-3*" not in body
    assert "Riverside" not in body and OTHER_USER not in body


def test_gate_steps_are_marked(baton):
    anchor = START + timedelta(days=20)  # the move date
    start(baton, "transition", "P-1042", anchor=anchor)
    baton.command("/baton", "person P-1042")
    _, blocks = reply_in_full(baton)
    lines = [ln for ln in shown(blocks).splitlines() if ln.startswith("• ")]
    gates = [ln for ln in lines if "cannot proceed without" in ln]
    assert len(gates) == 8  # the transition's eight gates
    assert not any("cannot proceed without" in ln for ln in lines
                   if "Staff briefings" in ln)  # a provider action, not a gate


def test_nothing_open_and_a_name_refused(baton, caplog):
    baton.command("/baton", "person P-1042")
    text, blocks = reply_in_full(baton)
    assert text.startswith("P-1042: 0 open handoffs and dependencies, 0 open trackers")
    assert "Nothing is open for P-1042." in shown(blocks)
    caplog.set_level(logging.DEBUG)  # every line, a library's debug trace of the reply too
    before = len(baton.replies())
    for typed in ("Maria Delgado", "P-1042 Maria Delgado", "p1042 Delgado"):
        baton.command("/baton", f"person {typed}")
        reply = baton.last_reply()
        assert reply.startswith(":warning: `/baton person` takes one person reference code "
                                "such as `P-1042`, alone: never a name.")
        assert "Maria" not in reply and "Delgado" not in reply  # not repeated back
    assert len(baton.replies()) == before + 3  # one refusal each, nothing else
    assert caplog.records and "Delgado" not in caplog.text
    baton.command("/baton", "person")
    assert "`/baton person P-1042`" in baton.last_reply()


def test_a_long_picture_stays_within_slacks_limits(baton):
    for _ in range(12):
        start(baton, "transition", "P-1042", anchor=START + timedelta(days=20))
    baton.command("/baton", "person P-1042")
    text, blocks = reply_in_full(baton)
    assert len(blocks) <= 50
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in blocks)
    assert text.startswith("P-1042: 0 open handoffs and dependencies, 12 open trackers")
    assert body_count(blocks) == 12


def body_count(blocks: list[dict]) -> int:
    return len(re.findall(r"^\*T-\d+\* ", shown(blocks), flags=re.MULTILINE))


# --- the huddle, the digest and the App Home ---


def dms_to(baton, user: str) -> list:
    dm = baton.slack.dm_channel(user)
    return [c for c in baton.slack.calls_to("chat.postMessage")
            if c.params.get("channel") == dm and c.response.get("ok")]


def blocks_text(call) -> str:
    value = call.json_param("blocks")
    return json.dumps(json.loads(value) if isinstance(value, str) else value)


def huddle(baton) -> str:
    baton.command("/baton", "huddle")
    posted = [c for c in baton.slack.calls_to("chat.postMessage")
              if "Huddle roster" in c.params.get("text", "")][-1]
    assert posted.response.get("ok"), posted.response
    return posted.params["text"] + blocks_text(posted)


def test_steps_overdue_or_due_today_reach_the_huddle_digest_and_home(baton, others):
    baton.command("/baton", f"coordinator <@{BOB}|bob> monday,tuesday,wednesday,thursday,"
                            "friday", user=BOB)
    start(baton, "discharge", "P-1042", anchor=START)  # Mon 09:00 New York
    baton.clock.set(MONDAY_8_31)  # Tuesday 08:31: Day 0 overdue, Day 1 due today
    step_done(baton, "T-1.2")  # the medication list: done, so shown nowhere

    roster = huddle(baton)
    assert "Tracker steps overdue or due today" in roster
    assert step_refs(roster) == ["T-1.1", "T-1.3", "T-1.4", "T-1.5", "T-1.6"]
    assert roster.count(":red_circle: *Overdue*") == 2 and "P-1042" in roster
    assert "5 tracker steps due (2 overdue)" in roster
    assert "No handoff or dependency needs you here." in roster
    # A step is no record row: no partner arrow, no Assign-next-action button for it.
    assert "→ —" not in roster and "row:" not in roster
    (posted,) = [e for e in _events(baton, "huddle_posted")]
    assert posted.after["steps"] == ["T-1.1", "T-1.3", "T-1.4", "T-1.5", "T-1.6"]
    assert posted.after["records"] == []

    assert baton.runtime.coordination.tick(teams=[TEAM]) == 1
    (digest,) = [c for c in dms_to(baton, BOB) if "digest" in c.params["text"]]
    flat = blocks_text(digest)
    assert step_refs(flat) == ["T-1.1", "T-1.3", "T-1.4", "T-1.5", "T-1.6"]
    assert "5 tracker steps due (2 overdue)" in digest.params["text"]
    assert "Riverside" not in flat and OTHER_USER not in flat  # nothing of the other team

    page = home(baton)
    assert "Your tracker steps overdue or due today" in page
    assert "Team tracker steps overdue or due today" in page
    assert step_refs(page).count("T-1.1") == 2  # hers, and the team's
    assert "T-1.2" not in step_refs(page) and "T-1.7" not in step_refs(page)
    assert "Tracker steps" not in home(baton, user=BOB).replace("Team tracker steps", "")

    step_done(baton, "T-1.1")  # done: gone from all three
    assert "T-1.1" not in step_refs(huddle(baton))
    assert "T-1.1" not in step_refs(home(baton))
    baton.clock.set(MONDAY_8_31 + timedelta(days=1))  # Wednesday's digest
    assert baton.runtime.coordination.tick(teams=[TEAM]) == 1
    wednesday = [c for c in dms_to(baton, BOB) if "digest" in c.params["text"]][-1]
    assert step_refs(blocks_text(wednesday)) == ["T-1.3", "T-1.4", "T-1.5", "T-1.6"]


def test_the_other_workspace_sees_only_its_own_steps(baton, others):
    start(baton, "discharge", "P-1042", anchor=START)
    baton.clock.set(MONDAY_8_31)
    page = home(baton, user=OTHER_USER, team=OTHER_TEAM)
    # Both workspaces number their tracker T-1: theirs are the steps their user owns.
    assert len(step_refs(page)) == 2 * 6  # Day 0 and Day 1, hers and the team's
    owners = re.findall(r"owner <@(\w+)>", page)
    assert owners and set(owners) == {OTHER_USER}


def test_no_coordinator_notice_goes_to_channels_with_open_trackers_only(baton):
    """The "no coordinator" notice: a channel with an open tracker is told (its steps page
    there); one whose only tracker was cancelled is not, whatever its steps' status."""
    start(baton, "discharge", "P-1042", anchor=START, channel="C0CARE02")
    ended = start(baton, "discharge", "P-2000", anchor=START, channel="C0CARE001")
    baton.runtime.trackers.cancel(team_id=TEAM, ref=ended, reason="logged in error",
                                  actor=ALICE)
    with baton.sessions() as s:
        assert queries.open_channels(s, team_id=TEAM, statuses=["pending", "open"]) == \
            ["C0CARE02"]


def _events(baton, kind: str) -> list[AuditEvent]:
    with baton.sessions() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.kind == kind)
                              .order_by(AuditEvent.id)))
