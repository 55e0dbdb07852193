"""Partner trends and systemic-pattern notices end to end: handoffs logged through signed
requests, time moved on the injected clock (never slept), notices in the Slack emulator, on
SQLite and PostgreSQL.

These assume the wiring in bot/runtime.py and bot/app.py: `Baton.governance` (a
bot.governance.Governance) and handlers.governance.register(app, baton); the last test also
assumes `/baton partner NAME` answers with Governance.partner_figures."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.domain.permissions import Role, RoleConfig
from bot.domain.records import DomainError
from bot.services.partner_trends import Governance
from bot.services.permissions import Permissions, Refused
from bot.slack import wire
from bot.slack.blocks import partner_trends as render
from bot.slack.delivery import SlackDelivery
from bot.slack.ids import GovernanceAction
from bot.slack.lookup import SlackLookup
from store.models import AuditEvent, SystemicPattern
from tests.conftest import ALICE, BOB, CHANNEL, TEAM, blocks_of

GOV = "C0GOV"
DIRECTOR = "U0DIR0001"
NORTHSIDE = ("to: Northside Home Care contact: intake desk 555-0100 "
             "route: hospital discharge")
RIVERSIDE = "to: Riverside Behavioral Health contact: duty desk 555-0199"


def ny(day: int, hour: int, minute: int = 0) -> datetime:
    """New York wall-clock time in late November 2026 (EST, UTC-5)."""
    return datetime(2026, 11, day, hour + 5, minute, tzinfo=UTC)


@pytest.fixture
def baton(serve_factory, database_url):
    return serve_factory(database_url, BATON_GOVERNANCE_CHANNEL=GOV)


def log_handoffs(baton) -> None:
    """From Monday 09:00 in New York: six handoffs to Northside on the hospital discharge
    route (H-1 to H-6), one more acknowledged in time (H-7), and two to Riverside (H-8, H-9:
    under the threshold)."""
    for person, due in [("P-1", "today 10am"), ("P-2", "today 11am"), ("P-3", "today noon"),
                        ("P-4", "tomorrow 10am"), ("P-5", "tomorrow 11am"),
                        ("P-6", "wednesday 10am"), ("P-7", "today 1pm")]:
        baton.command("/handoff", f"person: {person} {NORTHSIDE} due: {due}")
    for person, due in [("P-8", "today 10am"), ("P-9", "today 11am")]:
        baton.command("/handoff", f"person: {person} {RIVERSIDE} due: {due}")
    baton.clock.set(ny(23, 9, 30))
    baton.command("/baton", "ack H-7")  # half an hour after it was logged: in time


def notices(baton) -> list:
    return [c for c in baton.slack.calls_to("chat.postMessage")
            if c.params.get("channel") == GOV and c.response.get("ok")]


def patterns(baton) -> list[SystemicPattern]:
    with baton.sessions() as s:
        return list(s.scalars(select(SystemicPattern).order_by(SystemicPattern.id)))


def events(baton, kind: str) -> list[AuditEvent]:
    with baton.sessions() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.kind == kind)
                              .order_by(AuditEvent.id)))


def buttons(call) -> list[dict]:
    return [e for b in blocks_of(call) if b["type"] == "actions" for e in b["elements"]]


def flat(blocks: list) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_repeated_misses_post_one_notice_and_refire_only_after_threshold_new_misses(baton):
    log_handoffs(baton)
    gov = baton.runtime.governance
    assert gov.sweep(TEAM) == 0
    baton.clock.set(ny(23, 11, 30))
    assert gov.sweep(TEAM) == 0  # two misses: under the threshold of 3
    baton.clock.set(ny(23, 12))  # H-3's deadline: the third miss
    assert gov.sweep(TEAM) == 1
    for _ in range(3):
        assert gov.sweep(TEAM) == 0  # once, not on every sweep
    (notice,) = notices(baton)
    blocks = blocks_of(notice)
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["text"] == "Systemic pattern: Northside Home Care · hospital discharge"
    text = flat(blocks)
    for ref in ("*H-1* · P-1", "*H-2* · P-2", "*H-3* · P-3"):
        assert ref in text
    assert "H-7" not in text and "H-8" not in text  # in time; another partner
    # Dates (Slack's date token) and delay durations.
    assert f"<!date^{int(ny(23, 10).timestamp())}^" in text
    assert "*2h* past the deadline so far" in text and "*1h* past" in text
    assert "Repeat frequency" in text and "3 missed in 30 days" in text
    assert "Service impact" in text and "7 records on this route still open" in text
    assert "3 past their deadline with no acknowledgement" in text
    assert [b["action_id"] for b in buttons(notice)] == [GovernanceAction.CASE_LEVEL,
                                                        GovernanceAction.SYSTEMIC]
    assert [b["text"]["text"] for b in buttons(notice)] == ["Case-level", "Systemic"]

    (row,) = patterns(baton)
    assert (row.route, row.misses, row.window_days) == ("hospital discharge", 3, 30)
    assert row.partner.display_name == "Northside Home Care"
    assert (row.channel_id, row.message_ts) == (GOV, notice.response["ts"])
    assert row.detected_at == ny(23, 12) and row.classification is None
    assert [m["reference"] for m in row.evidence["misses"]] == ["H-1", "H-2", "H-3"]
    assert [m["delay_seconds"] for m in row.evidence["misses"]] == [7200, 3600, 0]
    (ev,) = events(baton, "systemic_pattern")
    assert ev.record_id is None and ev.actor == "baton"
    assert ev.after["records"] == ["H-1", "H-2", "H-3"]

    # A late acknowledgement does not undo a miss; the fourth and fifth misses do not refire.
    baton.command("/baton", "ack H-1")
    baton.clock.set(ny(24, 11, 30))
    assert gov.sweep(TEAM) == 0
    assert len(notices(baton)) == 1 and len(patterns(baton)) == 1
    # The sixth is the third new miss since the notice: it fires again, with only those.
    baton.clock.set(ny(25, 10))
    assert gov.sweep(TEAM) == 1
    assert gov.sweep(TEAM) == 0
    second = notices(baton)[1]
    text = flat(blocks_of(second))
    assert "*H-4* · P-4" in text and "*H-6* · P-6" in text and "*H-1*" not in text
    assert "since the last notice" in text and "6 missed in 30 days" in text
    assert [p.misses for p in patterns(baton)] == [3, 3]
    assert len(events(baton, "systemic_pattern")) == 2


def test_two_replicas_sweeping_at_once_post_one_notice(baton):
    log_handoffs(baton)
    baton.clock.set(ny(23, 12))
    runtime = baton.runtime
    replicas = [Governance(baton.sessions, baton.clock, SlackDelivery(runtime.client),
                           runtime.settings, permissions=runtime.permissions)
                for _ in range(2)]
    start = threading.Barrier(2)
    posted: list[int] = []

    def run(gov: Governance) -> None:
        start.wait()
        posted.append(gov.sweep(TEAM))

    threads = [threading.Thread(target=run, args=(g,)) for g in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(posted) == [0, 1]
    assert len(patterns(baton)) == 1 and len(notices(baton)) == 1
    assert len(events(baton, "systemic_pattern")) == 1


def test_a_failed_post_is_retried_by_the_next_sweep(baton, slack):
    log_handoffs(baton)
    baton.clock.set(ny(23, 12))
    gov = baton.runtime.governance
    slack.fail_next("chat.postMessage", error="not_in_channel")
    assert gov.sweep(TEAM) == 0
    (row,) = patterns(baton)
    assert row.channel_id == GOV and row.message_ts is None  # claimed, not posted
    assert gov.sweep(TEAM) == 1
    (row,) = patterns(baton)
    (notice,) = notices(baton)
    assert row.message_ts == notice.response["ts"]
    assert gov.sweep(TEAM) == 0 and len(notices(baton)) == 1


def test_without_a_governance_channel_patterns_are_recorded_not_posted(serve_factory,
                                                                      database_url, caplog):
    baton = serve_factory(database_url)
    log_handoffs(baton)
    baton.clock.set(ny(23, 12))
    gov = baton.runtime.governance
    with caplog.at_level(logging.WARNING, logger="baton.governance"):
        assert gov.sweep(TEAM) == 0
        baton.clock.set(ny(25, 10))
        assert gov.sweep(TEAM) == 0
    rows = patterns(baton)
    assert [(r.misses, r.channel_id, r.message_ts) for r in rows] == [(3, None, None),
                                                                      (3, None, None)]
    warned = [r for r in caplog.records if "BATON_GOVERNANCE_CHANNEL" in r.getMessage()]
    assert len(warned) == 1  # once, not on every sweep
    assert all(c.params.get("channel") == CHANNEL or c.params.get("thread_ts")
               for c in baton.slack.calls_to("chat.postMessage"))


def _classify_view(baton) -> dict:
    call = baton.slack.calls_to("views.open")[-1]
    view = dict(call.json_param("view"))
    view["id"] = call.response["view"]["id"]
    return view


def _submit(baton, view: dict, *, classification: str, route: str | None, owner: str | None,
            review: str | None, impact: str = "", user: str = BOB):
    """A view_submission with Slack's own state shapes (the date picker included)."""
    options = {b["block_id"]: b["element"].get("options", []) for b in view["blocks"]
               if b["type"] == "input"}

    def option(block: str, value: str | None) -> dict | None:
        return next((o for o in options[block] if o["value"] == value), None)

    values = {
        "classification": {"value": {"type": "static_select",
                                     "selected_option": option("classification",
                                                               classification)}},
        "corrective_route": {"value": {"type": "static_select",
                                       "selected_option": option("corrective_route", route)}},
        "owner_id": {"value": {"type": "users_select", "selected_user": owner}},
        "review_due": {"value": {"type": "datepicker", "selected_date": review}},
        "contract_impact": {"value": {"type": "plain_text_input", "value": impact or None}},
    }
    body = wire.view_submission(view=view, values=values, user=user, team=TEAM)
    resp = baton.post(body)
    baton.runtime.wait_idle(timeout=60)
    return resp


