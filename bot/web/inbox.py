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
attempt had already sent before the process died.

This module is the whole of it: what is saved (Received) and how it is signed, the saving
after the 200 (Inbox.release, on a saver thread, in batches) and the forgetting once the
work has run, the take-over of a dead process's requests (Inbox.recover) and the replay
itself, which checks a row's signature again and hands its request to the app as HTTP
(`serve`: over_http) or as a Socket Mode envelope (`socket`: in_socket_mode). The SQL is in
store/inbox.py; the worker pool the work runs on is bot/web/workers.py."""

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
from typing import Any, Protocol

from slack_bolt import App, BoltContext
from slack_bolt.request import BoltRequest
from slack_bolt.request.internals import build_context
from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from bot.clock import Clock
from bot.settings import Settings
from bot.slack import wire
from bot.slack.clients import team_scope
from bot.web.parsing import malformed, parse_slack_body, team_of
from bot.web.signature import Signatures
from bot.web.workers import Held, Workers
from store import inbox as q
from store.db import core_transaction, transaction
from store.models import ReceivedRequest

log = logging.getLogger("baton.inbox")

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


# What Slack sends that defers work: saved once answered. Not a form's submission: most
# forms write before their 200 (their errors go back in it), and redoing one would write
# twice.
_KEPT = ("block_actions", "event_callback", "shortcut", "message_action")


def kept(body: dict[str, Any]) -> bool:
    """A request saved once answered (see _KEPT)."""
    return "command" in body or body.get("type") in _KEPT


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


def saved_keys(settings: Settings) -> dict[str, str]:
    """The secrets a saved request's signature may be checked with."""
    return {"signing_secret": settings.secret("slack_signing_secret"),
            "app_token": settings.secret("slack_app_token")}


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


class SavedRow(Protocol):
    """What genuine() reads of a received_requests row."""

    @property
    def body(self) -> str: ...
    @property
    def signature(self) -> str: ...
    @property
    def signed_at(self) -> str: ...
    @property
    def team_id(self) -> str | None: ...


def genuine(row: SavedRow, keys: dict[str, str]) -> bool:
    """A saved request signed by Slack (its age aside) or, for one that came without a
    signature (Socket Mode), by Baton with a secret of its own."""
    raw, signature, stamp = str(row.body), str(row.signature), str(row.signed_at)
    if baton_signed(signature):
        return saved_signature_holds(signature, keys, team_id=row.team_id, body=raw,
                                     stamp=stamp)
    secret = keys.get("signing_secret")
    return bool(secret) and Signatures(secret or "").holds(stamp, raw.encode(), signature)


# --- the replay: how a saved request is handed to the app again ---

Redo = Callable[[ReceivedRequest, dict[str, Any]], None]
"""Hand a saved request (its signature checked, its body parsed) to the app's listeners."""


def over_http(app: App, secret: str) -> Redo:
    """As Slack sent it over HTTP (`serve`), signed anew: its signature was checked when it
    came in and again before this, and may be older than Bolt's five minutes."""

    def redo(row: ReceivedRequest, body: dict[str, Any]) -> None:
        raw = str(row.body)
        headers = wire.signed_headers(raw, secret, content_type=row.content_type
                                      or "application/x-www-form-urlencoded")
        req = BoltRequest(body=raw, headers=dict(headers))
        if req.body != body:
            req.body = body
            req.context = build_context(BoltContext({}), body)
        app.dispatch(req)

    return redo


def in_socket_mode(app: App) -> Redo:
    """As a Socket Mode request (`socket`): one this or another `baton socket` saved
    (Baton's signature), or one `serve` saved (Slack's, when the signing secret is set here
    too)."""

    def redo(row: ReceivedRequest, body: dict[str, Any]) -> None:
        app.dispatch(BoltRequest(mode="socket_mode", body=body))

    return redo


