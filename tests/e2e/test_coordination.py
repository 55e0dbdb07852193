"""Coordinator of the day, the morning digest, nudges, the App Home and the huddle roster,
through `serve` with signed requests; time moves on the injected clock."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot.slack import wire
from bot.slack.ids import ActionId
from store.models import AuditEvent, Notice, Record
from tests.conftest import ALICE, BOB, CHANNEL, TEAM, blocks_of

CAROL = "U0CAROL01"
MONDAY = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # 09:00 in New York, the agency's zone


def handoff(baton, person: str, due: str, *, risk: str = "short-term") -> None:
    baton.command("/handoff", f"person: {person} to: Northside Home Care contact: intake "
                              f"desk due: {due} risk: {risk}")


def dependency(baton, person: str, *, risk: str = "same-day", review: str = "in 3h") -> None:
    baton.command("/dependency", f"person: {person} action: unsigned authorization partner: "
                                 f"County Managed Care risk: {risk} safeguard: temporary hold "
                                 f"review: {review}")


def events(baton, kind: str) -> list[AuditEvent]:
    with baton.sessions() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.kind == kind)
                              .order_by(AuditEvent.id)))


def dms_to(baton, user: str) -> list:
    dm = baton.slack.dm_channel(user)
    return [c for c in baton.slack.calls_to("chat.postMessage")
            if c.params.get("channel") == dm and c.response.get("ok")]


def refs_in(call) -> list[str]:
    return [m for b in blocks_of(call) if b["type"] == "section"
            for m in re.findall(r"\*([HD]-\d+)\*", b.get("text", {}).get("text", ""))[:1]]


def test_rota_resolves_day_weekly_and_cover_in_the_agency_zone(baton):
    roster = baton.runtime.rota
    baton.command("/baton", f"coordinator <@{BOB}|bob> monday,wednesday", user=BOB)
    assert "every Monday, Wednesday" in baton.last_reply()
    baton.command("/baton", f"coordinator <@{ALICE}|alice>", user=BOB)  # today only: beats the rota
    assert roster.coordinator(team_id=TEAM, when=MONDAY) == ALICE
    # Monday 23:30 in New York is already Tuesday in UTC: still Alice's Monday.
    assert roster.coordinator(team_id=TEAM, when=datetime(2026, 11, 24, 4, 30, tzinfo=UTC)) \
        == ALICE
    assert roster.coordinator(team_id=TEAM, when=datetime(2026, 11, 24, 15, tzinfo=UTC)) is None
    assert roster.coordinator(team_id=TEAM, when=datetime(2026, 11, 25, 15, tzinfo=UTC)) == BOB
    assert roster.coordinator(team_id=TEAM, when=datetime(2026, 11, 30, 15, tzinfo=UTC)) == BOB
    baton.command("/baton", f"coordinator cover <@{CAROL}|carol> from 2026-11-25 to 2026-11-27",
                  user=BOB)
    assert "covers" in baton.last_reply()
    assert roster.coordinator(team_id=TEAM, when=datetime(2026, 11, 25, 15, tzinfo=UTC)) \
        == CAROL
    assert roster.coordinator(team_id=TEAM, when=datetime(2026, 12, 2, 15, tzinfo=UTC)) == BOB
    baton.command("/baton", "coordinator")
    listing = baton.last_reply()
    assert f"*Today*: <@{ALICE}>" in listing and f"<@{CAROL}> (cover)" in listing
    assert "not a working day" in listing  # the weekend
    assert [e.field for e in events(baton, "coordinator_set")] == \
        ["weekday", "weekday", "date", "cover"]
    # In other workspaces nobody is coordinator.
    assert roster.coordinator(team_id="T0OTHER", when=MONDAY) is None


def test_bad_rota_input_is_refused_and_writes_nothing(baton):
    baton.command("/baton", f"coordinator <@{BOB}|bob> mondays,funday", user=BOB)
    assert "“funday” is not a day of the week" in baton.last_reply()
    baton.command("/baton", f"coordinator cover <@{BOB}|bob> from 2026-11-27 to 2026-11-25",
                  user=BOB)
    assert "ends" in baton.last_reply() and "before it starts" in baton.last_reply()
    baton.command("/baton", "coordinator cover bob", user=BOB)
    assert "from DATE to DATE" in baton.last_reply()
    assert events(baton, "coordinator_set") == []


def test_ladder_coordinator_tier_pages_the_rota_coordinator(baton):
    baton.command("/baton", f"coordinator <@{BOB}|bob>", user=BOB)
    handoff(baton, "P-1042", "in 2h")
    with baton.sessions() as s:
        due = s.scalars(select(Record)).one().due_at
    baton.clock.set(due + timedelta(hours=1))  # the default ladder's tier 2: coordinator
    baton.runtime.engine.run_due()
    pages = [c for c in baton.slack.calls_to("chat.postMessage")
             if "Escalation tier 2" in c.params.get("text", "")]
    assert len(pages) == 1 and pages[0].params["text"].startswith(f"<@{BOB}>")


def test_digest_lists_flagged_records_highest_risk_first_once_a_working_day(baton):
    baton.command("/baton", f"coordinator <@{BOB}|bob>", user=BOB)
    handoff(baton, "P-1", "in 30m")  # H-1: will be overdue
    handoff(baton, "P-2", "2031-01-15 17:00")  # H-2: only lacks a next-action owner
    handoff(baton, "P-3", "today 4pm")  # H-3: due today
    dependency(baton, "P-4")  # D-1: same-day risk
    baton.clock.set(MONDAY + timedelta(hours=1))
    baton.runtime.engine.run_due()  # H-1 overdue, paged
    assert baton.runtime.coordination.tick() == 1
    (digest,) = [c for c in dms_to(baton, BOB) if "digest" in c.params["text"]]
    assert refs_in(digest) == ["H-1", "D-1", "H-3", "H-2"]
    flat = json.dumps(blocks_of(digest))
    assert "Overdue" in flat and "Same-day risk" in flat and "Due today" in flat
    assert "No next-action owner" in flat and "Unacknowledged page" in flat
    assert "Overdue: 1 · Same-day risk: 1" in digest.params["text"]
    assert "Assign next action" in flat and "Partner acknowledged" in flat
    # Once a day, however many sweeps and replicas.
    assert baton.runtime.coordination.tick() == 0
    assert len([c for c in dms_to(baton, BOB) if "digest" in c.params["text"]]) == 1
    assert len(events(baton, "digest_sent")) == 1


def test_no_digest_on_a_weekend_or_before_its_time(baton):
    baton.command("/baton", f"coordinator <@{BOB}|bob> monday,tuesday,wednesday,thursday,"
                            "friday,saturday,sunday", user=BOB)
    handoff(baton, "P-1", "2031-01-15 17:00")
    coordination = baton.runtime.coordination
    baton.clock.set(datetime(2026, 11, 28, 15, 0, tzinfo=UTC))  # Saturday 10:00
    assert coordination.tick() == 0
    baton.clock.set(datetime(2026, 11, 30, 13, 0, tzinfo=UTC))  # Monday 08:00: too early
    assert coordination.tick() == 0
    assert [c for c in dms_to(baton, BOB) if "digest" in c.params["text"]] == []
    baton.clock.set(datetime(2026, 11, 30, 13, 31, tzinfo=UTC))  # 08:31
    assert coordination.tick() == 1


def test_no_coordinator_tells_the_channel_once(baton):
    handoff(baton, "P-1", "2031-01-15 17:00")
    coordination = baton.runtime.coordination
    assert coordination.tick() == 1
    assert coordination.tick() == 0
    notices = [c for c in baton.slack.calls_to("chat.postMessage")
               if c.params.get("channel") == CHANNEL and "No coordinator" in c.params["text"]]
    assert len(notices) == 1
    with baton.sessions() as s:
        (row,) = s.scalars(select(Notice)).all()
    assert row.kind == "no_coordinator" and row.sent_at is not None


def test_failed_digest_is_sent_on_the_next_sweep(baton):
    baton.command("/baton", f"coordinator <@{BOB}|bob>", user=BOB)
    handoff(baton, "P-1", "2031-01-15 17:00")
    baton.slack.fail_next("chat.postMessage", status=503, times=10)
    assert baton.runtime.coordination.tick() == 0  # failed: the claim is let go
    baton.slack.clear_failures()
    assert baton.runtime.coordination.tick() == 1
    assert len([c for c in dms_to(baton, BOB) if "digest" in c.params["text"]]) == 1


def test_coordinator_is_nudged_for_same_day_risk_and_a_waiting_page(baton):
    baton.command("/baton", f"coordinator <@{BOB}|bob>", user=BOB)
    dependency(baton, "P-7", review="in 1h")
    baton.runtime.engine.run_due()
    (nudge,) = dms_to(baton, BOB)
    assert "same-day risk" in nudge.params["text"] and "D-1" in nudge.params["text"]
    # The review falls due: tier 1 pages the owner; its next tier is 1 h later, so the
    # coordinator hears of it after 30 minutes unacknowledged.
    with baton.sessions() as s:
        due = s.scalars(select(Record)).one().due_at
    baton.clock.set(due)
    baton.runtime.engine.run_due()
    baton.clock.set(due + timedelta(minutes=29))
    baton.runtime.engine.run_due()
    assert len(dms_to(baton, BOB)) == 1
    baton.clock.set(due + timedelta(minutes=30))
    baton.runtime.engine.run_due()
    second = dms_to(baton, BOB)[-1]
    assert "tier 1 page" in second.params["text"] and "30m" in second.params["text"]
    assert len(events(baton, "coordinator_nudged")) == 2


def test_a_page_sent_late_gets_its_nudge_half_a_delay_after_it_went_out(baton):
    """Catching up after downtime: the page goes out late; the coordinator's nudge waits
    half the tier delay from then, and says how long the page really waited."""
    baton.command("/baton", f"coordinator <@{BOB}|bob>", user=BOB)
    handoff(baton, "P-1", "in 2h")
    with baton.sessions() as s:
        due = s.scalars(select(Record)).one().due_at
    baton.clock.set(due + timedelta(minutes=20))  # Baton was down when the deadline passed
    baton.runtime.engine.run_due()
    assert len(events(baton, "paged")) == 1
    baton.clock.set(due + timedelta(minutes=49))  # 29 min after the late page
    baton.runtime.engine.run_due()
    assert dms_to(baton, BOB) == []
    baton.clock.set(due + timedelta(minutes=50))
    baton.runtime.engine.run_due()
    (nudge,) = dms_to(baton, BOB)
    assert "tier 1 page" in nudge.params["text"] and "30m" in nudge.params["text"]


def test_no_nudge_when_the_page_was_acknowledged(baton):
    baton.command("/baton", f"coordinator <@{BOB}|bob>", user=BOB)
    handoff(baton, "P-1", "in 2h")
    with baton.sessions() as s:
        due = s.scalars(select(Record)).one().due_at
    baton.clock.set(due)
    baton.runtime.engine.run_due()
    page = next(c for c in baton.slack.calls_to("chat.postMessage")
                if "Escalation tier 1" in c.params.get("text", ""))
    work_id = next(b["block_id"].split(":")[1] for b in blocks_of(page)
                   if b.get("block_id", "").startswith("page:"))
    baton.click(ActionId.PAGE_ACK, work_id, user=ALICE)  # Alice owns it: tier 1 is hers
    baton.clock.set(due + timedelta(minutes=31))
    baton.runtime.engine.run_due()
    assert dms_to(baton, BOB) == []


def test_app_home_shows_my_records_and_the_team_roster(baton):
    handoff(baton, "P-1", "in 30m")
    handoff(baton, "P-2", "2031-01-15 17:00")
    baton.clock.set(MONDAY + timedelta(hours=1))
    baton.runtime.engine.run_due()
    body = wire.event_callback({"type": "app_home_opened", "user": ALICE, "channel": "D0",
                                "tab": "home"}, team=TEAM)
    resp = baton.post(body, headers=wire.signed_headers(body, "test-signing-secret",
                                                        content_type="application/json"))
    assert resp.status_code == 200
    baton.runtime.wait_idle(timeout=60)
    (publish,) = baton.slack.calls_to("views.publish")
    assert publish.params["user_id"] == ALICE
    view = publish.json_param("view")
    view = json.loads(view) if isinstance(view, str) else view
    assert view["type"] == "home"
    flat = json.dumps(view["blocks"])
    assert "Your open records (2)" in flat and "Team roster, highest risk first" in flat
    assert flat.index("H-1") < flat.index("H-2")  # overdue first


def test_huddle_assign_next_action_updates_record_card_and_roster(baton):
    handoff(baton, "P-1", "2031-01-15 17:00")
    handoff(baton, "P-2", "in 30m")
    baton.command("/baton", "huddle")
    (huddle,) = [c for c in baton.slack.calls_to("chat.postMessage")
                 if "Huddle roster" in c.params.get("text", "")]
    assert refs_in(huddle) == ["H-2", "H-1"]  # due today before later
    with baton.sessions() as s:
        h1 = s.scalars(select(Record).where(Record.number == 1)).one()
    value = json.dumps({"record": h1.id, "surface": "huddle"})
    baton.click(ActionId.ASSIGN_NEXT, value, message_ts=huddle.response["ts"])
    (opened,) = baton.slack.calls_to("views.open")
    view = opened.json_param("view")
    view = json.loads(view) if isinstance(view, str) else view
    view["id"] = "V0ASSIGN"
    # A bad due time is a field error and changes nothing.
    resp = baton.submit(view, {"owner": BOB, "text": "call the intake desk", "due": "yesterday"})
    assert resp.json()["response_action"] == "errors" and "due" in resp.json()["errors"]
    assert events(baton, "next_action_assigned") == []
    resp = baton.submit(view, {"owner": BOB, "text": "call the intake desk",
                               "due": "tomorrow 10am"})
    assert resp.status_code == 200 and not resp.text
    baton.runtime.wait_idle(timeout=60)
    with baton.sessions() as s:
        h1 = s.get(Record, h1.id)
    assert h1.next_action_owner == BOB and h1.next_action == "call the intake desk"
    assert h1.next_action_set_by == ALICE
    assert h1.next_action_due == datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # 10am New York
    (event,) = events(baton, "next_action_assigned")
    assert event.after["owner"] == BOB and event.before["owner"] is None
    updates = baton.slack.calls_to("chat.update")
    roster_update = [u for u in updates if u.params.get("ts") == huddle.response["ts"]]
    assert roster_update and "call the intake desk" in json.dumps(blocks_of(roster_update[-1]))
    assert any(u.params.get("ts") == h1.card_ts for u in updates)  # the record card too
    assert len(events(baton, "huddle_posted")) == 1


def test_an_assigned_due_day_on_a_weekend_moves_to_friday_and_the_person_is_told(baton):
    handoff(baton, "P-1", "2031-01-15 17:00")
    with baton.sessions() as s:
        h1 = s.scalars(select(Record).where(Record.number == 1)).one()
    baton.click(ActionId.ASSIGN_NEXT, json.dumps({"record": h1.id, "surface": "huddle"}))
    (opened,) = baton.slack.calls_to("views.open")
    view = opened.json_param("view")
    view = json.loads(view) if isinstance(view, str) else view
    view["id"] = "V0ASSIGN"
    # Monday 23 Nov 2026: Saturday 28 Nov has no working hours, so Friday's end of day.
    resp = baton.submit(view, {"owner": BOB, "text": "call the intake desk", "due": "Nov 28"})
    assert resp.status_code == 200 and not resp.text
    baton.runtime.wait_idle(timeout=60)
    with baton.sessions() as s:
        assert s.get(Record, h1.id).next_action_due == datetime(2026, 11, 27, 22, 0,
                                                                 tzinfo=UTC)
    assert baton.last_reply() == ("`due`: Sat 28 Nov is not a working day: read as Fri 27 Nov "
                                  "17:00 (the working day before).")


def test_baton_report_uploads_the_evidence_with_files_upload_v2(baton):
    handoff(baton, "P-1", "in 30m")
    baton.command("/baton", "report")
    completed = baton.slack.calls_to("files.completeUploadExternal")
    assert len(completed) == 1 and completed[0].params.get("channel_id") == CHANNEL
    names = sorted(f["title"] for f in completed[0].json_param("files"))
    assert names == ["audit_events.csv", "escalations.csv", "records.csv", "report.html"]
    (event,) = events(baton, "report_uploaded")
    assert event.after["rows"]["records.csv"] == 1


def test_report_cli_writes_the_files(baton, tmp_path):
    import os
    import subprocess
    import sys

    handoff(baton, "P-1", "in 30m")
    env = {**os.environ, "DATABASE_URL": str(baton.sessions.kw["bind"].url
                                               .render_as_string(hide_password=False))}
    r = subprocess.run([sys.executable, "-m", "bot.cli", "report", "--from", "2026-11-01",
                        "--to", "2026-11-30", "--out", str(tmp_path)], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Records logged" in r.stdout or "records logged" in r.stdout.lower()
    assert (tmp_path / "report.html").exists()
    assert len((tmp_path / "records.csv").read_text().strip().splitlines()) == 2
    bad = subprocess.run([sys.executable, "-m", "bot.cli", "report", "--from", "2026-11-30",
                          "--to", "2026-11-01", "--out", str(tmp_path)], env=env,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "before --from" in bad.stderr


def test_app_home_publishes_with_my_records_in_both_lists(baton):
    """A record of mine is in "Your open records" and in the team roster: Slack refuses a
    view whose block_ids repeat, so each list names its own rows."""
    handoff(baton, "P-1", "in 30m")
    handoff(baton, "P-2", "2031-01-15 17:00")
    body = wire.event_callback({"type": "app_home_opened", "user": ALICE, "channel": "D0",
                                "tab": "home"}, team=TEAM)
    resp = baton.post(body, headers=wire.signed_headers(body, "test-signing-secret",
                                                        content_type="application/json"))
    assert resp.status_code == 200
    baton.runtime.wait_idle()
    (publish,) = baton.slack.calls_to("views.publish")
    assert publish.response["ok"] is True, publish.response
    view = publish.response["view"]
    ids = [b["block_id"] for b in view["blocks"] if b["type"] == "actions"]
    assert len(ids) == len(set(ids)) == 4
    with baton.sessions() as s:
        record_ids = sorted(s.scalars(select(Record.id)))
    assert sorted(ids) == sorted([f"mine:row:{i}" for i in record_ids]
                                 + [f"team:row:{i}" for i in record_ids])
    # The Home's buttons still work from either list: "Assign next action" opens its form.
    assign = next(e for b in view["blocks"] if b.get("block_id") == f"team:row:{record_ids[0]}"
                  for e in b["elements"] if e["action_id"] == ActionId.ASSIGN_NEXT)
    baton.click(ActionId.ASSIGN_NEXT, assign["value"])
    (opened,) = baton.slack.calls_to("views.open")
    assert opened.response["ok"] is True
    assert json.loads(opened.response["view"]["private_metadata"])["surface"] == "home"


@pytest.mark.parametrize(("channel", "private", "said"), [
    ("C0NOTIN01", False, "Baton isn't in <#C0NOTIN01>, so the report went to you by direct "
                         "message. To share it here: `/invite @Baton`."),
    ("C0PRIVAT1", True, "Baton isn't in <#C0PRIVAT1>, so the report went to you by direct "
                        "message. To share it here: `/invite @Baton`."),
])
def test_report_in_a_channel_baton_is_not_in_goes_to_the_requester(baton, caplog, channel,
                                                                   private, said):
    """chat:write.public posts cards in a public channel Baton never joined, but a file is
    shared only where Baton is a member (not_in_channel); a private one it is not in does not
    exist for it (channel_not_found). Either way the report goes to the requester's DM."""
    baton.slack.add_channel(channel, "outreach", is_private=private, is_member=False)
    caplog.set_level(logging.INFO)
    baton.command("/baton", "report", channel=channel)
    assert baton.last_reply() == said
    done = [c for c in baton.slack.calls_to("files.completeUploadExternal")
            if c.response.get("ok")]
    assert len(done) == 1 and done[0].params.get("channel_id") == baton.slack.dm_channel(ALICE)
    assert sorted(f["title"] for f in done[0].json_param("files")) == [
        "audit_events.csv", "escalations.csv", "records.csv", "report.html"]
    (event,) = events(baton, "report_uploaded")
    assert event.field == channel and event.after["delivered"] == "direct message"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_report_in_an_archived_channel_goes_to_the_requester(baton):
    baton.slack.add_channel("C0ARCHIV1", "old-intake", is_archived=True)
    baton.command("/baton", "report", channel="C0ARCHIV1")
    assert baton.last_reply() == ("<#C0ARCHIV1> is archived, so the report went to you by "
                                  "direct message.")
    (done,) = [c for c in baton.slack.calls_to("files.completeUploadExternal")
               if c.response.get("ok")]
    assert done.params.get("channel_id") == baton.slack.dm_channel(ALICE)


