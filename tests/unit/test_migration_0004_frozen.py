"""Migration 0004 chains the events that existed before it with its own frozen copy of the
audit hashing, so that it keeps its meaning whatever bot/domain/audit_chain.py becomes. This
test keeps the copy and the live hashing in agreement today: if it fails because the live
hashing changed, that change needs a new migration (re-chaining what 0004 sealed), never an
edit to 0004."""

from __future__ import annotations

import copy
import importlib.util
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

from bot.domain import audit_chain

MIGRATION = (Path(__file__).resolve().parents[2] / "store" / "migrations" / "versions"
             / "0004_audit_hash_chain.py")
DIVERGED = ("migration 0004's frozen audit hashing no longer agrees with "
            "bot.domain.audit_chain: add a new migration rather than editing 0004")


def _migration() -> ModuleType:
    spec = importlib.util.spec_from_file_location("baton_migration_0004", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _events() -> list[dict[str, Any]]:
    t0 = datetime(2026, 11, 22, 14, 30, 5, 123456, tzinfo=UTC)
    plus5 = timezone(timedelta(hours=5, minutes=30))
    return [
        {"team_id": "T0TEST001", "record_id": 1, "record_ref": "H-1", "at": t0,
         "actor": "U0TEST001", "kind": "created", "field": None, "before": None,
         "after": None, "note": None},
        {"team_id": "T0TEST001", "record_id": 1, "record_ref": "H-1",
         "at": t0 + timedelta(minutes=3), "actor": "U0TEST002", "kind": "field_changed",
         "field": "due_at", "before": {"due_at": "2026-11-24T22:00:00Z"},
         "after": {"due_at": "2026-11-25T22:00:00Z", "n": [1, 2.5, True]},
         "note": "moved — partner asked (P-1042)"},
        {"team_id": "T0TEST001", "record_id": None, "record_ref": None,
         "at": (t0 + timedelta(hours=1)).astimezone(plus5), "actor": "U0TEST003",
         "kind": "ladder_changed", "field": None, "before": "default", "after": "urgent",
         "note": "workspace-level event, \"quoted\" and <b>marked up</b>"},
        {"team_id": "T0TEST001", "record_id": 2, "record_ref": "D-1",
         "at": t0 + timedelta(days=2), "actor": "U0TEST001", "kind": "acknowledged",
         "field": "status", "before": "overdue", "after": "acknowledged", "note": ""},
    ]


def test_the_frozen_constants_are_the_live_ones():
    m = _migration()
    assert (m.GENESIS, m.VERSION, m.LINKED) == (
        audit_chain.GENESIS, audit_chain.VERSION, audit_chain.LINKED), DIVERGED


def test_the_frozen_copy_and_the_live_hashing_agree_on_every_link():
    m = _migration()
    for event in _events():
        assert m.canonical(event) == audit_chain.canonical(event), DIVERGED
        for prev in (audit_chain.GENESIS, "ab" * 32):
            assert m.link_hash(prev, event) == audit_chain.link_hash(prev, event), DIVERGED


def test_the_frozen_copy_seals_a_chain_as_the_live_one_does():
    m = _migration()
    frozen, live = _events(), copy.deepcopy(_events())
    for head, seq in ((audit_chain.GENESIS, 0), ("cd" * 32, 41)):
        assert m.seal(head, seq, frozen) == audit_chain.seal(head, seq, live), DIVERGED
        assert frozen == live, DIVERGED
    # and what 0004 sealed verifies clean with today's walker
    sealed = _events()
    head, last = m.seal(m.GENESIS, 0, sealed)
    walk = audit_chain.ChainWalk()
    assert all(walk.feed(e) for e in sealed), DIVERGED
    assert walk.finish(head, last) is None, DIVERGED


def test_0004_does_not_import_baton_code():
    source = MIGRATION.read_text()
    assert "from bot" not in source and "import bot" not in source, \
        "0004 hashes with its own frozen copy, never with Baton's live code"
