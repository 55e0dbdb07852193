"""The hash chain's pure logic: sealing numbers and links events; a walk finds the first
link that no longer holds, whatever was done to the rows."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.audit_chain import GENESIS, ChainWalk, link_hash, seal

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def chain(n: int = 6) -> tuple[list[dict], str, int]:
    events = [{"id": 100 + i, "team_id": "T1", "record_id": 7, "record_ref": "H-1",
               "at": T0 + timedelta(minutes=i), "actor": "U1", "kind": "paged", "field": "tier",
               "before": None, "after": {"tier": i, "who": ["U1"]}, "note": f"step {i} ✓"}
              for i in range(n)]
    head, last = seal(GENESIS, 0, events)
    return events, head, last


def walk(events: list[dict], head: str, last: int) -> ChainWalk:
    w = ChainWalk()
    for e in events:
        if not w.feed(e):
            break
    w.finish(head, last)
    return w


def test_sealed_chain_verifies_and_numbers_from_one():
    events, head, last = chain()
    assert [e["seq"] for e in events] == [1, 2, 3, 4, 5, 6] and last == 6
    assert events[0]["prev_hash"] == GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(events))
    w = walk(events, head, last)
    assert w.broken is None and w.count == 6 and w.head_hash == head


@pytest.mark.parametrize("field,value", [
    ("note", "step 2 (edited)"), ("actor", "U2"), ("at", T0 + timedelta(minutes=2, seconds=1)),
    ("after", {"tier": 2, "who": ["U9"]}), ("record_ref", "H-2"), ("kind", "acknowledged"),
])
def test_any_edited_field_breaks_the_chain_at_that_row(field, value):
    events, head, last = chain()
    events[2][field] = value
    w = walk(events, head, last)
    assert w.broken is not None and w.broken.event_id == 102 and w.broken.seq == 3
    assert "edited" in w.broken.reason and w.count == 2


def test_a_deleted_row_shows_as_a_gap():
    events, head, last = chain()
    del events[3]
    w = walk(events, head, last)
    assert w.broken is not None and w.broken.event_id == 104
    assert "sequence jumps from 3 to 5" in w.broken.reason


def test_rows_cut_from_the_end_are_caught_by_the_recorded_head():
    events, head, last = chain()
    w = walk(events[:4], head, last)
    assert w.broken is not None and w.broken.event_id is None
    assert "removed from the end" in w.broken.reason and w.count == 4


def test_a_rehashed_forgery_still_breaks_at_the_next_row():
    """Someone edits a row and recomputes its own hash: its successor's link gives it away."""
    events, head, last = chain()
    forged = copy.deepcopy(events)
    forged[1]["note"] = "nothing happened"
    forged[1]["hash"] = link_hash(forged[1]["prev_hash"], forged[1])
    w = walk(forged, head, last)
    assert w.broken is not None and w.broken.event_id == 102
    assert "predecessor hash" in w.broken.reason


def test_naive_time_is_refused():
    with pytest.raises(ValueError, match="naive"):
        seal(GENESIS, 0, [{"team_id": "T1", "at": datetime(2026, 1, 1), "actor": "U1",
                           "kind": "x"}])