def test_the_director_classifies_the_pattern_and_the_notice_shows_it(baton):
    log_handoffs(baton)
    baton.clock.set(ny(23, 12))
    baton.runtime.governance.sweep(TEAM)
    (notice,) = notices(baton)
    ts = notice.response["ts"]
    systemic = next(b for b in buttons(notice) if b["action_id"] == GovernanceAction.SYSTEMIC)
    baton.clock.set(ny(23, 14))
    baton.click(GovernanceAction.SYSTEMIC, systemic["value"], user=BOB, channel=GOV,
                message_ts=ts)
    view = _classify_view(baton)
    assert view["callback_id"] == "pattern_classify"
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs["classification"]["initial_option"]["value"] == "systemic"
    assert [o["value"] for o in inputs["corrective_route"]["options"]] == [
        "joint_review", "protocol_revision", "senior_partner_meeting",
        "commissioner_intervention"]
    assert inputs["owner_id"]["type"] == "users_select"
    assert inputs["review_due"]["type"] == "datepicker"

    # Field-level errors; nothing recorded.
    body = _submit(baton, view, classification="systemic", route="protocol_revision",
                   owner=None, review="2026-12-15").json()
    assert body["response_action"] == "errors" and list(body["errors"]) == ["owner_id"]
    body = _submit(baton, view, classification="systemic", route="protocol_revision",
                   owner=DIRECTOR, review="2026-11-20").json()
    assert list(body["errors"]) == ["review_due"] and "passed" in body["errors"]["review_due"]
    body = _submit(baton, view, classification="systemic", route=None, owner=DIRECTOR,
                   review="2026-12-15").json()
    assert list(body["errors"]) == ["corrective_route"]
    assert patterns(baton)[0].classification is None and not events(baton, "pattern_classified")

    resp = _submit(baton, view, classification="systemic", route="protocol_revision",
                   owner=DIRECTOR, review="2026-12-15",
                   impact="start delays on 3 packages; unfunded coordinator time")
    assert resp.status_code == 200 and resp.text == ""
    (row,) = patterns(baton)
    assert (row.classification, row.corrective_route, row.owner_id, row.classified_by) == (
        "systemic", "protocol_revision", DIRECTOR, BOB)
    # A picked date is the end of that working day in the director's zone (Bob: Los Angeles).
    assert row.review_due == datetime(2026, 12, 16, 1, 0, tzinfo=UTC)
    assert row.classified_at == ny(23, 14)
    (ev,) = events(baton, "pattern_classified")
    assert ev.actor == BOB and ev.record_id is None
    assert ev.before["classification"] is None
    assert ev.after["classification"] == "systemic" and ev.after["owner_id"] == DIRECTOR
    assert ev.after["review_due"] == "2026-12-16T01:00:00+00:00"
    # The notice is edited in place: the decision instead of the buttons.
    update = [c for c in baton.slack.calls_to("chat.update") if c.params["ts"] == ts][-1]
    assert update.params["channel"] == GOV
    text = flat(blocks_of(update))
    assert "Classified *Systemic* by <@U0BOB0001>" in text
    assert "*Protocol revision*" in text and f"executive owner <@{DIRECTOR}>" in text
    assert "start delays on 3 packages" in text
    assert not buttons(update)

    # A second classification is refused, from the button and from the service.
    baton.click(GovernanceAction.CASE_LEVEL, systemic["value"], user=BOB, channel=GOV,
                message_ts=ts)
    assert "already classified Systemic" in baton.last_reply()
    with pytest.raises(DomainError, match="already classified Systemic"):
        baton.runtime.governance.classify(
            row.id, actor=BOB, team_id=TEAM, classification="case-level",
            corrective_route=None, owner_id=ALICE, review_due=ny(30, 12))
    # Alice is staff: refused before the form opens, and the refusal is in the trail.
    baton.click(GovernanceAction.CASE_LEVEL, systemic["value"], user=ALICE, channel=GOV,
                message_ts=ts)
    assert "Only a manager (the accountable director) can classify" in baton.last_reply()
    assert [(e.actor, e.field) for e in events(baton, "refused")] == [(ALICE, "classify")]
    assert len(events(baton, "pattern_classified")) == 1


