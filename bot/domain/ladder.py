"""The escalation ladder: who is paged, where, and after how long. Pure: no Slack, no SQL.

A record keeps the ladder it started with (as PagerDuty does): the ladder is snapshotted onto
the record at creation, so editing a ladder never reshuffles pages already under way.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.records import Risk
from bot.domain.times import format_duration, parse_duration, to_the_second


class LadderError(ValueError):
    """A ladder in the config file is wrong; str() is one line naming the key."""


# Page targets: a user group, a user, or a role Baton resolves per record.
_SUBTEAM = re.compile(r"^<!subteam\^([A-Z0-9]+)(?:\|[^>]*)?>$")
_USER = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
ROLES = ("coordinator", "owner", "manager", "here")


@dataclass(frozen=True)
class Target:
    kind: str  # "usergroup", "user", or one of ROLES
    id: str = ""

    @classmethod
    def read(cls, text: str) -> Target:
        t = text.strip()
        if m := _SUBTEAM.match(t):
            return cls("usergroup", m.group(1))
        if m := _USER.match(t):
            return cls("user", m.group(1))
        word = t.lower().strip("<!>")
        if word in ROLES:
            return cls(word)
        raise ValueError(
            f"page target “{t}” must be a user group <!subteam^S…>, a user <@U…>, or one of "
            f"{', '.join(ROLES)}"
        )

    def wire(self) -> str:
        if self.kind == "usergroup":
            return f"<!subteam^{self.id}>"
        if self.kind == "user":
            return f"<@{self.id}>"
        return self.kind


@dataclass(frozen=True)
class Tier:
    """One step of a ladder. A tier may name several targets, paged together in one message
    (an immediate risk reaches the executive lead, the supervisor and the commissioner's
    operations lead at once); any of them may acknowledge it."""

    name: str
    target: Target
    channel: str = ""  # empty: the record's own channel
    after: timedelta = timedelta(0)
    also: tuple[Target, ...] = ()  # further targets paged with `target`

    @property
    def targets(self) -> tuple[Target, ...]:
        return (self.target, *self.also)

    def page_wire(self) -> str | list[str]:
        """The `page` value as the config writes it: one target, or a list of them."""
        return self.target.wire() if not self.also else [t.wire() for t in self.targets]


def read_targets(value: Any) -> tuple[Target, ...]:
    """`page = "<!subteam^S1>"` or `page = ["<@U1>", "<!subteam^S2>", "manager"]`."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(t, str) for t in items):
        raise ValueError("page must be a target or a list of targets")
    return tuple(Target.read(t) for t in items)


def tier_of(name: str, page: Any, channel: str = "", after: timedelta = timedelta(0)) -> Tier:
    targets = read_targets(page)
    return Tier(name, targets[0], channel, after, targets[1:])


@dataclass(frozen=True)
class Ladder:
    name: str
    tiers: tuple[Tier, ...]
    remind_before: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=2))
    ack_timeout: timedelta = timedelta(hours=4)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "remind_before": [td.total_seconds() for td in self.remind_before],
            "ack_timeout": self.ack_timeout.total_seconds(),
            "tiers": [{"name": t.name, "page": t.page_wire(), "channel": t.channel,
                       "after": t.after.total_seconds()} for t in self.tiers],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ladder:
        return cls(
            name=data["name"],
            remind_before=tuple(timedelta(seconds=s) for s in data["remind_before"]),
            ack_timeout=timedelta(seconds=data["ack_timeout"]),
            tiers=tuple(tier_of(t["name"], t["page"], t.get("channel", ""),
                                timedelta(seconds=t["after"])) for t in data["tiers"]),
        )

    def tier(self, number: int | None) -> Tier:
        """Tier `number` (1-based; a page without one is tier 1)."""
        return self.tiers[(number or 1) - 1]

    def describe(self) -> list[str]:
        lines = [f"[ladder.{self.name}]",
                 "remind_before = [" + ", ".join(f'"{_dur(d)}"' for d in self.remind_before) + "]",
                 f'ack_timeout = "{_dur(self.ack_timeout)}"']
        for t in self.tiers:
            lines += [f"[[ladder.{self.name}.tiers]]", f'name = "{t.name}"',
                      "page = " + json.dumps(t.page_wire()), f'channel = "{t.channel}"',
                      f'after = "{_dur(t.after)}"']
        return lines


@lru_cache(maxsize=256)
def _parse_snapshot(frozen: str) -> Ladder:
    return Ladder.from_json(json.loads(frozen))


def snapshot_ladder(data: dict[str, Any]) -> Ladder:
    """The ladder a record started with, from its stored snapshot (parsed once per distinct
    ladder: the engine asks for it for every item it handles)."""
    return _parse_snapshot(json.dumps(data, sort_keys=True))


def _dur(td: timedelta) -> str:
    s = int(td.total_seconds())
    units = (("h", 3600), ("m", 60)) if s < 2 * 86400 else (("d", 86400), ("h", 3600), ("m", 60))
    for unit, size in units:
        if s and s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s" if s else "0m"


DEFAULT_LADDER = Ladder(
    name="default",
    remind_before=(timedelta(hours=24), timedelta(hours=2)),
    ack_timeout=timedelta(hours=4),
    tiers=(
        Tier("Internal owner", Target("owner"), "", timedelta(0)),
        Tier("Coordinator of the day", Target("coordinator"), "", timedelta(hours=1)),
        Tier("Service Manager", Target("manager"), "", timedelta(hours=2)),
    ),
)


