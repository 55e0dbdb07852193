"""Engine and session factory. SQLite gets WAL, foreign keys and a busy timeout."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaOutOfDate(RuntimeError):
    pass


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
            # Take over transaction control so BEGIN IMMEDIATE serialises writers cleanly.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Writers (transaction() below) take the write lock up front, so they never
            # deadlock upgrading a read lock; readers use a plain deferred BEGIN.
            immediate = conn.get_execution_options().get("baton_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    return create_engine(url, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


# SQLite allows one writer at a time. Left to itself, a waiting writer sleeps in SQLite's
# busy handler for up to 100 ms a try; queueing writers on a lock in the process instead
# hands the database over the moment it is free. (PostgreSQL needs none of this.)
_SQLITE_LOCKS: dict[int, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _writer_lock(engine: Engine) -> threading.Lock | None:
    if engine.dialect.name != "sqlite":
        return None
    with _LOCKS_GUARD:
        return _SQLITE_LOCKS.setdefault(id(engine), threading.Lock())


def lost_a_race(exc: BaseException) -> bool:
    """PostgreSQL rolled the transaction back to settle a clash with another one (a
    serialization failure, 40001, or a deadlock, 40P01): nothing is wrong with the database,
    and the same request again will do."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in ("40001", "40P01")


@contextmanager
def transaction(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    bind = sessions.kw.get("bind")
    lock = _writer_lock(bind) if isinstance(bind, Engine) else None
    with lock if lock is not None else nullcontext(), sessions.begin() as session:
        session.connection(execution_options={"baton_write": True})
        yield session


@contextmanager
def core_transaction(sessions: sessionmaker[Session]) -> Iterator[Connection]:
    """One transaction on a bare Connection, for a single statement where the ORM's unit of
    work would be pure overhead. Same locking as transaction()."""
    bind = sessions.kw.get("bind")
    assert isinstance(bind, Engine)
    lock = _writer_lock(bind)
    with lock if lock is not None else nullcontext(), bind.connect() as conn:
        conn = conn.execution_options(baton_write=True)
        with conn.begin():
            yield conn


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def migrate(engine: Engine) -> tuple[str | None, str]:
    """Upgrade to head. Returns (revision before, revision after)."""
    before = current_revision(engine)
    command.upgrade(alembic_config(engine), "head")
    return before, head_revision()


def head_revision() -> str:
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_schema(engine: Engine) -> None:
    """Refuse to run on a schema that is not at head."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        at = current or "empty"
        raise SchemaOutOfDate(
            f"The database schema is out of date ({at}, needs {head}): run `baton migrate`."
        )