def test_classification_refuses_bad_input_and_non_managers(baton):
    log_handoffs(baton)
    baton.clock.set(ny(23, 12))
    gov = baton.runtime.governance
    gov.sweep(TEAM)
    (row,) = patterns(baton)
    good = dict(actor=BOB, team_id=TEAM, classification="case-level", corrective_route=None,
                owner_id=DIRECTOR, review_due=ny(30, 17))
    for change, field in [({"classification": "maybe"}, "classification"),
                          ({"owner_id": None}, "owner_id"),
                          ({"review_due": ny(23, 11)}, "review_due"),
                          ({"review_due": None}, "review_due"),
                          ({"classification": "systemic"}, "corrective_route"),
                          ({"corrective_route": "prayer"}, "corrective_route")]:
        with pytest.raises(DomainError) as caught:
            gov.classify(row.id, **{**good, **change})
        assert caught.value.field == field, change
    # With managers named in [roles], only they classify: Bob's Slack admin no longer counts.
    strict = Governance(baton.sessions, baton.clock, SlackDelivery(baton.runtime.client),
                        baton.runtime.settings, permissions=Permissions(
                            SlackLookup(baton.runtime.client),
                            RoleConfig({Role.MANAGER: frozenset({DIRECTOR})}),
                            sessions=baton.sessions, clock=baton.clock,
                            coordinator_of=lambda **_: None,
                            slack_admin=baton.runtime.directory.is_admin))
    with pytest.raises(Refused, match="Only a manager"):
        strict.classify(row.id, **good)
    assert events(baton, "refused")[-1].actor == BOB
    assert strict.classify(row.id, **{**good, "actor": DIRECTOR}).classification == "case-level"
    assert patterns(baton)[0].corrective_route is None  # case-level needs no corrective route


