"""Block Kit's limits: the emulator refuses what Slack refuses, and Baton's renderers keep
any text (10,000 characters, entities, tokens, every plane) within them, shortened with a
pointer to `/baton show REF` and never with user markup let through."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.console.emulator import SlackEmulator, block_kit_problem
from bot.domain.roster import Flag, Row
from bot.domain.tracker_config import default_templates
from bot.domain.trackers import FUNDING_DECISIONS, StepStatus
from bot.services.trackers import TrackerView
from bot.slack.blocks import pages, tracker_forms
from bot.slack.blocks import partner_trends as governance_blocks
from bot.slack.blocks import records as blocks
from bot.slack.blocks import roster as roster_blocks
from bot.slack.blocks import trackers as tracker_blocks
from bot.slack.cards import as_dicts
from tests.markup import foreign_markup, mrkdwn_in

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
OWNER, MANAGER = "U0OWNER01", "U0MGR0001"


@pytest.fixture
def emu() -> Iterator[SlackEmulator]:
    with SlackEmulator(team_id="T0TEST") as emulator:
        for channel in ("C1", "C0CARE01"):
            emulator.add_channel(channel, channel.lower())
        yield emulator


@pytest.fixture
def client(emu: SlackEmulator) -> WebClient:
    return WebClient(token="xoxb-test", base_url=emu.base_url, timeout=5)


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(text: str = "Go", value: str = "1") -> dict:
    return {"type": "button", "action_id": "go", "text": {"type": "plain_text", "text": text},
            "value": value}


def actions(*elements: dict) -> dict:
    return {"type": "actions", "elements": list(elements)}


def overflow(n: int) -> dict:
    return {"type": "overflow", "action_id": "menu", "options": [
        {"text": {"type": "plain_text", "text": f"o{i}"}, "value": str(i)} for i in range(n)]}


def section_with(accessory: dict) -> dict:
    return {**section("x"), "accessory": accessory}


# (blocks over the limit, the JSON pointer Slack names, the same at the limit)
OVER_AND_AT = {
    "section text": ([section("x" * 3001)], "/blocks/0/text/text", [section("x" * 3000)]),
    "field text": ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "x" * 2001}]}],
                   "/blocks/0/fields/0/text",
                   [{"type": "section", "fields": [{"type": "mrkdwn", "text": "x" * 2000}]}]),
    "eleven fields": ([{"type": "section", "fields": [{"type": "mrkdwn", "text": "x"}] * 11}],
                      "/blocks/0/fields",
                      [{"type": "section", "fields": [{"type": "mrkdwn", "text": "x"}] * 10}]),
    "header": ([{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}],
               "/blocks/0/text/text",
               [{"type": "header", "text": {"type": "plain_text", "text": "x" * 150}}]),
    "button text": ([actions(button(text="x" * 76))], "/blocks/0/elements/0/text/text",
                    [actions(button(text="x" * 75))]),
    "button value": ([actions(button(value="x" * 2001))], "/blocks/0/elements/0/value",
                     [actions(button(value="x" * 2000))]),
    "six overflow options": (
        [section_with(overflow(6))], "/blocks/0/accessory/options",
        [section_with(overflow(5))]),
    "51 blocks": ([section("x")] * 51, "/blocks", [section("x")] * 50),
    "context text": ([{"type": "context", "elements": [{"type": "mrkdwn", "text": "x" * 3001}]}],
                     "/blocks/0/elements/0/text",
                     [{"type": "context", "elements": [{"type": "mrkdwn", "text": "x" * 3000}]}]),
    "empty text": ([section("")], "/blocks/0/text/text", [section(" ")]),
    "block_id": ([{**section("x"), "block_id": "b" * 256}], "/blocks/0/block_id",
                 [{**section("x"), "block_id": "b" * 255}]),
}


@pytest.mark.parametrize("case", sorted(OVER_AND_AT))
def test_messages_over_a_limit_are_refused_as_slack_refuses_them(case: str, emu: SlackEmulator,
                                                                 client: WebClient) -> None:
    over, pointer, at = OVER_AND_AT[case]
    for method in (client.chat_postMessage, client.chat_postEphemeral):
        with pytest.raises(SlackApiError) as err:
            method(channel="C1", user="U1", text="fallback", blocks=over)
        assert err.value.response["error"] == "invalid_blocks"
        (message,) = err.value.response["response_metadata"]["messages"]
        assert message.startswith("[ERROR] ") and f"[json-pointer:{pointer}]" in message
        assert method(channel="C1", user="U1", text="fallback", blocks=at)["ok"]
    posted = client.chat_postMessage(channel="C1", text="fallback", blocks=[section("v1")])
    with pytest.raises(SlackApiError) as err:
        client.chat_update(channel="C1", ts=posted["ts"], text="edited", blocks=over)
    assert err.value.response["error"] == "invalid_blocks"
    assert emu.message("C1", posted["ts"])["blocks"] == [section("v1")]  # left as it was


def test_response_url_refuses_over_the_limit_with_http_400(emu: SlackEmulator) -> None:
    url = emu.response_url("r1")
    bad = httpx.post(url, json={"text": "t", "blocks": [section("x" * 3001)]})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_blocks"
    assert httpx.post(url, json={"text": ""}).status_code == 400  # no_text
    assert httpx.post(url, json={"text": "x" * 40_001}).status_code == 400
    assert httpx.post(url, json={"text": "t", "blocks": [section("x" * 3000)]}).status_code == 200


def test_views_over_a_limit_are_refused(emu: SlackEmulator, client: WebClient) -> None:
    def modal(blocks: list[dict], title: str = "Title") -> dict:
        return {"type": "modal", "title": {"type": "plain_text", "text": title},
                "submit": {"type": "plain_text", "text": "Save"}, "blocks": blocks}

    option = {"text": {"type": "plain_text", "text": "x" * 76}, "value": "v"}
    select = {"type": "input", "block_id": "b", "label": {"type": "plain_text", "text": "L"},
              "element": {"type": "static_select", "action_id": "a", "options": [option]}}
    cases = [modal([section("x")] * 101), modal([section("x" * 3001)]),
             modal([select]), modal([section("x")], title="x" * 25)]
    for view in cases:
        with pytest.raises(SlackApiError) as err:
            client.views_open(trigger_id=emu.issue_trigger(), view=view)
        assert err.value.response["error"] == "invalid_arguments"
    with pytest.raises(SlackApiError):
        client.views_publish(user_id="U1", view={"type": "home",
                                                 "blocks": [section("x")] * 101})
    assert client.views_publish(user_id="U1", view={"type": "home",
                                                    "blocks": [section("x")] * 100})["ok"]


# --- fit(): the one shortening helper ---

PIECES = st.one_of(
    st.text(st.characters(codec=None, categories=None), max_size=30),
    st.sampled_from(["<!channel>", "<@U0FAKE99>", "&", "<", ">", "\U0001F600", "\n"]),
)
TOKENS = ["<@U0ALICE01>", "<!date^1795557600^{date_short_pretty} at {time}|2026-11-24 22:00 UTC>",
          "<#C0CARE01>"]


@st.composite
def mrkdwn(draw: st.DrawFn) -> str:
    """Escaped user text interleaved with Baton's own tokens, as the renderers make it."""
    parts = draw(st.lists(st.one_of(PIECES.map(blocks.escape), st.sampled_from(TOKENS)),
                          max_size=40))
    return "".join(parts) * draw(st.sampled_from([1, 1, 1, 50, 400]))


