"""The tamper-evident audit trail on both databases: every event Baton writes is chained;
`baton audit verify` passes on a clean database and names the row edited behind Baton's
back; concurrent writers never fork the chain; a rolled-back transaction leaves no link."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import select, text

from bot.domain.audit_chain import GENESIS
from store import audit, queries
from store.db import alembic_config, make_engine, make_session_factory, migrate, transaction
from store.models import AuditEvent
from tests.conftest import TEAM

T0 = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def verify_cli(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
           "DATABASE_URL": database_url}
    return subprocess.run([sys.executable, "-m", "bot.cli", "audit", "verify"], env=env,
                          capture_output=True, text=True, timeout=60)


def some_activity(baton) -> None:
    baton.command("/handoff", "person: P-1042 to: Northside Home Care contact: intake desk "
                              "due: tomorrow 5pm risk: same-day")
    baton.command("/dependency", "person: P-2077 action: unsigned authorization partner: "
                                 "County Managed Care risk: emerging safeguard: daily calls")
    baton.command("/baton", "ack H-1")
    baton.clock.advance(timedelta(days=3))
    baton.runtime.engine.run_due()


def test_clean_then_tampered_database(baton, database_url):
    some_activity(baton)
    with baton.sessions() as s:
        rows = s.scalars(select(AuditEvent).order_by(AuditEvent.seq)).all()
        report = audit.verify(s, team_id=TEAM)
        head, last = audit.chain_head(s, team_id=TEAM)
    assert len(rows) >= 6
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    assert report.ok and report.events == len(rows) and report.head_hash == head
    assert last == len(rows)

    clean = verify_cli(database_url)
    assert clean.returncode == 0, clean.stderr
    assert f"{TEAM}: {len(rows)} events, chain intact. Head: {head}" in clean.stdout

    victim = rows[len(rows) // 2]
    with baton.engine.begin() as c:  # behind Baton's back: a plain SQL UPDATE
        c.execute(text("UPDATE audit_events SET note = 'nothing to see' WHERE id = :id"),
                  {"id": victim.id})
    tampered = verify_cli(database_url)
    assert tampered.returncode == 1
    assert f"{TEAM}: BROKEN at event id {victim.id}, number {victim.seq}" in tampered.stdout
    assert "contents no longer match its hash" in tampered.stdout
    assert f"The {victim.seq - 1} events before it verify." in tampered.stdout


def test_deleted_rows_are_found(baton):
    some_activity(baton)
    with baton.sessions() as s:
        ids = [e.id for e in s.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
    with baton.engine.begin() as c:
        c.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": ids[-1]})
    with baton.sessions() as s:
        report = audit.verify(s, team_id=TEAM)
    assert not report.ok and "removed from the end" in report.broken.reason
    with baton.engine.begin() as c:
        c.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": ids[1]})
    with baton.sessions() as s:
        report = audit.verify(s, team_id=TEAM)
    assert report.broken.event_id == ids[2] and "sequence jumps from 1 to 3" in report.broken.reason


def test_concurrent_writers_never_fork_the_chain(database_url):
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(25):
                with transaction(sessions) as s:
                    for j in range(2):  # two events in one commit stay adjacent
                        queries.add_event(s, record=None, team_id="T0CHAIN", at=T0,
                                          actor=f"U{n}", kind="note", note=f"{n}.{i}.{j}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    with sessions() as s:
        report = audit.verify(s, team_id="T0CHAIN")
        notes = [e.note for e in s.scalars(select(AuditEvent).where(
            AuditEvent.team_id == "T0CHAIN").order_by(AuditEvent.seq))]
    assert report.ok and report.events == 400
    pairs = list(zip(notes[::2], notes[1::2], strict=True))
    assert all(a[:-1] == b[:-1] for a, b in pairs)  # each commit's two events adjacent
    engine.dispose()


def test_a_rolled_back_transaction_leaves_no_link(sqlite_url):
    sessions = make_session_factory(make_engine(sqlite_url))
    with transaction(sessions) as s:
        queries.add_event(s, record=None, team_id="T1", at=T0, actor="U1", kind="first")
    with pytest.raises(RuntimeError), transaction(sessions) as s:
        queries.add_event(s, record=None, team_id="T1", at=T0, actor="U1", kind="lost")
        raise RuntimeError("the command failed half-way")
    with transaction(sessions) as s:
        queries.add_event(s, record=None, team_id="T1", at=T0, actor="U1", kind="second")
    with sessions() as s:
        kinds = [(e.seq, e.kind) for e in s.scalars(select(AuditEvent).order_by(AuditEvent.seq))]
        assert audit.verify(s, team_id="T1").ok
    assert kinds == [(1, "first"), (2, "second")]


def test_upgrade_chains_the_events_already_there(tmp_path):
    """A database from before the chain (revision 0003) verifies clean after `migrate`."""
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    command.upgrade(alembic_config(engine), "0003")
    with engine.begin() as c:
        for i, team in enumerate(["T1", "T2", "T1", "T1", "T2"]):
            c.execute(text("INSERT INTO audit_events (team_id, at, actor, kind, note, after) "
                           "VALUES (:t, :at, 'U1', 'created', :n, :a)"),
                      {"t": team, "at": (T0 + timedelta(minutes=i)).replace(tzinfo=None),
                       "n": f"old {i}", "a": '{"tier": 1}'})
    migrate(engine)
    sessions = make_session_factory(engine)
    with sessions() as s:
        reports = {t: audit.verify(s, team_id=t) for t in audit.teams(s)}
    assert {t: (r.ok, r.events) for t, r in reports.items()} == {"T1": (True, 3),
                                                                  "T2": (True, 2)}
    with transaction(sessions) as s:  # new events continue the upgraded chain
        queries.add_event(s, record=None, team_id="T1", at=T0, actor="U1", kind="new")
    with sessions() as s:
        report = audit.verify(s, team_id="T1")
        assert report.ok and report.events == 4
        assert audit.chain_head(s, team_id="T9") == (GENESIS, 0)
    engine.dispose()
