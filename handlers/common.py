"""Shared by the listeners: turning typed errors into the one message a person sees (for
deferred work, `guarded`; for what fails in a listener itself, the @app.error handler
`error_handler`: both say it through `failure_text`), cleaning typed text, opening forms."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import BoltResponse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import ActionsBlock, ButtonElement, MarkdownTextObject, SectionBlock

from bot.domain.drafts import DraftErrors
from bot.domain.records import DomainError
from bot.domain.slack_ids import FIELD_ERROR_LIMIT
from bot.services.failures import database_unreachable, lost_a_race
from bot.services.records import CHANGED_MEANWHILE, DATABASE_DOWN
from bot.slack.blocks.records import clip
from bot.slack.cards import Replies
from bot.web.answers import GENERIC_FORM_ERROR

log = logging.getLogger("baton.handlers")

GENERIC = (":warning: Something went wrong on Baton's side and nothing was saved. "
           "Try again; if it keeps happening, tell your Baton admin.")
# DATABASE_DOWN: the same words as bot.services.records.TryAgain, for what fails outside a
# RecordService transaction (imported from there: one wording).


# with_mentions ("@jo" typed as text → <@U…>) is the grammar's: bot/domain/grammar.py.


class MalformedPayload(ValueError):
    """A request that lacks what every request of its kind from Slack carries
    (handlers/context.py reads each request once). The edge (bot/web/parsing.py's malformed) turns
    such requests away before Bolt sees them; this is the one clear error for one that got
    past it."""


# What typed text may not carry into the database: C0 and C1 control characters other than
# tab and line breaks (PostgreSQL refuses NUL outright; ESC would drive a terminal that shows
# the console or a CSV), and the bidirectional embedding, override and isolate controls that
# make an audit line display in another order than it was written.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Free text as it may be stored: unsafe controls dropped, a lone surrogate half (which
    no UTF-8 database can store) replaced by U+FFFD."""
    return _LONE_SURROGATE.sub("\ufffd", _UNSAFE.sub("", text))


def unescape(text: str) -> str:
    """Slack escapes &, < and > in command text; store what the person typed (cleaned)."""
    return clean_text(text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))


MAX_ROW_ID = 2**31 - 1  # records.id and the like are INTEGER on PostgreSQL