def test_a_late_trigger_on_a_huddle_row_reopens_for_that_roster(baton):
    handoff(baton, "P-1", "in 30m")
    baton.command("/baton", "huddle")
    (huddle,) = [c for c in baton.slack.calls_to("chat.postMessage")
                 if "Huddle roster" in c.params.get("text", "")]
    with baton.sessions() as s:
        record_id = s.scalars(select(Record.id)).one()
    body = wire.block_actions(action_id=ActionId.ASSIGN_NEXT,
                              value=json.dumps({"record": record_id, "surface": "huddle"}),
                              user=ALICE, team=TEAM, channel=CHANNEL,
                              message_ts=huddle.response["ts"],
                              trigger_id=baton.slack.issue_trigger(age=5),
                              response_url=baton.slack.response_url("late-assign"))
    baton.post(body)
    baton.runtime.wait_idle()
    note = [c for c in baton.slack.calls if c.method == "response_url"][-1]
    (button,) = [e for b in blocks_of(note) if b["type"] == "actions" for e in b["elements"]]
    # Clicked on the note (its own ts), the form still belongs to the huddle message.
    baton.click(button["action_id"], button["value"], message_ts="9.9")
    opened = baton.slack.calls_to("views.open")[-1]
    assert opened.response["ok"] is True
    meta = json.loads(opened.response["view"]["private_metadata"])
    assert meta == {"surface": "huddle", "channel": CHANNEL, "ts": huddle.response["ts"],
                    "record": record_id}
