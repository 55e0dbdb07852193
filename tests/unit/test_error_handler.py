"""The one @app.error handler (handlers.common.error_handler): what a person is told when a
listener itself fails, in a form or ephemerally."""

from __future__ import annotations

import json
import logging

from bot.domain.records import DomainError
from handlers.common import GENERIC, GENERIC_FORM_ERROR, MalformedPayload, error_handler

LOG = logging.getLogger("test")


def _handle(error: Exception, body: dict) -> tuple[object, list[str]]:
    told: list[str] = []
    on_error = error_handler(lambda _body, text: told.append(text))
    return on_error(error=error, body=body, logger=LOG), told


def test_a_bug_behind_a_command_is_the_generic_words_and_a_200():
    resp, told = _handle(KeyError("user_id"), {"command": "/baton"})
    assert (resp.status, resp.body) == (200, "")
    assert told == [GENERIC]


def test_a_bug_behind_a_form_says_so_in_the_form():
    body = {"type": "view_submission",
            "view": {"state": {"values": {"text": {}, "person": {}}}}}
    resp, told = _handle(KeyError("x"), body)
    assert resp.status == 200 and not told
    assert json.loads(resp.body) == {"response_action": "errors",
                                     "errors": {"person": GENERIC_FORM_ERROR}}


def test_a_typed_error_says_itself_and_a_malformed_payload_is_one_clear_line(caplog):
    _, told = _handle(DomainError("That record is closed."), {"command": "/baton"})
    assert told == [":warning: That record is closed."]
    with caplog.at_level(logging.WARNING, logger="test"):
        _, told = _handle(MalformedPayload("a command request Baton couldn't read"), {})
    assert told == [GENERIC]
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "couldn't read" in caplog.records[0].getMessage()
