"""Requests answered 200 are not lost with the process: each is saved as soon as its 200 is
written, before its work is queued, and deleted once that work has run. What a process
leaves behind when it dies (SIGKILL, a crash, a deploy that did not wait) is finished by
the next start, or by another replica: the request is handed to the app again, as Slack
sent it. Not saved before the 200: on SQLite that write waits for the one writer, and
Slack's answer would wait with it (bench/command_path.py: p50 22 ms instead of 3 ms). What
is left is the moment between writing the 200 and committing the row.

Doing a request twice is safe by design: a record's request key (the trigger or view id)
makes a second /handoff answer with the record the first one made, and a second click finds
the record already changed and says so; a card the first attempt got to Slack is found
there and adopted, not posted again (bot/slack/cards.py). What can repeat is a reply the first
attempt had already sent before the process died."""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from store import inbox as q
from store.db import core_transaction, transaction
from store.models import ReceivedRequest

log = logging.getLogger("baton.inbox")

Replay = Callable[[ReceivedRequest], None]
FORGET_EVERY = 0.05  # seconds: finished requests are deleted in batches this far apart
MAX_AGE = timedelta(minutes=30)  # Slack's response_url lives this long: older is not redone


_REDOING: ContextVar[bool] = ContextVar("baton_redoing", default=False)


def redoing() -> bool:
    """Inside a saved request being redone (its first attempt's process died), not a
    Slack retry that may race an attempt still running here."""
    return _REDOING.get()


@contextmanager
def redo_scope() -> Iterator[None]:
    token = _REDOING.set(True)
    try:
        yield
    finally:
        _REDOING.reset(token)


@dataclass(frozen=True)
class Received:
    """A request from Slack as it came in, to be saved once answered."""

    team_id: str | None
    body: str
    content_type: str | None
    signature: str
    signed_at: str


class NotFromSlack(Exception):
    """A saved request whose Slack signature does not hold: never acted on."""


# --- requests that came without a signature (Socket Mode): Baton signs what it saves ---
#
# A Socket Mode envelope arrives on a WebSocket Baton opened with its app-level token: Slack
# signs nothing, the connection is the proof. So that the replay can still refuse a row
# nobody but Baton wrote, Baton signs each one it saves: an HMAC-SHA256, keyed by the
# signing secret when it has one (so a `serve` replica can check it too), else by the
# app-level token, over the scheme, the time saved, the workspace and the body exactly as
# stored. The signature names its key; the scheme keeps it apart from Slack's own v0
# signatures (a row signed here is never taken for a request Slack signed, nor the other
# way round). Whoever can write the table but holds neither secret cannot make one.

BATON_SIGNED = "baton-sm1"  # the scheme; a signature is "baton-sm1:<key name>=<hex>"
KEY_NAMES = ("signing_secret", "app_token")


def baton_signed(signature: str) -> bool:
    return signature.startswith(BATON_SIGNED + ":")


def _mac(key: str, *, team_id: str | None, body: str, stamp: str) -> str:
    message = "\n".join((BATON_SIGNED, stamp, team_id or "", body)).encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def sign_saved(keys: dict[str, str], *, team_id: str | None, body: str, stamp: str) -> str:
    """Baton's signature for a request it saves: with the first of KEY_NAMES it holds."""
    name = next(n for n in KEY_NAMES if keys.get(n))
    return f"{BATON_SIGNED}:{name}={_mac(keys[name], team_id=team_id, body=body, stamp=stamp)}"


def saved_signature_holds(signature: str, keys: dict[str, str], *, team_id: str | None,
                          body: str, stamp: str) -> bool:
    """A Baton signature over this row, made with a key this process holds."""
    name, _, given = signature.removeprefix(BATON_SIGNED + ":").partition("=")
    key = keys.get(name) if baton_signed(signature) and name in KEY_NAMES else None
    if not key or not stamp.isdigit():
        return False
    return hmac.compare_digest(_mac(key, team_id=team_id, body=body, stamp=stamp), given)