def test_partner_figures_per_route_for_30_and_90_days(baton):
    log_handoffs(baton)
    baton.clock.set(ny(23, 12))
    baton.runtime.engine.run_due()  # overdue, pages to tiers 1 and 2 (the built-in ladder)
    gov = baton.runtime.governance
    gov.sweep(TEAM)
    figures = gov.partner_figures(TEAM, "northside")  # part of the name is enough
    blocks = render.partner_page(figures)
    dicts = [b.to_dict() for b in blocks]  # slack_sdk validates each block
    assert dicts[0]["text"]["text"] == "Partner trends: Northside Home Care"
    text = flat(dicts)
    assert "*All routes*" in text and "*Route: hospital discharge*" in text
    assert "30 d: 3 of 3 · 90 d: 3 of 3" in text  # missed of deadlines fallen due
    assert "median 30m, longest 30m" in text  # H-7, acknowledged after half an hour
    assert "tier 1 ×3, tier 2 ×2" in text
    assert "*Stalled days*\\n30 d: 2 · 90 d: 2" in text  # H-1 2h, H-2 1h, H-3 0h
    assert "*Late responses*\\n30 d: 3 · 90 d: 3" in text
    assert "7 records (P-1, P-2, P-3, P-4, P-5, P-6, P-7)" in text
    assert "Systemic-pattern notices" in text and "awaiting classification" in text
    assert "Riverside" not in text

    with pytest.raises(DomainError, match="No partner agency called “Nobody Agency”") as e:
        gov.partner_figures(TEAM, "Nobody Agency")
    assert "Northside Home Care" in str(e.value) and "Riverside Behavioral Health" in str(e.value)
    with pytest.raises(DomainError, match="matches several partners"):
        gov.partner_figures(TEAM, "side")
    with pytest.raises(DomainError, match="Which partner"):
        gov.partner_figures(TEAM, "  ")


