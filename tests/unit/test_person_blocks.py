"""The person view and the roster's "Tracker steps" section keep within Slack's limits
(50 blocks a message, 100 a view, 3,000 characters a section), saying how many more there
are instead of losing them silently; and a step is rendered with its person and owner,
never a partner. Pure renderers, unsaved records."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from bot.console.emulator import block_kit_problem
from bot.domain.roster import Row
from bot.domain.tracker_config import parse_templates
from bot.services.trackers import PersonPicture, TrackerView
from bot.slack.blocks import person, roster
from bot.slack.blocks.due_steps import step_line
from bot.slack.cards import as_dicts
from store.models import Handoff, PartnerAgency, Step, Tracker

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
OWNER = "U0OWNER01"
LONG = "Equipment and assistive needs, " * 6  # a long configured step name


def handoff(n: int, due: datetime) -> Handoff:
    return Handoff(id=n, number=n, team_id="T1", person_ref="P-1042", status="pending",
                   due_at=due, owner_id=OWNER, channel_id="C1", risk="short-term",
                   kind="handoff", next_action_owner=OWNER,
                   next_action="call the intake desk, then the family, " * 12,
                   partner=PartnerAgency(display_name="Northside Home Care " * 5))


def tracker(n: int, steps: int, *, anchor: datetime = NOW) -> TrackerView:
    t = Tracker(id=10_000 + n, number=n, team_id="T1", person_ref="P-1042", status="open",
                due_at=anchor + timedelta(days=3), owner_id=OWNER, channel_id="C1",
                kind="tracker", template="discharge", title="Post-discharge 72-hour sprint",
                anchor_at=anchor)
    return TrackerView(t, [
        Step(id=100_000 + n * 100 + i, number=n * 100 + i, team_id="T1", person_ref="P-1042",
             status="open" if i % 5 else "blocked", outcome="waiting on the pharmacy",
             due_at=anchor + timedelta(hours=i), owner_id=OWNER, channel_id="C1",
             kind="step", title=f"{LONG}{i}", agency="health-partner", gate=i % 3 == 0,
             parent_id=t.id)
        for i in range(1, steps + 1)])


def test_a_person_with_more_than_a_message_holds_is_capped_and_counted():
    picture = PersonPicture("P-1042", [handoff(n, NOW + timedelta(hours=n)) for n in
                                       range(1, 101)],
                            [tracker(n, 60) for n in range(1, 51)])
    text, blocks = person.person_blocks(picture, parse_templates({}), now=NOW)
    dicts = as_dicts(blocks)
    assert block_kit_problem(dicts) is None
    assert len(dicts) <= 50
    flat = "\n".join(b.get("text", {}).get("text", "") if b["type"] == "section" else
                     str(b) for b in dicts)
    shown_records = len(re.findall(r"^\*H-\d+\* ", flat, flags=re.MULTILINE))
    shown_trackers = len(re.findall(r"^\*T-\d+\* ", flat, flags=re.MULTILINE))
    assert 0 < shown_records < 100 and 0 < shown_trackers < 50
    assert f"…and {100 - shown_records} more handoffs and dependencies." in flat
    assert f"…and {50 - shown_trackers} more trackers" in flat
    assert "more open steps: `/baton show T-1` has them all." in flat  # 60 steps: cut
    assert text.startswith("P-1042: 100 open handoffs and dependencies, 50 open trackers")


def test_a_step_line_names_person_agency_owner_and_markers():
    view = tracker(1, 6, anchor=NOW - timedelta(hours=4))
    line = step_line(view.steps[2], now=NOW, agency="Health partner")  # T-1.3: a gate
    assert line.startswith("*T-1.3* Equipment") and "· P-1042 · Health partner · owner " \
        f"<@{OWNER}> · :red_circle: *Overdue* since <!date^" in line
    assert ":lock: gate: cannot proceed without it" in line
    blocked = step_line(view.steps[4], now=NOW)  # T-1.5, blocked, not yet due
    assert ":no_entry: Blocked: waiting on the pharmacy" in blocked and "Overdue" not in blocked
    assert "→" not in line + blocked  # no partner


def test_the_roster_surfaces_keep_their_limits_with_many_steps():
    rows = [Row(handoff(n, NOW + timedelta(hours=n)), ()) for n in range(1, 60)]
    steps = [s for n in range(1, 5) for s in tracker(n, 50).steps]
    _, huddle = roster.huddle(rows, total=len(rows), now=NOW, channel="C1", steps=steps)
    _, digest = roster.digest(rows, coordinator=OWNER, day=NOW.date(), now=NOW, steps=steps)
    for blocks in (huddle, digest):
        dicts = as_dicts(blocks)
        assert block_kit_problem(dicts) is None and len(dicts) <= 50
        tail = [b for b in dicts if "Tracker steps overdue or due today" in str(b)]
        assert len(tail) == 1 and "(200 steps" in str(tail) and "more: `/baton show" in str(tail)
    view = roster.home_view(user_id=OWNER, mine=rows, team=rows, team_total=len(rows),
                            coordinator=None, now=NOW, my_steps=steps, team_steps=steps)
    dicts = as_dicts(view.blocks)
    assert block_kit_problem(dicts, max_blocks=100) is None
    assert "Your tracker steps" in str(dicts) and "Team tracker steps" in str(dicts[-1])


def test_a_steps_page_nudge_has_no_partner_and_no_assign_button():
    step = tracker(1, 1).steps[0]
    text = roster.nudge_page(step, tier=1, waited="30m")
    assert "(P-1042 · Equipment" in text and "→" not in text
    assert roster.nudge_section(text, step).accessory is None
    assert roster.nudge_section(text, handoff(1, NOW)).accessory is not None