def assert_nothing_cut_in_half(text: str) -> None:
    assert not foreign_markup(text, users={"U0ALICE01"}, channels={"C0CARE01"}), text[-80:]
    for i, char in enumerate(text):
        if char == "&":
            assert text[i:i + 5] == "&amp;" or text[i:i + 4] in ("&lt;", "&gt;"), text[i:i + 6]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=mrkdwn(), limit=st.sampled_from([75, 150, 2000, 3000]),
       ref=st.sampled_from([None, "H-12", "D-3"]))
def test_fit_keeps_the_limit_and_never_cuts_an_escape_or_a_token(text: str, limit: int,
                                                                 ref: str | None) -> None:
    out = blocks.fit(text, limit, ref=ref)
    assert len(out) <= limit
    if len(text) <= limit:
        assert out == text
        return
    assert_nothing_cut_in_half(out)
    if ref and limit > 60:
        assert out.endswith(f"`/baton show {ref}` has it all)_")
    body = out[: out.rindex("…")]
    assert text.startswith(body)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=mrkdwn())
def test_chunks_split_whole_text_into_pieces_slack_takes(text: str) -> None:
    pieces = blocks.chunks(text, 3000)
    assert "".join(pieces) == text
    for piece in pieces:
        assert 0 < len(piece) <= 3000
        assert_nothing_cut_in_half(piece)