def test_baton_partner_command_shows_one_partners_figures(baton):
    """Needs `/baton partner NAME` wired to Governance.partner_figures."""
    log_handoffs(baton)
    baton.clock.set(ny(23, 12))
    baton.command("/baton", "partner Northside Home Care")
    shown = str(baton.slack.calls_to("response_url")[-1].params.get("blocks"))
    assert "Partner trends: Northside Home Care" in shown and "hospital discharge" in shown
    baton.command("/baton", "partner Nobody Agency")
    assert "No partner agency called “Nobody Agency”" in baton.last_reply()


def test_a_name_in_the_contract_impact_is_asked_about_first(baton):
    log_handoffs(baton)
    baton.clock.set(ny(23, 12))
    baton.runtime.governance.sweep(TEAM)
    (notice,) = notices(baton)
    systemic = next(b for b in buttons(notice) if b["action_id"] == GovernanceAction.SYSTEMIC)
    baton.click(GovernanceAction.SYSTEMIC, systemic["value"], user=BOB, channel=GOV,
                message_ts=notice.response["ts"])
    view = _classify_view(baton)
    impact = "Ms Tran at intake says three starts slipped"
    body = _submit(baton, view, classification="systemic", route="protocol_revision",
                   owner=DIRECTOR, review="2026-12-15", impact=impact).json()
    assert body["response_action"] == "update"  # the form again, with the warning
    shown = body["view"]
    assert "“Ms Tran”" in flat(shown["blocks"]) and "`contract_impact`" in flat(shown["blocks"])
    assert patterns(baton)[0].classification is None  # nothing recorded before the choice
    options = {b["block_id"]: b["element"].get("options", []) for b in shown["blocks"]
               if b["type"] == "input"}

    def option(block: str, value: str) -> dict:
        return next(o for o in options[block] if o["value"] == value)

    body = wire.view_submission(
        view=dict(shown, id=view["id"]), user=BOB, team=TEAM, values={
            "classification": {"value": {"type": "static_select",
                                         "selected_option": option("classification",
                                                                   "systemic")}},
            "corrective_route": {"value": {"type": "static_select",
                                           "selected_option": option("corrective_route",
                                                                     "protocol_revision")}},
            "owner_id": {"value": {"type": "users_select", "selected_user": DIRECTOR}},
            "review_due": {"value": {"type": "datepicker", "selected_date": "2026-12-15"}},
            "contract_impact": {"value": {"type": "plain_text_input", "value": impact}},
            "guard_confirm": {"value": {"type": "checkboxes",
                                        "selected_options": options["guard_confirm"]}},
        })
    resp = baton.post(body)
    baton.runtime.wait_idle(timeout=60)
    assert resp.status_code == 200 and resp.text == "", resp.text
    assert patterns(baton)[0].classification == "systemic"
    (ev,) = events(baton, "name_warning_overridden")
    assert ev.after == {"fields": ["contract_impact"]} and ev.actor == BOB
