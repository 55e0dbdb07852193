"""Roles and refusals through `serve` with signed requests, and workspace scoping: a refused
action is told who may do it, leaves a "refused" audit event and changes nothing; nothing
from one workspace is shown to or changed by another."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.domain.permissions import Role, RolesError, parse_roles
from bot.slack.blocks import roster as roster_blocks
from bot.slack.ids import ActionId
from store.models import AuditEvent, CoordinatorAssignment, DueWork, Record
from tests.conftest import ALICE, BOB, CHANNEL, TEAM

CAROL = "U0CAROL01"  # staff, not Alice's record
DAN = "U0DAN0001"  # in the managers user group
MANAGERS = "S0MANAGE1"
OTHER_TEAM = "T0OTHER01"
OTHER_USER = "U0OTHER01"
OTHER_CHANNEL = "C0OTHER01"

HANDOFF = ("person: P-1042 to: Northside Home Care contact: intake desk 555-0100 "
           "due: tomorrow 5pm risk: short-term")

ROLES = f"""
channel_post_interval = 0

[roles]
admins = ["{BOB}"]
managers = ["{MANAGERS}"]
coordinators = ["{CAROL}", "{ALICE}"]
"""


@pytest.fixture
def baton(serve_factory, database_url, tmp_path, slack):
    cfg = tmp_path / "baton.toml"
    cfg.write_text(ROLES)
    slack.add_user(CAROL, name="carol", tz="America/New_York")
    slack.add_user(DAN, name="dan", tz="America/New_York")
    slack.add_usergroup(MANAGERS, "care-managers", [DAN])
    return serve_factory(database_url, BATON_CONFIG=str(cfg))


def events(baton, kind: str | None = None) -> list[AuditEvent]:
    with baton.sessions() as s:
        q = select(AuditEvent).order_by(AuditEvent.seq)
        if kind:
            q = q.where(AuditEvent.kind == kind)
        return list(s.scalars(q))


def record(baton, ref: str = "H-1", team: str = TEAM) -> Record:
    kind, number = ("handoff" if ref[0] == "H" else "dependency"), int(ref[2:])
    with baton.sessions() as s:
        return s.scalars(select(Record).where(Record.team_id == team, Record.kind == kind,
                                              Record.number == number)).one()


def last_reply_in_full(baton) -> str:
    """The last ephemeral reply, its text and every block."""
    call = [c for c in baton.slack.calls if c.method in ("response_url", "chat.postEphemeral")][-1]
    return str(call.params.get("text", "")) + json.dumps(call.json_param("blocks") or [])


def test_staff_act_on_their_own_and_are_refused_on_others(baton):
    baton.command("/handoff", HANDOFF)  # Alice's
    before = record(baton)
    baton.command("/baton", "cancel H-1 referral withdrawn", user=CAROL)
    reply = baton.last_reply()
    assert "H-1: Only <@U0ALICE01> (the record's people), a manager or today's coordinator " \
           "can change this record. Nothing was changed." in reply
    after = record(baton)
    assert (after.status, after.version, after.cancel_reason) == \
        (before.status, before.version, None)
    (refused,) = events(baton, "refused")
    assert (refused.actor, refused.field, refused.record_ref) == (CAROL, "act_on_record", "H-1")
    assert not events(baton, "cancelled")
    # Pressing the card's Cancel button is refused before the form opens.
    opened = len(baton.slack.calls_to("views.open"))
    baton.click(ActionId.CANCEL, str(before.id), user=CAROL)
    assert len(baton.slack.calls_to("views.open")) == opened
    assert "can change this record" in baton.last_reply()
    assert len(events(baton, "refused")) == 2
    # The owner may.
    baton.command("/baton", "cancel H-1 referral withdrawn", user=ALICE)
    assert record(baton).status == "cancelled"


def test_a_manager_from_a_user_group_and_todays_coordinator_act_on_any_record(baton):
    baton.command("/handoff", HANDOFF)
    baton.command("/handoff", HANDOFF.replace("P-1042", "P-2077"))
    baton.command("/baton", "ack H-1", user=DAN)  # a manager through the user group
    assert record(baton, "H-1").status == "acknowledged"
    baton.command("/baton", "ack H-2", user=CAROL)  # not coordinator today yet
    assert "Nothing was changed" in baton.last_reply()
    baton.command("/baton", f"coordinator <@{CAROL}|carol>", user=DAN)  # managers set the rota
    baton.command("/baton", "ack H-2", user=CAROL)
    assert record(baton, "H-2").status == "acknowledged"
    # Tomorrow she is staff again.
    baton.command("/handoff", HANDOFF.replace("P-1042", "P-3"))
    baton.clock.advance(timedelta(days=1))
    baton.command("/baton", "ack H-3", user=CAROL)
    assert record(baton, "H-3").status == "pending"


def test_only_managers_and_admins_set_the_rota_and_only_listed_coordinators_serve(baton):
    baton.command("/baton", f"coordinator <@{CAROL}|carol>", user=ALICE)
    assert "Only a manager or an admin can set the coordinator of the day" in baton.last_reply()
    baton.command("/baton", f"coordinator <@{OTHER_USER}|x>", user=BOB)  # an admin
    assert "not on the coordinators list" in baton.last_reply()
    with baton.sessions() as s:
        assert s.scalar(select(func.count()).select_from(CoordinatorAssignment)) == 0
    baton.command("/baton", f"coordinator <@{ALICE}|alice>", user=BOB)
    assert "coordinator of the day" in baton.last_reply()
    assert [e.actor for e in events(baton, "refused")] == [ALICE]


def test_only_admins_change_ladders(baton):
    baton.command("/baton", "ladder use default", user=DAN)  # a manager, not an admin
    assert "Only an admin can change an escalation ladder" in baton.last_reply()
    baton.command("/baton", "ladder use default", user=BOB)
    assert [e.actor for e in events(baton, "ladder_changed")] == [BOB]
    (refused,) = events(baton, "refused")
    assert (refused.actor, refused.field, refused.after) == (DAN, "change_ladder",
                                                            {"channel": CHANNEL})


def test_only_the_paged_tier_or_a_manager_acknowledges_a_page(baton):
    baton.command("/handoff", HANDOFF)
    with baton.sessions() as s:
        due = s.scalars(select(Record)).one().due_at
    baton.clock.set(due + timedelta(minutes=1))
    baton.runtime.engine.run_due()
    with baton.sessions() as s:
        page = s.scalars(select(DueWork).where(DueWork.kind == "page",
                                               DueWork.state == "done")).one()
    baton.click(ActionId.PAGE_ACK, str(page.id), user=CAROL)  # tier 1 pages the owner
    assert "Only <@U0ALICE01> or a manager can acknowledge tier 1" in baton.last_reply()
    with baton.sessions() as s:
        assert s.get(DueWork, page.id).acked_by is None
    baton.click(ActionId.PAGE_ACK, str(page.id), user=DAN)
    with baton.sessions() as s:
        assert s.get(DueWork, page.id).acked_by == DAN
    assert [(e.actor, e.field) for e in events(baton, "refused")] == [(CAROL, "ack_page")]


def test_with_a_staff_list_only_staff_log_records(serve_factory, database_url, tmp_path, slack):
    cfg = tmp_path / "staff.toml"
    cfg.write_text(ROLES + f'staff = ["{ALICE}"]\n')
    baton = serve_factory(database_url, BATON_CONFIG=str(cfg))
    baton.command("/handoff", HANDOFF, user=OTHER_USER)
    assert "Only staff can log a record. Nothing was changed." in baton.last_reply()
    with baton.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Record)) == 0
    assert [e.actor for e in events(baton, "refused")] == [OTHER_USER]
    baton.command("/handoff", HANDOFF, user=ALICE)
    assert record(baton).owner_id == ALICE


def test_bad_roles_config_is_one_line():
    with pytest.raises(RolesError, match=r"roles.managers\[1\]: “bob” is not a Slack user ID"):
        parse_roles({"roles": {"managers": ["U0BOB0001", "bob"]}})
    with pytest.raises(RolesError, match=r"roles\.directors: unknown role"):
        parse_roles({"roles": {"directors": []}})
    with pytest.raises(RolesError, match=r"roles\.admins: must be a list"):
        parse_roles({"roles": {"admins": "U0BOB0001"}})
    cfg = parse_roles({"roles": {"managers": ["S0ABC"]}}, legacy_managers=["U0OLD1"])
    assert cfg.of(Role.MANAGER) == {"S0ABC", "U0OLD1"} and not cfg.configured(Role.ADMIN)


# --- workspaces ---


def test_nothing_crosses_workspaces(baton):
    baton.command("/handoff", HANDOFF)  # H-1 in TEAM
    ours = record(baton)
    other = dict(user=OTHER_USER, team=OTHER_TEAM, channel=OTHER_CHANNEL)
    # Their own numbering: their first record is also H-1, and it is theirs.
    baton.command("/handoff", HANDOFF.replace("P-1042", "P-9"), **other)
    theirs = record(baton, team=OTHER_TEAM)
    assert theirs.reference == "H-1" and theirs.id != ours.id
    # Shown: only their own.
    baton.command("/baton", "show H-1", **other)
    assert "P-9" in last_reply_in_full(baton) and "P-1042" not in last_reply_in_full(baton)
    baton.command("/baton", "list", **other)
    assert "P-9" in last_reply_in_full(baton) and "P-1042" not in last_reply_in_full(baton)
    # Changed: a button carrying our record's id, from their workspace, finds nothing.
    baton.click(ActionId.PARTNER_ACK, str(ours.id), **other)
    assert "No record" in baton.last_reply()
    assert record(baton).status == "pending"
    # Our pages: their users cannot acknowledge them, even as a manager of ours would.
    with baton.sessions() as s:
        due = s.scalars(select(Record).where(Record.id == ours.id)).one().due_at
    baton.clock.set(due + timedelta(minutes=1))
    baton.runtime.engine.run_due()
    with baton.sessions() as s:
        page = s.scalars(select(DueWork).where(DueWork.kind == "page",
                                               DueWork.record_id == ours.id)).first()
    baton.click(ActionId.PAGE_ACK, str(page.id), **other)
    assert "no longer exists" in baton.last_reply()
    with baton.sessions() as s:
        assert s.get(DueWork, page.id).acked_by is None
    # Assigning a next action through a forged view with our record id.
    view = roster_blocks.assign_modal(ours, meta={}).to_dict()
    view["id"] = "V0FORGED"
    resp = baton.submit(view, {"owner": OTHER_USER, "text": "call intake", "due": "tomorrow 5pm"},
                        user=OTHER_USER, team=OTHER_TEAM)
    assert resp.status_code == 200 and "errors" in resp.json()
    assert record(baton).next_action is None
    # The App Home of their user holds nothing of ours.
    baton.post(_home_opened(OTHER_USER, OTHER_TEAM))
    baton.runtime.wait_idle(timeout=60)
    published = [c for c in baton.slack.calls_to("views.publish")
                 if c.params.get("user_id") == OTHER_USER]
    assert published and "P-1042" not in json.dumps(published[-1].json_param("view"))
    # Their audit trail and ours are separate chains.
    theirs_events = [e for e in events(baton) if e.team_id == OTHER_TEAM]
    assert theirs_events and all(e.record_id in (None, theirs.id) for e in theirs_events)
    assert [e.seq for e in theirs_events] == list(range(1, len(theirs_events) + 1))


def _home_opened(user: str, team: str) -> str:
    from bot.slack import wire

    return wire.event_callback({"type": "app_home_opened", "user": user, "tab": "home",
                                "channel": "D0HOME"}, team=team)


def test_a_manager_tier_paged_to_a_user_group_is_theirs_alone(baton):
    """Managers named only as a user group: the default ladder's manager tier mentions the
    group, and only its members (or the record's own tier people) may acknowledge it."""
    baton.command("/handoff", HANDOFF)
    with baton.sessions() as s:
        due = s.scalars(select(Record)).one().due_at
    for hours in (0, 1, 3):  # owner at the deadline, coordinator 1 h later, manager 2 h after
        baton.clock.set(due + timedelta(hours=hours, minutes=1))
        baton.runtime.engine.run_due()
    with baton.sessions() as s:
        page = s.scalars(select(DueWork).where(DueWork.kind == "page", DueWork.tier == 3,
                                               DueWork.state == "done")).one()
    post = [c for c in baton.slack.calls_to("chat.postMessage")
            if "Escalation tier 3" in c.params.get("text", "")][-1]
    assert f"<!subteam^{MANAGERS}>" in post.params["text"]
    baton.click(ActionId.PAGE_ACK, str(page.id), user=CAROL)
    assert "Nothing was changed" in baton.last_reply()
    with baton.sessions() as s:
        assert s.get(DueWork, page.id).acked_by is None
    baton.click(ActionId.PAGE_ACK, str(page.id), user=DAN)
    with baton.sessions() as s:
        assert s.get(DueWork, page.id).acked_by == DAN


def test_one_users_info_serves_both_time_zone_and_slack_admin(serve_factory, database_url):
    """With no [roles], Slack admins are managers: Bob's zone (read for his deadline) and
    his admin flag (for acting on Alice's record) come from one users.info call."""
    baton = serve_factory(database_url)
    baton.command("/handoff", HANDOFF)  # Alice's
    baton.command("/handoff", HANDOFF.replace("P-1042", "P-2"), user=BOB)  # reads Bob's zone
    baton.command("/baton", "ack H-1", user=BOB)  # a Slack admin: a manager, may act
    assert record(baton).status == "acknowledged"
    asked = [c for c in baton.slack.calls_to("users.info") if c.params.get("user") == BOB]
    assert len(asked) == 1
