"""A library's read-then-write transaction on SQLite (slack_sdk's OAuth state store consumes
a state: SELECT, then DELETE) must not fail because another writer committed in between:
under load an install failed with "database is locked" (WAL's snapshot rule)."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from store.db import for_library_writes, make_engine


def _setup(tmp_path):
    path = tmp_path / "w.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE states (id INTEGER PRIMARY KEY, state TEXT)"))
        conn.execute(text("INSERT INTO states (state) VALUES ('s1')"))
    return engine, path


def _other_writer(path) -> sqlite3.Connection:
    other = sqlite3.connect(str(path), timeout=0.2, isolation_level=None)
    return other


def test_a_plain_deferred_read_then_write_fails_once_another_writer_committed(tmp_path):
    """The failure itself, so that the test below could fail."""
    engine, path = _setup(tmp_path)
    other = _other_writer(path)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT state FROM states")).all()
            other.execute("INSERT INTO states (state) VALUES ('s2')")  # commits at once
            with pytest.raises(OperationalError, match="locked"):
                conn.execute(text("DELETE FROM states WHERE state = 's1'"))
            conn.rollback()
    finally:
        other.close()
        engine.dispose()


def test_the_library_engine_takes_the_write_lock_first_and_its_write_holds(tmp_path):
    engine, path = _setup(tmp_path)
    library = for_library_writes(engine)
    other = _other_writer(path)
    try:
        with library.connect() as conn:
            conn.execute(text("SELECT state FROM states")).all()
            # Another writer now waits (here: gives up after 0.2 s) instead of slipping in.
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("INSERT INTO states (state) VALUES ('s2')")
            conn.execute(text("DELETE FROM states WHERE state = 's1'"))
            conn.commit()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM states")).scalar() == 0
    finally:
        other.close()
        engine.dispose()