# --- every renderer, fed hostile text, stays inside Block Kit and escapes it all ---

def record(n: int, text: str, *, kind: str = "handoff", status: str = "pending") -> Any:
    due = NOW + timedelta(hours=n % 7 - 3)
    return SimpleNamespace(
        id=n, reference=f"{'H' if kind == 'handoff' else 'D'}-{n}", kind=kind,
        person_ref=f"P-{n}", partner=SimpleNamespace(display_name=text[:200]),
        receiving_contact=text[:200], due_at=due, owner_id=OWNER, risk="same-day",
        status=status, route=text[:200], response_category="decline_with_reason",
        response_text=text, missing_action=text[:1000], interim_safeguard=text[:1000],
        note=text[:1000], outcome=text if status in ("closed", "resolved") else None,
        cancel_reason=text if status == "cancelled" else None, created_by=OWNER,
        created_at=NOW, manager_id=MANAGER, next_action=text[:500], next_action_owner=OWNER,
        next_action_due=due, next_action_set_at=NOW, next_action_set_by=MANAGER,
        interim_action=text[:1000], safeguard_until=due, escalation_tier=1, tz="UTC",
        # Every other record acknowledged late: its page row says so, naming the partner.
        acknowledged_at=due + timedelta(hours=2) if n % 2 else None,
        closed_at=NOW if status in ("closed", "resolved", "cancelled") else None,
        tracked=False)


def tracked(n: int, text: str, *, kind: str, status: str = "open", key: str = "x") -> Any:
    """A tracker's step or a tracker (no partner): its text in every free field."""
    ref = f"T-{n // 100}.{n % 100}" if kind == "step" else f"T-{n}"
    return SimpleNamespace(
        id=n, reference=ref, kind=kind, tracked=True, person_ref=f"P-{n}", partner=None,
        title=text[:200], agency=text[:50], step_group=text[:50], step_key=key,
        template="service-change", owner_id=OWNER, status=status, outcome=text[:1000],
        due_at=NOW - timedelta(hours=3), closed_at=None, decision=None, escalation_tier=1,
        anchor_at=NOW, created_at=NOW, created_by=OWNER, tz="UTC", interim_action=text[:1000],
        details={"values": {"trigger": text[:200], "impact": text[:1000], "x": text[:1000]},
                 "mismatch": {"field": "funding-start", "days": 3, "at": NOW.isoformat(),
                              "anchor": NOW.isoformat()},
                 "impact": {"staffing": text[:1000], "overnight": text[:1000]}})


TEMPLATES = default_templates()
STEP_STATUSES = ("open", "done", "blocked", "not_applicable", "refused")


