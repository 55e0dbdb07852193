"""Slack's Socket Mode, the server side, on loopback: what the emulator (bot/console/emulator/)
answers `apps.connections.open` with, and the WebSocket endpoint its URL points to.

The protocol, as Slack documents it and slack_sdk's clients speak it:

- `apps.connections.open`, called with an app-level token (`xapp-…`), answers
  ``{"ok": true, "url": "wss://…/link/?ticket=…&app_id=…"}`` (here ``ws://127.0.0.1:PORT``).
  A bot or user token is refused with ``not_allowed_token_type``, no token with
  ``not_authed``, an unknown one with ``invalid_auth``. A ticket opens one connection.
- On connect Slack sends ``{"type": "hello", "num_connections": N, "debug_info": {…},
  "connection_info": {"app_id": …}}``.
- Each delivery is an envelope: ``{"envelope_id", "type": "slash_commands" | "interactive"
  | "events_api", "payload", "accepts_response_payload", "retry_attempt",
  "retry_reason"}``, with the same payload an HTTP request URL would get, as JSON.
- The app acknowledges with ``{"envelope_id": …}``, plus ``"payload"`` where the envelope
  accepts one (a slash command's reply, a form's ``response_action``).
- ``{"type": "disconnect", "reason": "warning" | "refresh_requested" | "link_disabled"}``
  asks the app to move to a fresh connection (a new `apps.connections.open`); Slack then
  stops delivering on the old one.
- An envelope not acknowledged in time is delivered again with ``retry_attempt`` counted up
  and ``retry_reason`` set (here: only when `redeliver_after` is given).

The WebSocket itself is RFC 6455 (frames: bot/console/emulator/websocket.py): the HTTP/1.1
upgrade with Sec-WebSocket-Accept, text frames (fragmented ones reassembled), ping/pong, the
close handshake; frames from the client must be masked, the server's are not. `drop()` cuts
connections abruptly (a TCP reset, no close frame), as a network failure would.

Stdlib only, like the emulator.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import secrets
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from bot.console.emulator.websocket import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Closed,
    accept_key,
    encode_frame,
    read_frame,
)

__all__ = ["Ack", "Connection", "Delivery", "SocketModeServer", "accept_key"]

log = logging.getLogger(__name__)

DISCONNECT_REASONS = ("warning", "refresh_requested", "link_disabled")
# Which envelopes may carry an answer in their acknowledgement.
_ACCEPTS_RESPONSE = {"slash_commands": True, "events_api": False}


@dataclass(frozen=True)
class Ack:
    """An acknowledgement the app sent, as it came."""

    envelope_id: str
    payload: dict[str, Any] | None
    connection: int  # Connection.number it came on
    message: dict[str, Any]
    at: float  # the server's clock


@dataclass
class Delivery:
    """An envelope sent to the app, and its redeliveries."""

    envelope_id: str
    type: str
    payload: dict[str, Any]
    accepts_response_payload: bool
    attempts: list[tuple[int, float]] = field(default_factory=list)  # (connection, at)
    acked: bool = False

    def envelope(self, retry_attempt: int, retry_reason: str) -> dict[str, Any]:
        return {"envelope_id": self.envelope_id, "type": self.type, "payload": self.payload,
                "accepts_response_payload": self.accepts_response_payload,
                "retry_attempt": retry_attempt, "retry_reason": retry_reason}


class Connection:
    """One WebSocket from the app: its frames, written under a lock."""

    def __init__(self, server: SocketModeServer, sock: socket.socket, number: int,
                 ticket: str) -> None:
        self.server = server
        self.sock = sock
        self.number = number
        self.ticket = ticket
        self.open = True
        self.retiring = False  # a disconnect was sent: nothing more is delivered here
        self.messages: list[dict[str, Any]] = []  # text messages the app sent, parsed
        self.pongs: list[bytes] = []
        self.close_code: int | None = None
        self.dropped = False
        self._send_lock = threading.Lock()

    def send_frame(self, opcode: int, data: bytes) -> None:
        with self._send_lock:
            self.sock.sendall(encode_frame(opcode, data))

    def send_json(self, message: dict[str, Any]) -> None:
        self.send_frame(OP_TEXT, json.dumps(message, separators=(",", ":")).encode())

    def _shut(self) -> None:
        self.open = False
        if self.dropped:
            return  # drop() resets it: a FIN from here would make it an orderly close
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self.sock.close()


class SocketModeServer:
    """Socket Mode for one app. `clock` (seconds, monotonic) times acknowledgements and
    redeliveries: pass a fake one to move time by hand."""

    def __init__(self, *, app_id: str = "A0BATON", app_tokens: tuple[str, ...] = ("xapp-test",),
                 redeliver_after: float | None = None, max_retries: int = 3,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app_id = app_id
        self.app_tokens = set(app_tokens)
        self.redeliver_after = redeliver_after
        self.max_retries = max_retries
        self.clock = clock
        self._cond = threading.Condition(threading.RLock())
        self._listener: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._tickets: set[str] = set()
        self.tickets_issued = 0
        self._numbers = itertools.count(1)
        self._connections: list[Connection] = []  # every connection ever made, in order
        self.refused_tickets = 0
        self._deliveries: dict[str, Delivery] = {}
        self._acks: list[Ack] = []
        self.unknown_acks: list[dict[str, Any]] = []

    # --- lifecycle ---

    def start(self) -> Self:
        with self._cond:
            if self._listener is not None:
                return self
            listener = socket.create_server(("127.0.0.1", 0))
            self._listener = listener
        self._spawn(self._accept_loop, "socket-mode-accept")
        if self.redeliver_after is not None:
            self._spawn(self._redeliver_loop, "socket-mode-redeliver")
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._cond:
            listener, self._listener = self._listener, None
            conns = list(self._connections)
            self._cond.notify_all()
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close alone does not)
            with contextlib.suppress(OSError):
                listener.close()
        for conn in conns:
            conn._shut()
        with self._cond:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=5)

    def _spawn(self, target: Callable[..., None], name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._cond:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError("the Socket Mode server is not started")
        return int(self._listener.getsockname()[1])

    # --- apps.connections.open ---

    def open_connection(self, token: Any) -> dict[str, Any]:
        """apps.connections.open's answer for the token it was called with."""
        if not isinstance(token, str) or not token:
            return {"ok": False, "error": "not_authed"}
        if token.startswith(("xoxb-", "xoxp-", "xoxe-", "xoxa-")):
            return {"ok": False, "error": "not_allowed_token_type"}
        if token not in self.app_tokens:
            return {"ok": False, "error": "invalid_auth"}
        ticket = str(uuid.uuid4())
        with self._cond:
            self._tickets.add(ticket)
            self.tickets_issued += 1
        return {"ok": True,
                "url": f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"}

    # --- connections ---

    @property
    def connections(self) -> list[Connection]:
        with self._cond:
            return list(self._connections)

    def live(self) -> list[Connection]:
        """Open connections Slack would deliver on (not retiring)."""
        with self._cond:
            return [c for c in self._connections if c.open and not c.retiring]

    def wait_connected(self, count: int = 1, timeout: float = 30.0) -> Connection:
        """Wait until `count` connections have been made in all (each greeted with hello)
        and one is live; the newest live one."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: len(self._connections) >= count and self._live_locked(), timeout)
            if not ok:
                raise AssertionError(f"no live Socket Mode connection #{count} within "
                                     f"{timeout:g} s ({len(self._connections)} made)")
            return self._live_locked()[-1]

    def _live_locked(self) -> list[Connection]:
        return [c for c in self._connections if c.open and not c.retiring]

    def wait_closed(self, conn: Connection, timeout: float = 30.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: not conn.open, timeout):
                raise AssertionError(f"connection #{conn.number} still open after {timeout:g} s")

    def disconnect(self, reason: str = "refresh_requested",
                   conn: Connection | None = None) -> list[Connection]:
        """Tell the app (on `conn`, else every live connection) to reconnect elsewhere;
        nothing more is delivered on those connections. The app closes them itself once
        it has a new one."""
        if reason not in DISCONNECT_REASONS:
            raise ValueError(f"Slack's disconnect reasons are {DISCONNECT_REASONS}")
        targets = [conn] if conn is not None else self.live()
        for c in targets:
            with self._cond:
                c.retiring = True
            with contextlib.suppress(OSError):
                c.send_json({"type": "disconnect", "reason": reason,
                             "debug_info": {"host": "applink-emulated"}})
        return targets

    def close(self, conn: Connection | None = None, code: int = 1001, reason: str = "") -> None:
        """Start the close handshake (the app answers with its own close frame)."""
        for c in [conn] if conn is not None else self.live():
            with self._cond:
                c.retiring = True
            with contextlib.suppress(OSError):
                c.send_frame(OP_CLOSE, struct.pack("!H", code) + reason.encode())

    def drop(self, conn: Connection | None = None) -> None:
        """Cut connections abruptly, with a TCP reset and no close frame."""
        for c in [conn] if conn is not None else self.live():
            with self._cond:
                c.retiring = True
                c.open = False
                c.dropped = True
            # No FIN: a zero linger makes close() send a reset. SHUT_RD wakes this end's
            # reader and sends nothing.
            with contextlib.suppress(OSError):
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                c.sock.shutdown(socket.SHUT_RD)
            with contextlib.suppress(OSError):
                c.sock.close()
            with self._cond:
                self._cond.notify_all()

    def ping(self, conn: Connection | None = None, timeout: float = 10.0) -> bytes:
        """Ping the app and wait for its pong (same payload)."""
        c = conn or self.wait_connected(timeout=timeout)
        data = secrets.token_hex(8).encode()
        c.send_frame(OP_PING, data)
        with self._cond:
            if not self._cond.wait_for(lambda: data in c.pongs, timeout):
                raise AssertionError(f"no pong within {timeout:g} s")
        return data

    # --- deliveries and acknowledgements ---

    def deliver(self, type: str, payload: dict[str, Any], *,
                accepts_response_payload: bool | None = None, timeout: float = 30.0) -> str:
        """Send an envelope on the newest live connection (waiting up to `timeout` for
        one, e.g. during a reconnect); its envelope_id."""
        if accepts_response_payload is None:
            accepts_response_payload = _ACCEPTS_RESPONSE.get(type, payload.get("type") in (
                "view_submission", "block_suggestion"))
        delivery = Delivery(str(uuid.uuid4()), type, payload, accepts_response_payload)
        with self._cond:
            self._deliveries[delivery.envelope_id] = delivery
        self._send(delivery, 0, "", timeout=timeout)
        return delivery.envelope_id

    def _send(self, delivery: Delivery, attempt: int, reason: str, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            conn = self.wait_connected(timeout=max(deadline - time.monotonic(), 0.0))
            try:
                with self._cond:
                    delivery.attempts.append((conn.number, self.clock()))
                conn.send_json(delivery.envelope(attempt, reason))
                return
            except OSError:
                conn._shut()  # it died under us: the next live one
                with self._cond:
                    delivery.attempts.pop()
                    self._cond.notify_all()

    def slash_command(self, payload: dict[str, Any], **kw: Any) -> str:
        return self.deliver("slash_commands", payload, **kw)

    def interactive(self, payload: dict[str, Any], **kw: Any) -> str:
        return self.deliver("interactive", payload, **kw)

    def event(self, payload: dict[str, Any], **kw: Any) -> str:
        return self.deliver("events_api", payload, **kw)

    def delivery(self, envelope_id: str) -> Delivery:
        with self._cond:
            return self._deliveries[envelope_id]

    @property
    def acks(self) -> list[Ack]:
        with self._cond:
            return list(self._acks)

    def acks_for(self, envelope_id: str) -> list[Ack]:
        with self._cond:
            return [a for a in self._acks if a.envelope_id == envelope_id]

    def wait_for_ack(self, envelope_id: str, timeout: float = 10.0) -> Ack:
        with self._cond:
            if not self._cond.wait_for(lambda: any(a.envelope_id == envelope_id
                                                   for a in self._acks), timeout):
                raise AssertionError(f"envelope {envelope_id} not acknowledged within "
                                     f"{timeout:g} s")
            return next(a for a in self._acks if a.envelope_id == envelope_id)

    def unacked(self) -> list[Delivery]:
        with self._cond:
            return [d for d in self._deliveries.values() if not d.acked]

    def redeliver_due(self) -> list[str]:
        """Deliver again, as Slack does, each envelope unacknowledged `redeliver_after`
        seconds (by `clock`) after its last attempt, up to `max_retries` times; their ids."""
        if self.redeliver_after is None:
            return []
        now = self.clock()
        with self._cond:
            due = [d for d in self._deliveries.values() if not d.acked and d.attempts
                   and now - d.attempts[-1][1] >= self.redeliver_after
                   and len(d.attempts) <= self.max_retries and self._live_locked()]
        for d in due:
            with contextlib.suppress(AssertionError):
                self._send(d, len(d.attempts), "timeout", timeout=0)
        return [d.envelope_id for d in due]

    def _redeliver_loop(self) -> None:
        while not self._stopping.wait(0.05):  # the emulator's own timer, not a test's wait
            try:
                self.redeliver_due()
            except Exception:  # an emulator bug must not stop the timer
                log.exception("socket mode redelivery failed")

    # --- the wire ---

    def _accept_loop(self) -> None:
        listener = self._listener
        while listener is not None and not self._stopping.is_set():
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._spawn(self._serve, "socket-mode-conn", sock)

    def _handshake(self, sock: socket.socket) -> str | None:
        """The HTTP/1.1 upgrade; the ticket it used, or None (refused and closed)."""
        sock.settimeout(10)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk or len(data) > 65536:
                return None
            data += chunk
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, _, rest = head[0].partition(" ")
        target = rest.rsplit(" ", 1)[0]
        headers = {k.strip().lower(): v.strip() for k, _, v in
                   (line.partition(":") for line in head[1:])}
        url = urlsplit(target)
        ticket = (parse_qs(url.query).get("ticket") or [""])[0]

        def refuse(status: str, why: str) -> None:
            body = json.dumps({"ok": False, "error": why}).encode()
            with contextlib.suppress(OSError):
                sock.sendall(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
                             f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                             .encode() + body)

        if method != "GET" or url.path.rstrip("/") != "/link" or \
                headers.get("upgrade", "").lower() != "websocket" or \
                "upgrade" not in headers.get("connection", "").lower() or \
                headers.get("sec-websocket-version") != "13" or \
                not headers.get("sec-websocket-key"):
            refuse("400 Bad Request", "invalid_request")
            return None
        with self._cond:
            fresh = ticket in self._tickets
            self._tickets.discard(ticket)  # single use
            if not fresh:
                self.refused_tickets += 1
        if not fresh:
            refuse("401 Unauthorized", "invalid_ticket")
            return None
        sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: "
                      f"{accept_key(headers['sec-websocket-key'])}\r\n\r\n").encode())
        sock.settimeout(None)
        return ticket

    def _serve(self, sock: socket.socket) -> None:
        try:
            ticket = self._handshake(sock)
        except OSError:
            ticket = None
        if ticket is None:
            with contextlib.suppress(OSError):
                sock.close()
            return
        with self._cond:
            conn = Connection(self, sock, next(self._numbers), ticket)
            live = len(self._live_locked()) + 1
        try:
            conn.send_json({"type": "hello", "num_connections": live,
                            "debug_info": {"host": "applink-emulated", "build_number": 1,
                                           "approximate_connection_time": 18060},
                            "connection_info": {"app_id": self.app_id}})
        except OSError:
            conn._shut()
            return
        with self._cond:
            self._connections.append(conn)  # live only once greeted
            self._cond.notify_all()
        try:
            self._read_loop(conn)
        finally:
            conn._shut()
            with self._cond:
                self._cond.notify_all()

    def _read_loop(self, conn: Connection) -> None:
        parts: list[bytes] = []
        first: int | None = None
        while conn.open:
            try:
                fin, opcode, data = read_frame(conn.sock, require_mask=True)
            except (Closed, OSError):
                return
            except ValueError as exc:
                log.debug("socket mode protocol error: %s", exc)
                with contextlib.suppress(OSError):
                    conn.send_frame(OP_CLOSE, struct.pack("!H", 1002))
                return
            if opcode == OP_PING:
                with contextlib.suppress(OSError):
                    conn.send_frame(OP_PONG, data)
            elif opcode == OP_PONG:
                with self._cond:
                    conn.pongs.append(data)
                    self._cond.notify_all()
            elif opcode == OP_CLOSE:
                code = struct.unpack("!H", data[:2])[0] if len(data) >= 2 else 1005
                with self._cond:
                    conn.close_code = code
                with contextlib.suppress(OSError):
                    conn.send_frame(OP_CLOSE, data[:2])  # the close handshake's answer
                return
            elif opcode in (OP_TEXT, OP_BINARY) or (opcode == OP_CONT and first is not None):
                if opcode != OP_CONT:
                    first, parts = opcode, []
                parts.append(data)
                if fin:
                    whole, kind, first = b"".join(parts), first, None
                    if kind == OP_TEXT:
                        self._on_text(conn, whole)
            else:
                with contextlib.suppress(OSError):
                    conn.send_frame(OP_CLOSE, struct.pack("!H", 1002))
                return

    def _on_text(self, conn: Connection, data: bytes) -> None:
        try:
            message = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            log.debug("socket mode: a text frame that is not JSON")
            return
        if not isinstance(message, dict):
            return
        with self._cond:
            conn.messages.append(message)
            envelope_id = message.get("envelope_id")
            delivery = self._deliveries.get(envelope_id) if isinstance(envelope_id, str) \
                else None
            if delivery is None or not isinstance(envelope_id, str):
                self.unknown_acks.append(message)
            else:
                delivery.acked = True
                payload = message.get("payload")
                self._acks.append(Ack(envelope_id, payload if isinstance(payload, dict)
                                      else None, conn.number, message, self.clock()))
            self._cond.notify_all()