class Inbox:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, *, worker: str,
                 is_dead: Callable[[str], bool], lease: timedelta = timedelta(minutes=10),
                 max_attempts: int = 3) -> None:
        self._sessions = sessions
        self._clock = clock
        self.worker = worker
        self._is_dead = is_dead
        self._lease = lease
        self._max_attempts = max_attempts
        self.replay: Replay | None = None  # set by the app: hands a request to its listener
        # Finished, but the database could not be told (it was down): told again each sweep.
        # Until then the rows stay ours, so no other process redoes what was answered.
        self._to_forget: set[int] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._forgetter: threading.Thread | None = None
        self._closed = False

    @contextmanager
    def _one_statement(self) -> Iterator[Connection]:
        """A statement committed on its own. On PostgreSQL in autocommit: one round trip,
        which matters on the request path (each wait for the database is a wait for the
        interpreter lock again, behind the workers)."""
        bind = self._sessions.kw["bind"]
        if bind.dialect.name == "postgresql":
            with bind.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                yield conn
        else:
            with core_transaction(self._sessions) as conn:
                yield conn

    def receive_many(self, requests: list[Received]) -> list[int]:
        """Save answered requests in one statement; their ids in the same order. Raises
        when the database can't take them."""
        with self._one_statement() as conn:
            return q.add_requests(
                conn, requests=[(r.team_id, r.body, r.content_type, r.signature, r.signed_at)
                                for r in requests],
                worker=self.worker, now=self._clock.now())

    def finish(self, request_id: int) -> None:
        """The request's work has run (or failed and its sender was told): forget it, in a
        batch with the others that finish within FORGET_EVERY."""
        with self._lock:
            self._to_forget.add(request_id)
            closed = self._closed
            if not closed and (self._forgetter is None or not self._forgetter.is_alive()):
                self._forgetter = threading.Thread(target=self._forget_soon, daemon=True,
                                                   name="baton-inbox")
                self._forgetter.start()
        if closed:  # shutting down: at once, so the next start does not redo it
            self._forget()
        else:
            self._wake.set()

    def _forget_soon(self) -> None:
        while not self._closed:
            self._wake.wait()
            self._wake.clear()
            time.sleep(FORGET_EVERY)  # let the batch gather (a pause, not a deadline)
            if not self._forget():
                time.sleep(1.0)  # the database is away: not a busy loop
                self._wake.set()

    def _forget(self) -> bool:
        with self._lock:
            ids = sorted(self._to_forget)
        if not ids:
            return True
        try:
            with self._one_statement() as conn:
                q.remove_requests(conn, ids=ids)
        except Exception as exc:  # noqa: BLE001 - kept, and tried again
            log.warning("could not mark %d received request(s) finished (%s); trying again",
                        len(ids), type(exc).__name__)
            return False
        with self._lock:
            self._to_forget.difference_update(ids)
        return True

    def flush(self) -> bool:
        """Delete the finished requests now, not in the next batch. False if it failed."""
        return self._forget()

    def close(self) -> None:
        """Shutting down: what has finished is marked so now, not redone after the restart."""
        self._closed = True
        self._wake.set()
        self._forget()

    def recover(self) -> int:
        """Renew this process's lease on the requests it is doing; take over and redo those
        of processes that died (on this host: at once; elsewhere: once their lease is past).
        Returns how many were redone."""
        self._forget()
        now = self._clock.now()
        with self._one_statement() as conn:
            q.renew_requests(conn, worker=self.worker, now=now)
        if self.replay is None:
            return 0
        with self._sessions() as s:
            candidates = q.unfinished(s, not_by=self.worker)
        redone = 0
        for request_id, owner, received_at, taken_at in candidates:
            if not (self._is_dead(owner) or now - taken_at > self._lease):
                continue
            with transaction(self._sessions) as s:
                row = q.take_request(s, request_id=request_id, from_worker=owner,
                                     worker=self.worker, now=now)
                if row is None:
                    continue  # another replica took it first
                why = None
                if row.attempts > self._max_attempts:
                    why = f"it failed {row.attempts - 1} times"
                elif now - received_at > MAX_AGE:
                    # Its response_url has expired and its sender has long moved on (or
                    # tried again): doing it now would surprise more than help.
                    why = f"it is older than {MAX_AGE}"
                if why is not None:
                    q.abandon_request(s, request_id=request_id)
                    log.error("received request %d not redone: %s; kept in received_requests, "
                              "marked abandoned, for a person to look at", request_id, why)
                    continue
                s.expunge(row)
            log.warning("redoing received request %d, answered 200 by %s at %s, which did "
                        "not finish it", request_id, owner, received_at.isoformat())
            try:
                self.replay(row)
                redone += 1
            except NotFromSlack:
                with transaction(self._sessions) as s:
                    q.abandon_request(s, request_id=request_id)
                log.error("received request %d does not carry Slack's signature: not redone, "
                          "marked abandoned (was the table written to by hand?)", request_id)
            except Exception:
                log.exception("redoing received request %d failed", request_id)
        return redone