def row_id(value: Any) -> int | None:
    """A database row id carried by a button or a form, or None: JSON's true is no id (bool is
    an int in Python), and a number past INTEGER would fail in the database itself."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 < value <= MAX_ROW_ID else None


def field_error(message: str, limit: int = FIELD_ERROR_LIMIT) -> str:
    """A modal's field error is plain text: the error's mrkdwn escapes and `code` marks are
    undone, and it is cut to what Slack shows."""
    plain = message.replace("`", "").replace("&lt;", "<").replace("&gt;", ">")
    return clip(plain.replace("&amp;", "&"), limit)


def error_text(exc: DomainError, *, what: str | None = None) -> str:
    head = f":warning: Couldn't {what}." if what else ":warning:"
    if isinstance(exc, DraftErrors):
        lines = [f"• {msg}" for msg in exc.errors.values()]
        return "\n".join([head, *lines, "Nothing was saved. `/baton help` lists every key."])
    if what:
        return f"{head} {exc}"
    return f":warning: {exc}"


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def failure_text(exc: BaseException, *, what: str | None = None, name: str = "work",
                 logger: logging.Logger = log) -> str:
    """What a person is told when `exc` stopped their request (logged here, once): a
    DomainError says itself; a clash with another writer, an outage and a bug each get
    their own words. `what` completes "Couldn't …"; `name` is the work, for the log."""
    if isinstance(exc, DomainError):
        return error_text(exc, what=what)
    lead = f":warning: Couldn't {what}. " if what else ":warning: "
    if lost_a_race(exc):  # another writer won: no outage, no bug
        logger.warning("%s lost a race with another writer: %s", what or name, _first_line(exc))
        return lead + CHANGED_MEANWHILE
    if database_unreachable(exc):  # an outage, not a bug: one line, no traceback per command
        logger.error("%s failed: the database is unreachable (%s)", what or name,
                     _first_line(exc))
        return lead + DATABASE_DOWN
    logger.exception("%s failed", what or name, exc_info=exc)
    return GENERIC


def guarded(replies: Replies, *, user: str, channel: str | None, response_url: str | None,
            what: str | None = None) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Wrap deferred work (Bolt's error handler never sees it: it runs on Baton's workers
    after the ack): what stops it is told the person ephemerally, in failure_text's words (the
    transaction rolled back: nothing was saved)."""

    def wrap(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except Exception as exc:  # noqa: BLE001 - logged in failure_text
                text = failure_text(exc, what=what, name=getattr(fn, "__name__", "work"))
                try:
                    replies.send(user=user, channel=channel, response_url=response_url,
                                 text=text)
                except Exception:
                    log.exception("could not tell %s about the failure", user)

        run.__name__ = getattr(fn, "__name__", "run")
        return run

    return wrap


def error_handler(tell: Callable[[dict[str, Any], str], None]) -> Callable[..., BoltResponse]:
    """The app's one @app.error handler, for what fails in a listener (or the middleware)
    itself, before or without deferring: logged, and Slack answered 200 all the same (a 500
    shows people only "dispatch_failed"). A form's submitter is told in the form; anyone
    else through `tell(body, text)` (bot/web/answers.py: ephemerally, where the request says how),
    in failure_text's words."""

    def on_error(error: Exception, body: dict[str, Any], logger: logging.Logger) -> BoltResponse:
        body = body if isinstance(body, dict) else {}
        if isinstance(error, MalformedPayload):
            logger.warning("ignored a request Baton couldn't read: %s", error)
            text = GENERIC
        else:
            text = failure_text(error, name=f"a listener ({type(error).__name__})",
                                logger=logger)
        view = body.get("view") if body.get("type") == "view_submission" else None
        if isinstance(view, dict):
            state = view.get("state")
            values = state.get("values") if isinstance(state, dict) else None
            inputs = values if isinstance(values, dict) else {}
            if inputs:
                form_text = (field_error(str(error)) if isinstance(error, DomainError)
                             else GENERIC_FORM_ERROR)  # in the form: no outage wording
                return BoltResponse(status=200, headers={"content-type": "application/json"},
                                    body=json.dumps({"response_action": "errors", "errors": {
                                        min(inputs): form_text}}))
        tell(body, text)
        return BoltResponse(status=200, body="")

    return on_error


# A trigger_id opens one view, within 3 seconds of the command or click that brought it.
TRIGGER_GONE = ("expired_trigger_id", "exchanged_trigger_id")
BUTTON_VALUE_LIMIT = 2000  # Slack refuses a longer button value (the whole message)
FORM_LATE = (":hourglass: Slack gives Baton 3 seconds to open a form, and they ran out before "
             "it could (a slow moment, or a request redone after a restart). Nothing was saved "
             "yet. Press *Open the form* to carry on{kept}.")


def open_form(client: WebClient, replies: Replies, *, trigger_id: str, view: dict[str, Any],
              user: str, channel: str | None, response_url: str | None,
              again: tuple[str, str], kept: str = "") -> None:
    """views.open. When Slack refuses the trigger_id because it expired or was already used,
    the person gets an ephemeral with an "Open the form" button instead: `again` is the
    button's action_id and value, whose listener opens the form with the click's own, fresh
    trigger_id. `kept` ends the sentence ("with what you typed")."""
    try:
        client.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error not in TRIGGER_GONE:
            raise
        log.info("views.open refused (%s); offered %s a button to open the form", error, user)
        action_id, value = again
        text = FORM_LATE.format(kept=kept)
        replies.send(user=user, channel=channel, response_url=response_url, text=text,
                     block_list=[SectionBlock(text=MarkdownTextObject(text=text)),
                                 ActionsBlock(block_id="open_form_again", elements=[
                                     ButtonElement(text="Open the form", action_id=action_id,
                                                   value=value, style="primary")])])