class Inbox:
    """received_requests, as this process uses it: requests saved once answered (release),
    forgotten once their work has run (finish), and those of dead processes redone
    (recover) through `redo`, when this process redoes requests at all (the console does
    not: None)."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock, *, worker: str,
                 is_dead: Callable[[str], bool], workers: Workers,
                 keys: dict[str, str] | None = None, redo: Redo | None = None,
                 lease: timedelta = timedelta(minutes=10), max_attempts: int = 3) -> None:
        self._sessions = sessions
        self._clock = clock
        self.worker = worker
        self._is_dead = is_dead
        self._workers = workers
        self._keys = dict(keys or {})
        self._redo = redo
        self._lease = lease
        self._max_attempts = max_attempts
        # Finished, but the database could not be told (it was down): told again each sweep.
        # Until then the rows stay ours, so no other process redoes what was answered.
        self._to_forget: set[int] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._forgetter: threading.Thread | None = None
        self._closed = False
        # Answered requests waiting for the saver thread, each with the work it deferred.
        self._saving = threading.Condition()
        self._to_save: list[tuple[Held, Received]] = []
        self._saver: threading.Thread | None = None

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

    # --- saving what was answered, and forgetting it once done ---

    def release(self, held: Held, *, keep: Received | None = None) -> None:
        """Queue the work a request deferred. With `keep`, the request is saved first (its
        200 is out by now), so that the work is done even if this process dies: on the
        saver thread, in batches, so the server's thread is free at once (waitress sends the
        response only once the request's thread is done with it). A request that has its
        row already (a saved one, redone) is forgotten once its work has run."""
        if keep is not None and held and held.request_id is None:
            with self._saving:
                self._to_save.append((held, keep))
                if self._saver is None or not self._saver.is_alive():
                    self._saver = threading.Thread(target=self._save_loop, daemon=True,
                                                   name="baton-saver")
                    self._saver.start()
                self._saving.notify()
            return
        self._queue(held)

    def _save_loop(self) -> None:
        while True:
            with self._saving:
                while not self._to_save:
                    self._saving.wait()
                batch, self._to_save = self._to_save, []
            try:
                ids = self.receive_many([k for _, k in batch])
                for (held, _), request_id in zip(batch, ids, strict=True):
                    held.request_id = request_id
            except Exception as exc:  # noqa: BLE001 - the work still runs, and tells its sender
                log.warning("could not save %d answered request(s) (%s); doing their work "
                            "unsaved", len(batch), type(exc).__name__)
            for held, _ in batch:
                self._queue(held)

    def _queue(self, held: Held) -> None:
        request_id = held.request_id
        self._workers.release(held, finished=None if request_id is None else
                              lambda: self.finish(request_id))

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

    # --- redoing what a dead process left ---

    def recover(self) -> int:
        """Renew this process's lease on the requests it is doing; take over and redo those
        of processes that died (on this host: at once; elsewhere: once their lease is past).
        Returns how many were redone."""
        self._forget()
        now = self._clock.now()
        with self._one_statement() as conn:
            q.renew_requests(conn, worker=self.worker, now=now)
        if self._redo is None:
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
                self.replay(row, self._redo)
                redone += 1
            except NotFromSlack:
                with transaction(self._sessions) as s:
                    q.abandon_request(s, request_id=request_id)
                log.error("received request %d does not carry Slack's signature: not redone, "
                          "marked abandoned (was the table written to by hand?)", request_id)
            except Exception:
                log.exception("redoing received request %d failed", request_id)
        return redone

    def replay(self, row: ReceivedRequest, redo: Redo) -> None:
        """Hand a saved request to its listener again. Slack's own signature (or Baton's,
        for a Socket Mode request) is checked again: a row nobody but Slack or Baton signed
        is never acted on, whoever could write to the table. Its row is deleted once the
        work it defers has run."""
        if not genuine(row, self._keys):
            raise NotFromSlack(f"received request {row.id}")
        body = parse_slack_body(str(row.body), row.content_type)
        problem = malformed(body)
        if problem is not None:
            raise NotFromSlack(f"received request {row.id}: {problem}")
        # The workspace the signed body names: the row's own column is not under the signature.
        with team_scope(team_of(body) or row.team_id), redo_scope(), \
                self._workers.hold_deferred(row.id) as held:
            try:
                redo(row, body)
            except BaseException:
                self._queue(held)
                raise
        self._queue(held)
