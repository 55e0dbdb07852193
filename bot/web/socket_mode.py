"""`baton socket`: Slack's Socket Mode, with answered requests saved as `serve` saves them.

Bolt's SocketModeHandler (slack_sdk's built-in SocketModeClient underneath) opens the
connection with the app-level token and hands each envelope to the app; SocketHandler does
what wsgi_app does around it for HTTP: a request Slack could not have sent is acknowledged
and its sender told; when Baton is overloaded it is turned away in Slack's own ways; else
the app answers it with its deferred work held back, the envelope is acknowledged (the ack
is Socket Mode's 200), the request is saved (received_requests), and only then is the work
queued. A process that dies after the ack leaves the row behind for the next start or
another replica to redo.

Envelopes carry no Slack signature, so the row is signed by Baton (bot/web/inbox.py): an HMAC
keyed by the signing secret when one is set, else by the app-level token. The body is the
envelope's payload as JSON, which is what the replay parses and hands to Bolt.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from slack_bolt import App, BoltResponse
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.socket_mode.internals import run_bolt_app, send_response
from slack_bolt.request import BoltRequest
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.app import (
    UNREADABLE,
    _kept,
    _team_of,
    _tell,
    busy_answer,
    genuine,
    malformed,
    parse_slack_body,
    redo,
    saved_keys,
)
from bot.runtime import Baton
from bot.slack.cards import Replies
from bot.slack.clients import team_scope
from bot.web.inbox import NotFromSlack, Received, sign_saved

log = logging.getLogger("baton")

CONTENT_TYPE = "application/json"  # a saved envelope's body: its payload as JSON


class SocketHandler(SocketModeHandler):
    """Bolt's Socket Mode adapter with Baton's receiving rules (see the module's doc)."""

    def __init__(self, app: App, baton: Baton, app_token: str, **kwargs: Any) -> None:
        super().__init__(app, app_token, **kwargs)
        self.baton = baton
        self._replies = Replies(baton.client)
        self._keys = saved_keys(baton.settings)

    def handle(self, client: BaseSocketModeClient,  # type: ignore[override]
               req: SocketModeRequest) -> None:
        start = time.time()
        baton, body = self.baton, req.payload
        problem = malformed(body)
        if problem is not None:
            log.warning("ignored a Socket Mode envelope Slack could not have sent: %s", problem)
            _tell(self._replies, baton, body, UNREADABLE.format(what=problem))
            client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        if baton.overloaded():
            baton.note_shed()
            client.send_socket_mode_response(SocketModeResponse(
                envelope_id=req.envelope_id, payload=busy_answer(baton, body)))
            return
        team = _team_of(body)
        with team_scope(team), baton.hold_deferred() as held:
            try:
                answer = run_bolt_app(self.app, req)
            except Exception:
                log.exception("Bolt could not handle a Socket Mode envelope; acknowledged")
                answer = BoltResponse(status=200, body="")
            except BaseException:
                baton.release(held)  # never leave held work counted but not run
                raise
        keep = self._received(team, body) if _kept(body) else None
        try:
            send_response(client, req, answer, start)  # the ack: Socket Mode's 200
        finally:
            # Saved once acknowledged, before its work is queued, as serve does after its 200.
            baton.release(held, keep=keep)

    def _received(self, team: str | None, payload: dict[str, Any]) -> Received:
        raw = json.dumps(payload, separators=(",", ":"))
        stamp = str(int(time.time()))
        return Received(team, raw, CONTENT_TYPE,
                        sign_saved(self._keys, team_id=team, body=raw, stamp=stamp), stamp)


def socket_replayer(app: App, baton: Baton) -> Any:
    """Redo a saved request in a Socket Mode process: one this or another `baton socket`
    saved (Baton's signature), or one `serve` saved (Slack's, when the signing secret is
    set here too). Handed to Bolt as a Socket Mode request: its signature was checked here."""
    keys = saved_keys(baton.settings)

    def replay(row: Any) -> None:
        if not genuine(row, keys):
            raise NotFromSlack(f"received request {row.id}")
        body = parse_slack_body(str(row.body), row.content_type)
        problem = malformed(body)
        if problem is not None:
            raise NotFromSlack(f"received request {row.id}: {problem}")
        redo(app, baton, row, BoltRequest(mode="socket_mode", body=body), body)

    return replay
