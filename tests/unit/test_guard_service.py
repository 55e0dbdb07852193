"""bot/services/guard.py on a real (SQLite) database: the partner directory excuses its
names, an open record for the same person and partner is found (case and spacing aside),
a closed one or another workspace's is not, and `confirmed` lets exactly its choices by."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import FixedClock
from bot.domain.drafts import HandoffDraft
from bot.services.guard import DUPLICATE, NAMES, Guard, NeedsConfirmation
from bot.services.records import RecordService
from store.db import make_engine, make_session_factory

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def _draft(person: str, partner: str) -> HandoffDraft:
    return HandoffDraft(person, partner, "intake desk", NOW + timedelta(days=1), "U0ALICE")


def test_check_finds_names_and_an_open_record(sqlite_url: str) -> None:
    sessions = make_session_factory(make_engine(sqlite_url))
    records = RecordService(sessions, FixedClock(NOW))
    first = records.create_handoff(team_id="T1", channel_id="C0CARE0001", actor="U0ALICE",
                                   draft=_draft("P-1042", "Grace Lee Homecare"),
                                   request_key="k1").record
    guard = Guard(sessions)
    assert guard.known_phrases("T1") == ["Grace Lee Homecare"]
    assert guard.names("T1", {"note": "Grace Lee Homecare called; Dr. Patel too",
                              "person": "Mr Not Checked"}) == {"note": ["Dr. Patel"]}

    with pytest.raises(NeedsConfirmation) as asked:
        guard.check("T1", {"note": "daughter Jane Smith"}, person_ref=" p-1042 ",
                    partner="grace lee  HOMECARE")
    found = asked.value.findings
    assert found.names == {"note": ["Jane Smith"]}
    assert found.duplicate is not None and found.duplicate.reference == first.reference
    assert found.kinds == {NAMES, DUPLICATE}
    assert "Jane" not in str(asked.value) and "note" in str(asked.value)  # for log lines
    with pytest.raises(NeedsConfirmation):  # one choice is not both
        guard.check("T1", {"note": "daughter Jane Smith"}, confirmed=[NAMES],
                    person_ref="P-1042", partner="Grace Lee Homecare")
    both = guard.check("T1", {"note": "daughter Jane Smith"}, confirmed=[NAMES, DUPLICATE],
                       person_ref="P-1042", partner="Grace Lee Homecare")
    assert both.kinds == {NAMES, DUPLICATE}

    # Another workspace, another person or partner, or a closed record: nothing to ask.
    assert not guard.check("T2", {}, person_ref="P-1042", partner="Grace Lee Homecare")
    assert not guard.check("T1", {}, person_ref="P-1043", partner="Grace Lee Homecare")
    assert not guard.check("T1", {}, person_ref="P-1042", partner="Northside Home Care")
    records.cancel(team_id="T1", ref=first.id, actor="U0ALICE", reason="withdrawn")
    assert not guard.check("T1", {}, person_ref="P-1042", partner="Grace Lee Homecare")
