"""What pages, reminders and nudges say about a tracker's step or a tracker (no partner):
bot/slack/blocks/tracker_pages.py through pages.py and roster.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from bot.slack.blocks import pages, tracker_pages
from bot.slack.blocks import roster as roster_blocks

AT = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
OWNER = "U0OWNER01"


def step(**kw: Any) -> Any:
    base = dict(id=7, reference="T-12.3", kind="step", tracked=True, person_ref="P-1042",
                partner=None, title="Medication list", agency="pharmacy", step_group=None,
                step_key="medication-list", template="discharge", owner_id=OWNER,
                status="open", outcome=None, due_at=AT, closed_at=None, decision=None,
                escalation_tier=1, details=None, anchor_at=AT, created_at=AT,
                interim_action=None)
    base.update(kw)
    return SimpleNamespace(**base)


def work(reason: str = "step", **kw: Any) -> Any:
    return SimpleNamespace(id=70, reason=reason, acked_by=None, acked_at=None, tier=1, **kw)


def test_a_step_row_names_the_step_its_agency_owner_and_state() -> None:
    row = pages.page_row(step(), work(), AT + timedelta(hours=2))
    assert row.startswith(f"*T-12.3* · P-1042 · Medication list (Pharmacy, owner <@{OWNER}>)")
    assert "Past its due time by *2h*" in row and row.endswith("· open")
    blocked = step(status="blocked", outcome="pharmacy closed until Monday")
    assert pages.page_row(blocked, work(), AT).endswith("· blocked: pharmacy closed until "
                                                        "Monday")
    assert [b.text.text for b in pages.page_buttons(blocked, work())] == [
        "Acknowledge", "Record interim action"]
    blocked.interim_action = "pharmacist phoned the list through"
    assert "Interim action: pharmacist phoned the list through" in pages.page_row(
        blocked, work(), AT)
    modal = pages.interim_modal(blocked).to_dict()
    assert [b.get("block_id") for b in modal["blocks"][1:]] == ["text"]  # no risk, no review


def test_a_settled_step_says_so_and_asks_nothing() -> None:
    done = step(status="refused", closed_at=AT, outcome="declined; list checked by phone")
    said = pages.settled_text(done, work())
    assert said is not None and said.startswith("refused by the person <!date^")
    assert said.endswith(": declined; list checked by phone")
    assert pages.needing([(work(), done)]) == 0 and pages.page_buttons(done, work()) == []
    assert pages.settled_text(step(status="blocked"), work()) is None


def test_the_funding_page_states_the_gap_the_choices_and_the_impact_statement() -> None:
    mismatch = {"field": "funding-start", "days": -1, "at": "2026-12-22T14:00:00+00:00",
                "anchor": "2026-12-23T14:00:00+00:00"}
    funding = step(step_key="funding-decision", agency="commissioner", template="transition",
                   title="Commissioner decision", details={"mismatch": mismatch})
    row = pages.page_row(funding, work("funding"), AT)
    assert "The funding start date (<!date^" in row
    assert "by *1 day* (earlier)" in row
    assert "approved adjustment / declined / other" in row
    assert "Impact statement: _not recorded yet_" in row
    funding.details = {"mismatch": mismatch, "impact": {"supervision": "a senior on shift",
                                                        "duplicated": "$1,200 a week"}}
    row = pages.page_row(funding, work("funding"), AT)
    assert ("Impact statement: Transition supervision: a senior on shift; Cost of duplicated "
            "support: $1,200 a week") in row
    funding.status, funding.decision, funding.closed_at = "done", "declined", AT
    assert ": Declined" in pages.page_row(funding, work("funding"), AT)
    assert pages.page_what([funding]) == ("step", "Record the commissioner's decision.")


def test_a_trackers_immediate_risk_and_decision_deadline_rows() -> None:
    change = step(kind="tracker", reference="T-5", title="Service change notification",
                  template="service-change", step_key=None, agency=None, details={
                      "values": {"trigger": "mobility", "immediate-risk": "yes"}})
    row = pages.page_row(change, work("urgent"), AT)
    assert ":rotating_light: *Immediate risk*" in row and "Change trigger: mobility" in row
    assert "Immediate risk: yes" not in row
    package = step(kind="tracker", reference="T-6", title="Provisional support package",
                   template="provisional", step_key=None, agency=None)
    row = pages.page_row(package, work("decision"), AT + timedelta(hours=1))
    assert "hard decision deadline passed *1h ago*" in row
    assert "`/baton decide T-6 escalated EVIDENCE`" in row
    package.status, package.decision, package.outcome = "closed", "funded", "HCBS waiver"
    assert pages.settled_text(package, work("decision")) == "decided: Moved to a funded " \
        "program (HCBS waiver)"
    assert pages.page_what([change, package])[0] == "tracker"


def test_the_page_header_counts_steps_and_mixed_pages_count_items() -> None:
    text = pages.page_text("<@U1>", "Step owner", 1, 2, late=False,
                           what=pages.page_what([step(), step()]))
    assert "2 steps need you. Do the step, or mark it blocked with the reason." in text
    handoff = SimpleNamespace(tracked=False, kind="handoff")
    assert pages.page_what([handoff]) == ("record", pages.ASK)
    assert pages.page_what([handoff, step()])[0] == "item"


def test_reminders_and_nudges_about_a_step_never_mention_a_partner() -> None:
    s = step(step_group="Day 0")
    text = pages.reminder_text(s, AT - timedelta(hours=2))
    assert text.startswith(":alarm_clock: *T-12.3* · P-1042 · Medication list (Pharmacy, "
                           "Day 0, owner")
    assert "2h left before its due time" in text
    (_section, hint) = pages.reminder_blocks(s, AT - timedelta(hours=2))
    assert "`/baton step T-12 medication-list done`" in hint.elements[0].text
    assert pages.reminder_line(s, "2h") == f"Reminder sent to <@{OWNER}> for T-12.3 " \
        "Medication list: 2h left."
    nudge = roster_blocks.nudge_page(s, tier=1, waited="30m")
    assert "(P-1042 · Medication list, owner" in nudge and "→" not in nudge
    assert roster_blocks.nudge_section(nudge, s).accessory is None
    assert tracker_pages.short_subject(s) == "P-1042 · Medication list"
