"""Engine and session factory. SQLite gets WAL, foreign keys and a busy timeout; one Baton
process per SQLite file (sole_writer)."""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


class SchemaOutOfDate(RuntimeError):
    pass


class NotOnAnEngine(TypeError):
    """A session factory not bound to an Engine (core_transaction needs one)."""


class NoMigrations(RuntimeError):
    """store/migrations has no head revision (the migrations are missing)."""


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


def for_library_writes(engine: Engine) -> Engine:
    """The engine for a library's own transactions that read and then write (slack_sdk's
    OAuth state and installation stores). On SQLite each of them begins with BEGIN
    IMMEDIATE, as Baton's writers do: a deferred transaction that read first cannot write
    once another writer has committed since (WAL's snapshot rule: "database is locked" at
    once, whatever the busy timeout), and an install would fail under load. Same pool."""
    return engine.execution_options(baton_write=True) if engine.dialect.name == "sqlite" \
        else engine


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


def database_unreachable(exc: BaseException) -> bool:
    """The database is down or unreachable (refused, dropped, timed out, no pooled
    connection free), as opposed to a bug: the transaction rolled back and trying again
    later will do."""
    if lost_a_race(exc):
        return False  # a clash with another writer: said as such (see guarded)
    if isinstance(exc, (OperationalError, InterfaceError, PoolTimeout)):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


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
    if not isinstance(bind, Engine):
        raise NotOnAnEngine(f"the session factory is bound to {type(bind).__name__}, "
                            "not an Engine")
    lock = _writer_lock(bind)
    with lock if lock is not None else nullcontext(), bind.connect() as conn:
        conn = conn.execution_options(baton_write=True)
        with conn.begin():
            yield conn


def ping(session: Session) -> None:
    """A read, the smallest there is: raises when the database does not answer."""
    session.execute(text("SELECT 1"))


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
    if head is None:
        raise NoMigrations(f"no migrations in {MIGRATIONS}")
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


# --- one Baton process per SQLite file ---

class DatabaseInUse(RuntimeError):
    pass


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names, or None (another database, or SQLite in memory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    name = parsed.database or ""
    if name.startswith("file:"):  # sqlite:///file:baton.db?uri=true
        if parsed.query.get("mode") == "memory":
            return None
        name = name.removeprefix("file:").split("?", 1)[0]
    if not name or name == ":memory:":
        return None
    return Path(name).resolve()


class SoleWriter:
    """An exclusive flock(2) on `<database>.lock` beside a SQLite file, held while this
    object is: the OS lets it go when the process ends, however it ends (SIGKILL too), so a
    restart is never refused by a dead process. Two processes on one file would each run
    the time engine and each redo the other's saved requests; SQLite's own locking keeps
    the file whole but cannot stop that. PostgreSQL needs none: replicas share it by design
    (claims with SKIP LOCKED)."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None
        try:
            # Not O_TRUNC: the pid of the process holding it is read back when refused.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise DatabaseInUse(f"DATABASE_URL: cannot open {self.path} ({exc.strerror})"
                                ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            pid = f" (pid {holder})" if holder.isdigit() else ""
            raise DatabaseInUse(
                f"another Baton process{pid} is using {database}: one SQLite file takes "
                "one Baton process; stop it first, or use PostgreSQL (DATABASE_URL="
                "postgresql://...) to run replicas") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None

    def __enter__(self) -> SoleWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def sole_writer(url: str) -> SoleWriter | None:
    """Take the SQLite file's lock for this process (None for PostgreSQL or in-memory
    SQLite). Raises DatabaseInUse when another process holds it."""
    database = sqlite_file(url)
    return SoleWriter(database) if database is not None else None
