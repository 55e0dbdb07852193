"""The set-up the trackers' end-to-end tests share: a ladder whose tier 1 pages a step's
owner and whose tier 2 pages Bob 4 hours later; the commissioner contact (a user group) the
funding mismatch pages; three urgent targets a service change's immediate risk pages
together; Baton served with them; trackers started through TrackerService (runtime.trackers)
with their card posted, and what the emulator received read back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import select

from bot.slack.blocks import trackers as tracker_blocks
from bot.slack.cards import as_dicts
from bot.slack.ids import ActionId
from store.models import AuditEvent, DueWork, Record
from tests.conftest import ALICE, BOB, CHANNEL, TEAM, blocks_of

MANAGER = "U0MGR0001"  # a manager (may acknowledge any page)
CAROL = "U0CAROL01"  # a care coordinator nobody's page names
COMMISSIONERS = "S0COMMIS1"  # the commissioner contact (a user group)
COMMISSIONER = "U0COMMIS1"  # one of its members
EXECUTIVES = "S0EXEC001"  # the provider executive lead (a user group)
EXECUTIVE = "U0EXEC001"  # its member
SUPERVISOR = "U0SUPERV1"  # the case manager supervisor
OPERATIONS = "U0COMOPS1"  # the commissioner operations lead

CONFIG = f"""
channel_post_interval = 0
managers = ["{MANAGER}"]

[ladder.default]
remind_before = ["2h"]
ack_timeout = "6h"
[[ladder.default.tiers]]
name = "Step owner"
page = "owner"
after = "0m"
[[ladder.default.tiers]]
name = "Service Manager"
page = "<@{BOB}>"
after = "4h"

[template.transition]
escalate_to = ["<!subteam^{COMMISSIONERS}>"]

[template.service-change]
urgent = ["<!subteam^{EXECUTIVES}>", "<@{SUPERVISOR}>", "<@{OPERATIONS}>"]
"""


def serve_trackers(serve_factory: Any, database_url: str, tmp_path: Any, slack: Any) -> Any:
    """Baton served on CONFIG, the emulator knowing its people and groups."""
    for user in (MANAGER, CAROL, COMMISSIONER, EXECUTIVE, SUPERVISOR, OPERATIONS):
        slack.add_user(user)
    slack.add_usergroup(COMMISSIONERS, "commissioner-contact", [COMMISSIONER])
    slack.add_usergroup(EXECUTIVES, "provider-executive", [EXECUTIVE])
    cfg = tmp_path / "baton.toml"
    cfg.write_text(CONFIG)
    return serve_factory(database_url, BATON_CONFIG=str(cfg))


def start(baton: Any, template: str, *, anchor: datetime, values: dict[str, str] | None = None,
          times: dict[str, datetime] | None = None, team: str = TEAM, card: bool = True,
          **kw: Any) -> Any:
    """A tracker started as Alice in the care channel (New York time), its card posted as
    the /baton start handler posts it. Returns the TrackerView."""
    change = baton.runtime.trackers.start(
        team_id=team, channel_id=CHANNEL, actor=ALICE, template=template,
        person_ref="P-1042", anchor=anchor, owner_id=ALICE, values=values or {},
        times=times or {}, tz="America/New_York", **kw)
    view = change.view
    if card:
        client = WebClient(token="xoxb-test", base_url=baton.slack.base_url)
        resp = client.chat_postMessage(
            channel=CHANNEL, text=tracker_blocks.card_text(view),
            blocks=as_dicts(tracker_blocks.tracker_card(view, baton.runtime.trackers.templates)))
        baton.runtime.trackers.set_card(tracker_id=view.tracker.id, channel=CHANNEL,
                                        ts=str(resp["ts"]))
    return baton.runtime.trackers.load(team_id=team, ref=view.reference)


def sweep_at(baton: Any, when: datetime) -> int:
    baton.clock.set(when)
    return int(baton.runtime.engine.run_due())


def step_of(view: Any, key: str) -> Record:
    return next(s for s in view.steps if s.step_key == key)


def pages(baton: Any, channel: str = CHANNEL) -> list[Any]:
    return [c for c in baton.slack.calls_to("chat.postMessage")
            if c.params.get("channel") == channel and not c.params.get("thread_ts")
            and c.response.get("ok") and "Escalation tier" in c.params.get("text", "")]


def dms(baton: Any) -> list[Any]:
    return [c for c in baton.slack.calls_to("chat.postMessage")
            if str(c.params.get("channel", "")).startswith("D") and c.response.get("ok")]


def page_work_ids(call: Any) -> list[int]:
    return [int(b["block_id"].split(":")[1]) for b in blocks_of(call)
            if b["type"] == "actions" and b.get("block_id", "").startswith("page:")]


def rows(call: Any) -> list[str]:
    """A page's item rows (its sections after the header)."""
    return [b["text"]["text"] for b in blocks_of(call)[1:] if b["type"] == "section"]


def last_edit(baton: Any, call: Any) -> Any:
    return [c for c in baton.slack.calls_to("chat.update")
            if c.params["ts"] == call.response["ts"]][-1]


def thread(baton: Any, view: Any) -> list[str]:
    tracker = baton.runtime.trackers.load(team_id=view.tracker.team_id,
                                          ref=view.reference).tracker
    return [m["text"] for m in baton.slack.thread(CHANNEL, tracker.card_ts)]


def events(baton: Any, kind: str, *, record_id: int | None = None) -> list[AuditEvent]:
    with baton.sessions() as s:
        q = select(AuditEvent).where(AuditEvent.kind == kind)
        if record_id is not None:
            q = q.where(AuditEvent.record_id == record_id)
        return list(s.scalars(q.order_by(AuditEvent.id)))


def pending(baton: Any, record_id: int) -> list[tuple[str, str | None]]:
    """The record's due work still to do: (kind, reason)."""
    with baton.sessions() as s:
        return [(w.kind, w.reason) for w in s.scalars(select(DueWork).where(
            DueWork.record_id == record_id, DueWork.state.in_(("pending", "claimed")))
            .order_by(DueWork.id))]


def ack(baton: Any, call: Any, user: str, work_id: int | None = None) -> Any:
    """Press the page's Acknowledge as `user` (a signed request)."""
    wid = work_id if work_id is not None else page_work_ids(call)[0]
    return baton.click(ActionId.PAGE_ACK, str(wid), user=user,
                       message_ts=call.response["ts"])