@dataclass(frozen=True)
class LadderConfig:
    ladders: dict[str, Ladder] = field(default_factory=lambda: {"default": DEFAULT_LADDER})
    for_risk: dict[Risk, str] = field(default_factory=dict)

    def for_record(self, risk: Risk | None, *, channel_ladder: str | None = None) -> Ladder:
        """The channel's chosen ladder wins; then the risk rating's; then the default."""
        if channel_ladder and channel_ladder in self.ladders:
            return self.ladders[channel_ladder]
        if risk is not None and risk in self.for_risk:
            return self.ladders[self.for_risk[risk]]
        return self.ladders.get("default", DEFAULT_LADDER)


def _duration(value: Any, key: str) -> timedelta:
    if not isinstance(value, str):
        raise LadderError(f"{key}: must be a duration string like \"4h\" (got {value!r})")
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise LadderError(f"{key}: {exc}") from None


def parse_ladders(data: dict[str, Any]) -> LadderConfig:
    """Read [ladder.NAME] tables and [ladder_for_risk] from a parsed TOML document."""
    raw = data.get("ladder")
    if raw is None:
        ladders = {"default": DEFAULT_LADDER}
    else:
        if not isinstance(raw, dict) or not raw:
            raise LadderError("ladder: must hold at least one table such as [ladder.default]")
        ladders = {name: _parse_ladder(name, body) for name, body in raw.items()}
        ladders.setdefault("default", DEFAULT_LADDER)
    for_risk: dict[Risk, str] = {}
    mapping = data.get("ladder_for_risk", {})
    if not isinstance(mapping, dict):
        raise LadderError("ladder_for_risk: must be a table like { same-day = \"urgent\" }")
    for risk_word, ladder_name in mapping.items():
        key = f"ladder_for_risk.{risk_word}"
        try:
            risk = Risk(str(risk_word))
        except ValueError:
            raise LadderError(f"{key}: risk must be same-day, short-term or emerging") from None
        if ladder_name not in ladders:
            raise LadderError(f"{key}: no ladder named {ladder_name!r} "
                              f"(have: {', '.join(sorted(ladders))})")
        for_risk[risk] = ladder_name
    return LadderConfig(ladders, for_risk)


def _parse_ladder(name: str, body: Any) -> Ladder:
    base = f"ladder.{name}"
    if not isinstance(body, dict):
        raise LadderError(f"{base}: must be a table")
    known = {"remind_before", "ack_timeout", "tiers"}
    for k in body:
        if k not in known:
            raise LadderError(f"{base}.{k}: unknown key (expected {', '.join(sorted(known))})")
    remind_raw = body.get("remind_before", ["24h", "2h"])
    if not isinstance(remind_raw, list):
        raise LadderError(f"{base}.remind_before: must be a list like [\"24h\", \"2h\"]")
    remind = tuple(sorted((_duration(v, f"{base}.remind_before[{i}]")
                           for i, v in enumerate(remind_raw)), reverse=True))
    ack_timeout = _duration(body.get("ack_timeout", "4h"), f"{base}.ack_timeout")
    tiers_raw = body.get("tiers")
    if not isinstance(tiers_raw, list) or not tiers_raw:
        raise LadderError(f"{base}.tiers: at least one [[{base}.tiers]] is needed")
    tiers = []
    for i, t in enumerate(tiers_raw):
        key = f"{base}.tiers[{i}]"
        if not isinstance(t, dict):
            raise LadderError(f"{key}: must be a table")
        for k in t:
            if k not in {"name", "page", "channel", "after"}:
                raise LadderError(f"{key}.{k}: unknown key (expected name, page, channel, after)")
        tier_name = t.get("name")
        if not isinstance(tier_name, str) or not tier_name.strip():
            raise LadderError(f"{key}.name: give the tier a name, e.g. \"Service Manager\"")
        page = t.get("page")
        if not isinstance(page, str | list):
            raise LadderError(f"{key}.page: missing (a user group, a user, or \"coordinator\"; "
                              "or a list of them, paged together)")
        try:
            targets = read_targets(page)
        except ValueError as exc:
            raise LadderError(f"{key}.page: {exc}") from None
        channel = t.get("channel", "")
        if not isinstance(channel, str) or (channel and not re.fullmatch(r"[CGD][A-Z0-9]+",
                                                                          channel)):
            raise LadderError(f"{key}.channel: must be empty or a channel ID like C0123ABC")
        tiers.append(Tier(tier_name.strip(), targets[0], channel,
                          _duration(t.get("after", "0m"), f"{key}.after"), targets[1:]))
    return Ladder(name, tuple(tiers), remind, ack_timeout)


def shift(when: datetime, delta: timedelta, tz: ZoneInfo) -> datetime:
    """`when` moved by `delta` as the record's owner would count it: whole days keep the
    local wall-clock time across a daylight-saving change ("24h before a 5pm deadline" is 5pm
    the day before), anything else is elapsed time."""
    if delta and delta % timedelta(days=1) == timedelta(0):
        local = when.astimezone(tz).replace(tzinfo=None) + delta
        return local.replace(tzinfo=tz).astimezone(when.tzinfo)
    return when + delta


def time_left(due: datetime, now: datetime) -> str:
    return format_duration(to_the_second(due - now)) if due > now else "no time"
