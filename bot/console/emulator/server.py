"""The emulator's loopback HTTP front: a threading HTTP/1.1 server on 127.0.0.1 (an ephemeral
port, keep-alive, chunked bodies), and what it serves: ``/api/<method>`` (the Web API, after
injected failures, tokens and scopes are checked), ``/response/<key>`` (response_urls: five
uses within 30 minutes) and ``/upload/v1/<file id>`` (the files.slack.com step of
files_upload_v2). Every answer is recorded (bot/console/emulator/calls.py) before it is sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from bot.console.emulator.blockkit import MAX_TEXT, block_kit_problem
from bot.console.emulator.calls import CallLog
from bot.console.emulator.faults import Faults, Refused
from bot.console.emulator.oauth import Tokens
from bot.console.emulator.protocol import (
    Args,
    BadRequest,
    Headers,
    error,
    invalid_blocks,
    maybe_json,
    parse_params,
    presented_token,
)
from bot.console.emulator.scopes import missing_scope
from bot.console.emulator.state import RESPONSE_URL_LIFETIME, RESPONSE_URL_USES

log = logging.getLogger("bot.console.emulator")  # one logger for the whole emulator


class Server(ThreadingHTTPServer):
    # Daemon handler threads so a stuck keep-alive client never blocks interpreter exit.
    daemon_threads = True
    # Benchmarks open many connections at once; the default backlog of 5 drops SYNs.
    request_queue_size = 512

    def __init__(self, emulator: HttpFront) -> None:
        self.emulator = emulator
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), Handler)

    def track(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.add(conn)

    def untrack(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.discard(conn)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Quiet: socketserver would print a traceback to stderr (e.g. on client resets).
        # socketserver calls this from inside its except block, so exc_info is the error.
        log.debug(
            "slack emulator connection error from %s", client_address, exc_info=sys.exc_info()
        )

    def close_connections(self) -> None:
        # Keep-alive connections outlive serve_forever(); cut them so stop() really stops.
        with self._conns_lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every answer carries Content-Length
    disable_nagle_algorithm = True  # headers and body are separate writes; avoid 40ms stalls
    timeout = 60  # idle keep-alive connections are dropped instead of pinning a thread
    server_version = "SlackEmulator/1.0"
    sys_version = ""
    server: Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the console prints calls itself via on_call

    def do_POST(self) -> None:
        self.server.emulator._serve(self)

    def do_GET(self) -> None:
        # Slack accepts GET with query-string args for read methods.
        self.server.emulator._serve(self)

    def read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Drain optional trailers up to the blank line.
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)  # CRLF after each chunk
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length > 0 else b""
        if len(data) < length:
            # The client hung up mid-body: drop it rather than act on a partial request.
            raise ConnectionResetError("request body shorter than Content-Length")
        return data

    def answer(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json; charset=utf-8",
        extra_headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra_headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def response_url_problem(params: dict[str, Any]) -> dict[str, Any] | None:
    blocks = maybe_json(params.get("blocks"))
    text = params.get("text")
    if blocks is not None:
        problem = block_kit_problem(blocks)
        if problem:
            return invalid_blocks(problem)
    if not (isinstance(text, str) and text.strip()) and not blocks and \
            not params.get("delete_original"):
        return error("no_text")
    if isinstance(text, str) and len(text) > MAX_TEXT:
        return error("msg_too_long")
    return None


class HttpFront(CallLog, Faults, Tokens):
    """Serving: the lifecycle (start, stop, the URLs a WebClient is pointed at), and each
    request through failures, tokens and scopes to the method table."""

    _methods: dict[str, Callable[[Args], dict[str, Any]]]  # Web API method -> answer

    def __init__(self, **workspace: Any) -> None:
        super().__init__(**workspace)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        # bot/console/emulator/socket_mode.py's SocketModeServer, once enabled.
        self.socket_mode: Any = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        with self._cond:
            if self._server is not None:
                return self
            server = Server(self)
            thread = threading.Thread(
                target=server.serve_forever,
                # shutdown() waits up to one poll interval; keep stop() fast for test suites.
                kwargs={"poll_interval": 0.02},
                name=f"slack-emulator:{server.server_address[1]}",
                daemon=True,
            )
            self._server, self._thread = server, thread
            self._upload_root = f"http://127.0.0.1:{server.server_address[1]}"
        thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if self.socket_mode is not None:
            self.socket_mode.stop()
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        server = self._server
        if server is None:
            raise RuntimeError("SlackEmulator is not started; call start() first")
        return int(server.server_address[1])

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """WebClient ``base_url`` (trailing slash matters: slack_sdk urljoins the method)."""
        return f"{self.root_url}/api/"

    def enable_socket_mode(self, *, app_token: str = "xapp-test", **options: Any) -> Any:
        """Socket Mode (bot/console/emulator/socket_mode.py): apps.connections.open takes
        `app_token` and opens WebSocket connections on a port of their own; the
        SocketModeServer."""
        from bot.console.emulator.socket_mode import SocketModeServer

        if self.socket_mode is None:
            self.socket_mode = SocketModeServer(app_id=self.app_id, app_tokens=(app_token,),
                                                **options).start()
        return self.socket_mode

    def response_url(self, key: str, *, age: float = 0.0) -> str:
        """The response_url Slack puts in a command or click: five uses within 30 minutes.
        ``age`` issues one that many seconds old."""
        with self._cond:
            self._response_urls.setdefault(key, {"at": self.monotonic() - age, "uses": 0})
        return f"{self.root_url}/response/{quote(key, safe='')}"

    # ------------------------------------------------------------------ HTTP plumbing

    def _serve(self, h: Handler) -> None:
        try:
            body = h.read_body()
        except ConnectionResetError:
            h.close_connection = True
            return
        except (ValueError, OSError):
            h.close_connection = True
            with contextlib.suppress(OSError):
                h.answer(400, b'{"ok":false,"error":"invalid_request"}')
            return
        url = urlsplit(h.path)
        path = url.path
        try:
            if path.startswith("/api/") and len(path) > len("/api/"):
                self._serve_api(h, unquote(path[len("/api/") :]), url.query, body)
            elif path.startswith("/response/"):
                self._serve_response_url(h, unquote(path[len("/response/") :]), url.query, body)
            elif path.startswith("/upload/v1/"):
                self._serve_upload(h, unquote(path[len("/upload/v1/") :]), body)
            else:
                h.answer(404, b'{"ok":false,"error":"not_found"}')
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True
        except Exception:  # never leave a client hanging on an emulator bug
            log.exception("slack emulator failed serving %s", h.path)
            h.close_connection = True
            with contextlib.suppress(OSError):
                h.answer(500, b'{"ok":false,"error":"internal_error"}')

    def _serve_api(self, h: Handler, method: str, query: str, body: bytes) -> None:
        headers = Headers(h.headers.items())
        bad: BadRequest | None = None
        try:
            params = parse_params(query, headers.get("content-type", ""), body)
        except BadRequest as exc:
            params, bad = dict(parse_qsl(query, keep_blank_values=True)), exc
        with self._cond:
            injected = self._take_failure(method, params)
            if injected is not None:
                status, response, extra = injected
            else:
                status, extra = 200, {}
                if bad is not None:
                    response = error(bad.error, bad.detail) if bad.detail else error(bad.error)
                elif method == "oauth.v2.access":
                    response = self._oauth_v2_access(headers, params)
                elif method == "apps.connections.open" and self.socket_mode is not None:
                    # Takes an app-level token, not a bot token
                    # (bot/console/emulator/socket_mode.py).
                    response = self.socket_mode.open_connection(
                        presented_token(headers, params))
                elif not self._token_ok(headers, params):
                    response = error("invalid_auth")
                elif presented_token(headers, params) in self._revoked:
                    response = error(self._revoked[presented_token(headers, params)])
                else:
                    self._presented = presented_token(headers, params)
                    response = self._scope_problem(method, params) or {}
                    if not response:
                        try:
                            response = self._dispatch(method, params)
                        except Refused as refusal:
                            status, response, extra = refusal.status, refusal.body, refusal.headers
            payload, call = self._record(method, params, headers, status, response)
            delay = self._latency.get(method, self._latency.get(None, 0.0))
        self._notify(call)
        if delay > 0:
            time.sleep(delay)  # outside the lock: other calls are answered meanwhile
        extra = {"X-Slack-Req-Id": hashlib.sha1(payload).hexdigest()[:16], **extra}
        h.answer(status, payload, extra_headers=extra)

    def _serve_response_url(self, h: Handler, key: str, query: str, body: bytes) -> None:
        headers = Headers(h.headers.items())
        try:
            if body.lstrip().startswith(b"{"):
                # response_url takes JSON even when the Content-Type is missing or wrong.
                params = {**dict(parse_qsl(query, keep_blank_values=True)), **json.loads(body)}
            else:
                params = parse_params(query, headers.get("content-type", ""), body)
            response: dict[str, Any] = {"ok": True}
        except (BadRequest, ValueError):
            params, response = {}, error("invalid_payload")
        # Like an incoming webhook, a response_url refuses what Slack would not show: HTTP 400
        # with the error (invalid_blocks, no_text, msg_too_long).
        refused = response_url_problem(params) if response.get("ok") else None
        if refused is not None:
            response = refused
        params = {**params, "_key": key}
        with self._cond:
            # Five uses within 30 minutes: past either, Slack answers 404 and shows nothing.
            issued = self._response_urls.setdefault(key, {"at": self.monotonic(), "uses": 0})
            issued["uses"] += 1
            gone = None
            if self.monotonic() - issued["at"] > RESPONSE_URL_LIFETIME:
                gone = "expired_url"
            elif issued["uses"] > RESPONSE_URL_USES:
                gone = "used_url"
            if gone is not None:
                refused = response = error(gone)
            injected = self._take_failure("response_url")
            status = 400 if refused is not None else 200
            extra: dict[str, str] = {}
            if gone is not None:
                status = 404
            if injected is not None:
                status, response, extra = injected
            payload, call = self._record("response_url", params, headers, status, response)
            delay = self._latency.get("response_url", self._latency.get(None, 0.0))
        self._notify(call)
        if delay > 0:
            time.sleep(delay)  # as for API calls: recorded (heard) first, answered late
        h.answer(status, payload, extra_headers=extra)

    def _serve_upload(self, h: Handler, file_id: str, body: bytes) -> None:
        # The files.slack.com step of files_upload_v2: raw bytes in, "OK - <n>" text out.
        with self._cond:
            entry = self._files.get(file_id)
            if entry is not None:
                entry["bytes"] = bytes(body)
        if entry is None:
            h.answer(404, b"file not found", content_type="text/plain; charset=utf-8")
        else:
            h.answer(200, f"OK - {len(body)}".encode(), content_type="text/plain; charset=utf-8")

    def _dispatch(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        handler = self._methods.get(method)
        if handler is None:
            return error("unknown_method")
        try:
            return handler(Args(params))
        except Refused:
            raise
        except Exception as exc:  # an emulator bug must not hang the client
            log.exception("slack emulator failed handling %s", method)
            return error("internal_error", f"emulator: {exc!r}")

    def _scope_problem(self, method: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """missing_scope, shaped as Slack answers it (needed, provided), or None."""
        if self.scopes is None or "scopes" in self.lenient:
            return None
        return missing_scope(self.scopes, method,
                             lambda: self._conversation_kind(Args(params).str("channel") or ""))