def tracker_view(text: str, status: str = "open", *, steps: int | None = None) -> TrackerView:
    """The biggest built-in template (a transition: 13 steps) with its funding escalation,
    every step status, and `text` wherever a person's text goes; `steps` makes a longer one
    (a config's template) from the same rows."""
    tpl = TEMPLATES.templates["transition"]
    t = SimpleNamespace(
        id=1, reference="T-1", person_ref="P-1042", title=tpl.title, template=tpl.name,
        anchor_at=NOW, owner_id=OWNER, status=status, due_at=NOW, created_by=OWNER,
        created_at=NOW, channel_id="C0CARE01", decision=None,
        outcome=text if status == "closed" else None,
        cancel_reason=text if status == "cancelled" else None,
        details={"values": {}, "times": {"funding-start": NOW.isoformat()}})
    planned = list(tpl.steps) * (((steps or 0) // len(tpl.steps)) + 1)
    rows = [SimpleNamespace(
        id=10 + i, reference=f"T-1.{i + 1}", step_group=text[:40] if i % 4 == 0 else None,
        title=st.name, gate=st.gate, status=STEP_STATUSES[i % 5], due_at=NOW,
        closed_at=NOW + timedelta(hours=i % 3) if i % 5 not in (0, 2) else None,
        owner_id=OWNER, decision=None, outcome=text[:1000] if i % 5 else None,
        details=None, step_key=st.key, agency=st.agency, escalation_tier=i % 4 or None)
        for i, st in enumerate(planned[:steps or len(tpl.steps)])]
    rows.append(SimpleNamespace(
        id=99, reference="T-1.99", step_group=None, title="Commissioner decision", gate=True,
        status="open", due_at=NOW, closed_at=None, owner_id=MANAGER, decision=None,
        outcome=None, step_key="funding-decision", agency="commissioner", escalation_tier=1,
        details={"mismatch": {"at": NOW.isoformat(), "days": 3},
                 "impact": {"staffing": text[:1000], "overnight": text[:1000]}}))
    contacts = [SimpleNamespace(at=NOW, actor=OWNER, outcome="attempted", note=text[:1000])]
    return TrackerView(t, rows, contacts)  # type: ignore[arg-type]


def event(text: str) -> Any:
    return SimpleNamespace(at=NOW, actor=OWNER, kind="responded", field="response",
                           before={"text": text}, after=text, note=text)


def rendered(text: str) -> Iterator[tuple[str, list[dict], int]]:
    """(what, blocks, the blocks Slack allows there) for every surface Baton renders."""
    statuses = ["pending", "closed", "cancelled", "resolved"]
    recs = [record(n, text, kind=("handoff", "dependency")[n % 2], status=statuses[n % 4])
            for n in range(1, 201)]
    rows = [Row(r, tuple(Flag)) for r in recs]
    for r in recs[:4]:
        yield "card", as_dicts(blocks.record_card(r)), 50
        yield "detail", as_dicts(blocks.record_detail(r, [event(text)] * 60)), 50
        yield "reminder", as_dicts(pages.reminder_blocks(r, NOW)), 50
        yield "modal", [blocks.response_modal(r).to_dict()], 1
        yield "modal", [blocks.edit_modal(r, tz=UTC).to_dict()], 1
        yield "modal", [pages.interim_modal(r).to_dict()], 1
        yield "nudge", as_dicts([roster_blocks.nudge_section(roster_blocks.nudge_same_day(r),
                                                             r)]), 50
    yield "list", as_dicts(blocks.record_list("Open", recs[:30], "none")), 50
    work = [(SimpleNamespace(id=r.id, reason="overdue", acked_by=None, acked_at=None, tier=1), r)
            for r in recs[:20]]
    yield "page", as_dicts(pages.page_blocks(target="here", tier_name=text[:100], tier=1,
                                             items=work, now=NOW, late=True)), 50
    steps = [tracked(101 + n, text, kind="step", status=("open", "blocked", "done")[n % 3],
                     key=("x", "funding-decision")[n % 2]) for n in range(18)]
    steps += [tracked(7, text, kind="tracker"), tracked(8, text, kind="tracker")]
    reasons = ["step", "funding"] * 9 + ["urgent", "decision"]
    work = [(SimpleNamespace(id=r.id, reason=why, acked_by=None, acked_at=None, tier=1), r)
            for r, why in zip(steps, reasons, strict=True)]
    yield "page", as_dicts(pages.page_blocks(target="here", tier_name=text[:100], tier=1,
                                             items=work, now=NOW, late=True)), 50
    for r in (steps[0], steps[-1]):
        yield "reminder", as_dicts(pages.reminder_blocks(r, NOW)), 50
        yield "modal", [pages.interim_modal(r).to_dict()], 1
        yield "nudge", as_dicts([roster_blocks.nudge_section(
            roster_blocks.nudge_page(r, tier=1, waited="1h"), r)]), 50
    yield "huddle", as_dicts(roster_blocks.huddle(rows, total=200, now=NOW,
                                                  channel="C0CARE01")[1]), 50
    yield "digest", as_dicts(roster_blocks.digest(rows, coordinator=OWNER, day=NOW.date(),
                                                  now=NOW)[1]), 50
    home = roster_blocks.home_view(user_id=OWNER, mine=rows, team=rows, team_total=200,
                                   coordinator=OWNER, now=NOW).to_dict()
    yield "home", home["blocks"], 100
    misses = [{"reference": r.reference, "person_ref": r.person_ref, "due_at": NOW.isoformat(),
               "delay_seconds": 3600, "ongoing": True} for r in recs[:30]]
    pattern = SimpleNamespace(
        id=1, window_days=30, detected_at=NOW, classification=None, misses=30,
        evidence={"partner": text[:200], "route": text[:200], "misses": misses,
                  "threshold": 3, "frequency": {"in_window": 30}, "contract_impact": text,
                  "impact": {"people": [r.person_ref for r in recs[:30]]}})
    for status in ("open", "proceeded", "closed", "cancelled"):
        view = tracker_view(text, status)
        yield "tracker card", as_dicts(tracker_blocks.tracker_card(view, TEMPLATES)), 50
    yield "modal", [tracker_forms.step_reason_modal(view, view.steps[0], StepStatus.REFUSED,
                                                    text).to_dict()], 1
    yield "modal", [tracker_forms.impact_modal(view, view.steps[-1]).to_dict()], 1
    yield "modal", [tracker_forms.decide_modal(view, FUNDING_DECISIONS,
                                               step=view.steps[-1]).to_dict()], 1
    yield "modal", [tracker_forms.contact_modal(view).to_dict()], 1
    for tpl in TEMPLATES.templates.values():
        yield "modal", [tracker_forms.start_modal(tpl, {"person": text}, owner=OWNER,
                                                  channel_id="C0CARE01",
                                                  missing=["at"]).to_dict()], 1
    yield "notice", as_dicts(governance_blocks.notice_blocks(pattern)), 50
    yield "notice text", [{"type": "section", "text": {
        "type": "mrkdwn", "text": governance_blocks.notice_text(pattern)}}], 50


LONG = st.sampled_from(["<!channel>", "&", "<@U0FAKE99>", "\U0001F600", "x", "<http://e.x|y>"]
                       ).map(lambda bit: (bit * 10_000)[:10_000])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(LONG, PIECES.filter(lambda t: t.strip())))
def test_every_surface_fits_block_kit_and_escapes_user_text(text: str) -> None:
    pointed = False
    for what, block_list, allowed in rendered(text):
        if what == "card" and re.search(r"`/baton show [HD]-\d+` has it all",
                                        json.dumps(block_list)):
            pointed = True
        if what == "modal":
            view = block_list[0]
            assert block_kit_problem(view["blocks"], max_blocks=100) is None, what
        else:
            assert block_kit_problem(block_list, max_blocks=allowed) is None, what
        for mrkdwn_text in mrkdwn_in(block_list):
            assert not foreign_markup(mrkdwn_text, users={OWNER, MANAGER},
                                      channels={"C0CARE01"}), (what, mrkdwn_text[:200])
    # Cut text on a card says where the whole of it is.
    assert pointed == (len(text) == 10_000)


def test_a_tracker_card_of_many_steps_stays_within_fifty_blocks() -> None:
    """A config's template may have up to 98 steps: past a control each, the card lists
    them by agency in text and says how to change them from the keyboard."""
    for n in (13, 20, 40, 98):
        card = as_dicts(tracker_blocks.tracker_card(tracker_view("a reason", steps=n),
                                                    TEMPLATES))
        assert block_kit_problem(card) is None, n
        flat = json.dumps(card, ensure_ascii=False)
        assert all(f"T-1.{i}`" in flat for i in range(1, n + 1)), n
        menus = [b["accessory"] for b in card if b.get("accessory", {}).get("type") ==
                 "overflow"]
        assert (len(menus) > 0) == (n <= 20), n
        assert all(len(m["options"]) <= 5 for m in menus)
        assert ("`/baton step T-1 STEP done|blocked|na|refused TEXT` changes any of them"
                in flat) == (n > 20), n


def test_a_long_note_on_the_card_points_to_baton_show_which_has_it_whole() -> None:
    note = "<&>" * 333  # 999 characters, 4,995 once escaped: over a section's 3,000
    r = record(7, "Northside Home Care")
    r.note = note
    card = json.dumps(as_dicts(blocks.record_card(r)))
    assert "`/baton show H-7` has it all" in card
    detail = as_dicts(blocks.record_detail(r, []))
    assert block_kit_problem(detail) is None
    texts = [b["text"]["text"] for b in detail if b["type"] == "section" and "text" in b]
    whole = "".join(t for t in texts if t.startswith("*Note*") or t.startswith("&"))
    assert whole == f"*Note*\n{blocks.escape(note)}"
