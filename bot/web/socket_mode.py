"""`baton socket`: Slack's Socket Mode, with answered requests saved as `serve` saves them.

Bolt's SocketModeHandler (slack_sdk's built-in SocketModeClient underneath) opens the
connection with the app-level token and hands each envelope to the app; SocketHandler does
what the WSGI app (bot/web/wsgi.py) does around it for HTTP: a request Slack could not have
sent is acknowledged and its sender told; when Baton is overloaded it is turned away in
Slack's own ways; else the app answers it with its deferred work held back, the envelope is
acknowledged (the ack is Socket Mode's 200), the request is saved (received_requests), and
only then is the work queued. A process that dies after the ack leaves the row behind for
the next start or another replica to redo.

Envelopes carry no Slack signature, so the row is signed by Baton (bot/web/inbox.py): an HMAC
keyed by the signing secret when one is set, else by the app-level token. The body is the
envelope's payload as JSON, which is what the replay parses and hands to Bolt
(bot/web/inbox.py's in_socket_mode).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.socket_mode.internals import run_bolt_app, send_response
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.slack.clients import team_scope
from bot.web.answers import UNREADABLE
from bot.web.inbox import Inbox, Received, kept, sign_saved
from bot.web.parsing import malformed, team_of
from bot.web.shedding import busy_answer
from bot.web.workers import Workers

log = logging.getLogger("baton")

CONTENT_TYPE = "application/json"  # a saved envelope's body: its payload as JSON


class SocketHandler(SocketModeHandler):
    """Bolt's Socket Mode adapter with Baton's receiving rules (see the module's doc): the
    work envelopes defer runs on `workers`, saved in `inbox` first (signed with `keys`);
    `tell` answers a sender whose envelope could not be read."""

    def __init__(self, app: App, app_token: str, *, workers: Workers, inbox: Inbox,
                 keys: dict[str, str], tell: Callable[[dict[str, Any], str], None],
                 **kwargs: Any) -> None:
        super().__init__(app, app_token, **kwargs)
        self._workers = workers
        self._inbox = inbox
        self._keys = keys
        self._tell = tell

    # Bolt's SocketModeHandler is not annotated: typed here, for its callers.
    def connect(self) -> None:
        super().connect()  # type: ignore[no-untyped-call]

    def close(self) -> None:
        super().close()  # type: ignore[no-untyped-call]

    def handle(self, client: BaseSocketModeClient, req: SocketModeRequest) -> None:
        start = time.time()
        workers, body = self._workers, req.payload
        problem = malformed(body)
        if problem is not None:
            log.warning("ignored a Socket Mode envelope Slack could not have sent: %s", problem)
            self._tell(body, UNREADABLE.format(what=problem))
            client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        if workers.overloaded():
            workers.note_shed()
            client.send_socket_mode_response(SocketModeResponse(
                envelope_id=req.envelope_id, payload=busy_answer(workers, body)))
            return
        team = team_of(body)
        with team_scope(team), workers.hold_deferred() as held:
            try:
                answer = run_bolt_app(self.app, req)
            except Exception:
                log.exception("Bolt could not handle a Socket Mode envelope; acknowledged")
                answer = BoltResponse(status=200, body="")
            except BaseException:
                self._inbox.release(held)  # never leave held work counted but not run
                raise
        keep = self._received(team, body) if kept(body) else None
        try:
            send_response(client, req, answer, start)  # the ack: Socket Mode's 200
        finally:
            # Saved once acknowledged, before its work is queued, as serve does after its 200.
            self._inbox.release(held, keep=keep)

    def _received(self, team: str | None, payload: dict[str, Any]) -> Received:
        raw = json.dumps(payload, separators=(",", ":"))
        stamp = str(int(time.time()))
        return Received(team, raw, CONTENT_TYPE,
                        sign_saved(self._keys, team_id=team, body=raw, stamp=stamp), stamp)
