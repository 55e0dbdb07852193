"""Load shedding: when more work is waiting than Baton's workers can do in a few seconds
(BATON_MAX_BACKLOG), a request is turned away at once, in Slack's own ways, instead of
being answered 200 with work that would wait minutes (and be lost if the process stopped
meanwhile). Nothing of it is written."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from bot.domain.slack_ids import FIELD_ERROR_LIMIT
from bot.web.parsing import get
from bot.web.workers import Workers

BUSY = (":hourglass: Baton is very busy right now and did not take this, so nothing was "
        "saved. Try again in a minute.")
SHED_HEADER = ("X-Baton-Shed", "1")


def shed(workers: Workers, body: dict[str, Any],
         start_response: Callable[..., Any]) -> list[bytes]:
    """Turn an HTTP request away (see the module's doc): 200, with busy_answer."""
    workers.note_shed()
    headers = [("Content-Type", "application/json"), SHED_HEADER]
    answer = busy_answer(workers, body)
    data = json.dumps(answer).encode() if answer else b""
    start_response("200 OK", [*headers, ("Content-Length", str(len(data)))])
    return [data]


def busy_answer(workers: Workers, body: dict[str, Any]) -> dict[str, Any] | None:
    """What Slack is answered with for a request turned away (see shed); a button's
    presser is told through its response URL instead."""
    answer: dict[str, Any] | None = None
    if "command" in body:
        answer = {"response_type": "ephemeral", "text": BUSY}
    elif body.get("type") == "view_submission":
        inputs = get(body, "view", "state", "values")
        if isinstance(inputs, dict) and inputs:
            field = BUSY.removeprefix(":hourglass: ")[:FIELD_ERROR_LIMIT]  # plain text
            answer = {"response_action": "errors", "errors": {min(inputs): field}}
    elif body.get("type") == "block_actions":
        url = body.get("response_url")
        if isinstance(url, str) and url.startswith(("https://", "http://")):
            workers.tell_busy(url, BUSY)  # a button has no answer of its own: a small side pool
    return answer
