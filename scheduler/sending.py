"""Sending for the time engine (scheduler/engine.py): each Slack call paced
(scheduler/pacing.py) and its failure classified, the hold while Slack is down as a whole,
and a page's send with its reroute when its channel cannot be reached.

What Slack refuses for good is never retried blindly (see classify). A page to a channel
Baton cannot post in goes at once to the workspace's coordination channel, else by DM to
the records' owners and the coordinator of the day, with a line saying why and how to fix
it (PageSender). The engine records what happened; nothing here writes to the database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web import SlackResponse

from bot.clock import Clock
from bot.domain.schedule import is_late
from bot.services.escalation import CoordinatorOfTheDay
from bot.slack.blocks import pages
from bot.slack.cards import as_dicts
from bot.slack.clients import NotInstalled
from scheduler.pacing import Pacer
from store.models import DueWork, Record

MAX_BACKOFF = timedelta(minutes=5)

# What Slack refuses for good, by what it makes unreachable. 429, 5xx, no answer and the
# TRANSIENT_ERRORS are retried with backoff, as they always were.
WORKSPACE_ERRORS = frozenset({"token_revoked", "account_inactive", "invalid_auth",
                              "not_authed", "token_expired", "not_installed"})
CHANNEL_ERRORS = frozenset({"channel_not_found", "not_in_channel", "is_archived",
                            "missing_scope", "restricted_action"})
# conversations.open for someone Baton cannot DM (deactivated, gone, a bot).
USER_ERRORS = frozenset({"user_not_found", "user_disabled", "user_not_visible",
                         "cannot_dm_bot"})
GONE_ERRORS = frozenset({"message_not_found", "thread_not_found"})  # a thread's parent
# The refusals Slack answers with that a retry can cure. Any other refusal of a message
# (invalid_blocks, no_permission, an error Baton has never heard of) is treated as this
# channel's: retrying it would stall the escalation, so the page is rerouted instead.
TRANSIENT_ERRORS = frozenset({"ratelimited", "rate_limited", "internal_error", "fatal_error",
                              "service_unavailable", "request_timeout"})


def classify(error: str) -> str:
    """"workspace" (nothing there can be reached: suspend), "channel" (this conversation:
    reroute or drop), "user" (this person: drop), "gone" (this thread: drop), or
    "transient" (retry later)."""
    if error in WORKSPACE_ERRORS:
        return "workspace"
    if error in CHANNEL_ERRORS:
        return "channel"
    if error in USER_ERRORS:
        return "user"
    if error in GONE_ERRORS:
        return "gone"
    if error in TRANSIENT_ERRORS or not error:
        return "transient"
    return "channel"


class SendFailed(Exception):
    def __init__(self, error: str, retry_after: float | None = None, *,
                 outage: bool = False, kind: str = "transient", code: str = "",
                 needed: str | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.retry_after = retry_after
        self.outage = outage  # Slack as a whole failed (5xx, no answer), not this message
        self.kind = kind  # see classify
        self.code = code or error  # Slack's error code (channel_not_found, ...)
        self.needed = needed  # the scope a missing_scope names

    @property
    def permanent(self) -> bool:
        return self.kind != "transient"


@dataclass
class Item:
    """A claimed due item and its record, as loaded for one round."""
    work: DueWork
    record: Record


class Sender:
    """Slack calls for the engine: paced per channel, their failures raised as SendFailed.

    Slack down as a whole: backing off item by item, the longest-failing (oldest) items
    would wait longest, so after an outage the newest pages went out first and the most
    overdue up to MAX_BACKOFF later. Instead, while Slack fails as a whole the engine holds
    every send (holding()), and each failed or held item is due again at the same moment
    (hold_until); then one send, the oldest due, tries Slack, and when it answers the
    backlog goes out in deadline order."""

    def __init__(self, client: WebClient, clock: Clock, pacer: Pacer) -> None:
        self._client = client
        self._clock = clock
        self._pacer = pacer
        # Nothing is sent before hold_until, when one send tries Slack again.
        self.hold_until: datetime | None = None
        self._probes = 0

    def holding(self) -> bool:
        return self.hold_until is not None and self._clock.now() < self.hold_until

    def _slack_down(self) -> None:
        self._probes += 1
        wait = min(MAX_BACKOFF, timedelta(seconds=5 * 2 ** min(self._probes - 1, 10)))
        self.hold_until = self._clock.now() + wait

    def _slack_answers(self) -> None:
        self.hold_until, self._probes = None, 0

    def call(self, method: Callable[..., SlackResponse], **kwargs: Any) -> SlackResponse:
        channel = kwargs.get("channel")
        if channel:  # a thread's line counts against its channel's rate like any post
            self._pacer.wait(str(channel))
        try:
            resp = method(**kwargs)
        except SlackApiError as exc:
            status = exc.response.status_code
            code = str(exc.response.get("error", "") or "")
            retry_after = None
            kind = "transient"
            if status == 429:
                retry_after = float(exc.response.headers.get("Retry-After", 1) or 1)
            elif status >= 500:
                self._slack_down()
            else:
                kind = classify(code)
                if kind != "transient":
                    self._slack_answers()
            needed = exc.response.get("needed") if code == "missing_scope" else None
            raise SendFailed(f"{status} {code}".strip(), retry_after, outage=status >= 500,
                             kind=kind, code=code, needed=needed and str(needed)) from None
        except NotInstalled:  # no token for the workspace (uninstalled): as a revoked one
            raise SendFailed("not_installed", kind="workspace") from None
        except OSError as exc:  # no answer at all: refused, reset, timed out
            self._slack_down()
            raise SendFailed(type(exc).__name__, outage=True) from None
        except (SlackClientError, ValueError) as exc:
            raise SendFailed(type(exc).__name__) from None
        self._slack_answers()
        return resp

    def post(self, *, channel: str | None, text: str, blocks: list[dict[str, Any]] | None = None,
             thread_ts: str | None = None) -> SlackResponse:
        kwargs: dict[str, Any] = {"channel": channel, "text": text}
        if blocks is not None:
            kwargs["blocks"] = blocks
        if thread_ts is not None:
            kwargs["thread_ts"] = thread_ts
        return self.call(self._client.chat_postMessage, **kwargs)

    def open_dm(self, user: str) -> str:
        """The DM channel with `user` (conversations.open)."""
        return str(self.call(self._client.conversations_open, users=user)["channel"]["id"])

    def dm(self, user: str, *, text: str, blocks: list[dict[str, Any]]) -> SlackResponse:
        return self.post(channel=self.open_dm(user), text=text, blocks=blocks)


# --- a page and its reroute ---

@dataclass(frozen=True)
class Reroute:
    """Why a page went elsewhere: the channel Slack would not take it in, Slack's answer,
    that answer in plain words, and the notice line the page carries."""
    channel: str
    failure: SendFailed
    reason: str
    notice: str


@dataclass
class Paged:
    """A page that went out: where each item's message is, and where, in words."""
    locations: dict[int, tuple[str, str]]
    where: str
    rerouted: Reroute | None = None


