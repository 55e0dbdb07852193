"""The audit trail's hash chain: each workspace's events are numbered 1, 2, 3 ... and each
carries the hash of the one before it, so an edited, deleted or inserted row shows up as the
first link that no longer holds.

A link is SHA-256 over the predecessor's hash and a canonical JSON of the event as stored:
its workspace, number, record, time (UTC, microseconds), actor, kind, field, before, after
and note. Pure functions: the store seals events with them and `baton audit verify` checks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64  # the "hash" before a workspace's first event
VERSION = "baton-audit-v1"
LINKED = ("team_id", "seq", "record_id", "record_ref", "at", "actor", "kind", "field",
          "before", "after", "note")


def _at(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("naive datetime for an audit event; use aware UTC")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(event: Mapping[str, Any]) -> bytes:
    """The bytes a link hashes: the linked fields only, keys sorted, no whitespace."""
    body = {k: (_at(event[k]) if k == "at" else event.get(k)) for k in LINKED}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def link_hash(prev_hash: str, event: Mapping[str, Any]) -> str:
    digest = hashlib.sha256()
    digest.update(f"{VERSION}\n{prev_hash}\n".encode("ascii"))
    digest.update(canonical(event))
    return digest.hexdigest()


def seal(head_hash: str, last_seq: int, events: Iterable[dict[str, Any]]) -> tuple[str, int]:
    """Number and link `events` (in order, in place) after a chain whose head is
    (`head_hash`, `last_seq`). Returns the new head."""
    for event in events:
        last_seq += 1
        event["seq"] = last_seq
        event["prev_hash"] = head_hash
        head_hash = event["hash"] = link_hash(head_hash, event)
    return head_hash, last_seq


@dataclass(frozen=True)
class Break:
    """The first link that does not hold, in words an auditor can act on."""

    event_id: int | None
    seq: int
    reason: str


@dataclass
class ChainWalk:
    """Walks one workspace's events in sequence order; `feed` each, then `finish`."""

    head_hash: str = GENESIS
    last_seq: int = 0
    count: int = 0
    broken: Break | None = None

    def feed(self, event: Mapping[str, Any]) -> bool:
        """False (and `broken` set) at the first bad link."""
        if self.broken is not None:
            return False
        seq, event_id = int(event["seq"]), event.get("id")
        if seq != self.last_seq + 1:
            what = ("missing" if seq > self.last_seq + 1 else "repeated or out of order")
            self.broken = Break(event_id, seq, f"sequence jumps from {self.last_seq} to {seq}: "
                                f"event(s) {what} (deleted or inserted rows)")
            return False
        if event.get("prev_hash") != self.head_hash:
            self.broken = Break(event_id, seq, "its predecessor hash does not match the event "
                                "before it (a row before it was replaced)")
            return False
        expected = link_hash(self.head_hash, event)
        if event.get("hash") != expected:
            self.broken = Break(event_id, seq, "its contents no longer match its hash (the row "
                                "was edited)")
            return False
        self.head_hash, self.last_seq = expected, seq
        self.count += 1
        return True

    def finish(self, stored_head: str | None, stored_seq: int | None) -> Break | None:
        """Check the walk ended where the workspace's recorded head says it should (rows
        deleted from the end leave no gap to see otherwise)."""
        if self.broken is not None:
            return self.broken
        if (stored_head or GENESIS) != self.head_hash or (stored_seq or 0) != self.last_seq:
            self.broken = Break(None, self.last_seq + 1,
                                f"the chain ends at event {self.last_seq} but its recorded head "
                                f"is event {stored_seq or 0}: events were removed from the end")
        return self.broken