@dataclass
class Unreached:
    """A page that reached neither its channel nor any fallback, and what was tried."""
    failure: SendFailed
    tried: list[str] = field(default_factory=list)


class PageSender:
    """Posts a page (one message for a group of records due for one channel and tier) and,
    when Slack will not take it in that channel, reroutes it."""

    def __init__(self, sender: Sender, roster: CoordinatorOfTheDay, clock: Clock, *,
                 coordination_channel: Callable[[str], str | None]) -> None:
        self._sender = sender
        self._roster = roster
        self._clock = clock
        self._coordination_channel = coordination_channel

    def send(self, channel: str, tier_no: int, tier_name: str, mention: str,
             group: list[Item], *, now: datetime, late: bool) -> Paged | Unreached:
        items = [(i.work, i.record) for i in group]
        try:
            resp = self._sender.post(
                channel=channel,
                text=pages.page_text(mention, tier_name, tier_no, len(group), late=late,
                                     what=pages.page_what([i.record for i in group])),
                blocks=as_dicts(pages.page_blocks(target=mention, tier_name=tier_name,
                                                  tier=tier_no, items=items, now=now,
                                                  late=late)))
        except SendFailed as exc:
            if exc.kind not in ("channel", "user"):
                raise  # transient: retried; the workspace's token: suspended
            return self._reroute(channel, tier_no, tier_name, mention, group, exc)
        posted_in = str(resp["channel"])
        return Paged({i.work.id: (posted_in, str(resp["ts"])) for i in group},
                     where=f"in <#{posted_in}>")

    def _reroute(self, channel: str, tier_no: int, tier_name: str, mention: str,
                 group: list[Item], failure: SendFailed) -> Paged | Unreached:
        """Slack will not take the page in `channel` (Baton not in it, archived, gone, a
        missing permission): send it at once where it can be read, in this order: the
        workspace's coordination channel, else by DM to the records' owners and to the
        coordinator of the day (never back to `channel`). The same rows and buttons, and a
        line saying why and how to fix it. Reaching none of them: Unreached (the engine
        records the page as undeliverable and the climb goes on)."""
        now = self._clock.now()
        team = group[0].record.team_id
        late = any(is_late(i.work.due_at, now) for i in group)
        notice = pages.unreachable_line(channel, failure.code, needed=failure.needed)
        tried: list[str] = []  # where else it could not go, and why
        locations: dict[int, tuple[str, str]] = {}  # work id -> where its page went

        def post(target: str, subset: list[Item]) -> tuple[str, str] | None:
            items = [(i.work, i.record) for i in subset]
            try:
                resp = self._sender.post(
                    channel=target,
                    text=pages.page_text(mention, tier_name, tier_no, len(subset), late=late,
                                         what=pages.page_what([i.record for i in subset]))
                    + " " + notice,
                    blocks=as_dicts(pages.page_blocks(target=mention, tier_name=tier_name,
                                                      tier=tier_no, items=items, now=now,
                                                      late=late, notice=notice)))
            except SendFailed as exc:
                if exc.kind == "workspace" or (exc.kind == "transient" and not locations):
                    raise  # suspended, or tried again later (from the top)
                tried.append(f"{target}: {exc.code}")
                return None
            return str(resp["channel"]), str(resp["ts"])

        where = ""
        coordination = self._coordination_channel(team)
        if not coordination:
            tried.append("no coordination channel set")
        elif coordination != channel:
            at = post(coordination, group)
            if at is not None:
                locations.update((i.work.id, at) for i in group)
                where = f"in <#{at[0]}>"
        if not locations:
            where = self._by_dm(channel, group, post, locations, tried, now=now)
        if not locations:
            return Unreached(failure, tried)
        reason = pages.unreachable_reason(failure.code, needed=failure.needed)
        return Paged(locations, where=where,
                     rerouted=Reroute(channel, failure, reason, notice))

    def _by_dm(self, channel: str, group: list[Item],
               post: Callable[[str, list[Item]], tuple[str, str] | None],
               locations: dict[int, tuple[str, str]], tried: list[str], *,
               now: datetime) -> str:
        """The page by DM to the records' owners and the coordinator of the day, who sees
        every record (an owner, their own). Fills `locations`; returns where, in words."""
        coordinator = self._roster.coordinator(team_id=group[0].record.team_id, when=now)
        people: list[str] = []
        for who in [*(i.record.owner_id for i in group), coordinator]:
            if who and who != channel and who not in people:
                people.append(who)
        reached: list[str] = []
        for who in people:
            subset = group if who == coordinator else \
                [i for i in group if i.record.owner_id == who]
            try:
                dm = self._sender.open_dm(who)
            except SendFailed as exc:
                if exc.kind == "workspace" or (exc.kind == "transient" and not locations):
                    raise
                tried.append(f"DM to {who}: {exc.code}")
                continue
            at = post(dm, subset)
            if at is None:
                continue
            reached.append(who)
            for i in subset:  # the coordinator's DM holds them all: it wins
                if who == coordinator or i.work.id not in locations:
                    locations[i.work.id] = at
        return "by DM to " + " and ".join(f"<@{u}>" for u in reached)
