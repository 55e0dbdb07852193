"""Shared by the listeners: turning typed errors into the one ephemeral message a person sees."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import ActionsBlock, ButtonElement, MarkdownTextObject, SectionBlock
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from bot.domain.drafts import DraftErrors
from bot.domain.records import DomainError
from bot.services.records import CHANGED_MEANWHILE
from bot.slack.blocks.records import clip
from bot.slack.cards import Replies
from store.db import lost_a_race

log = logging.getLogger("baton.handlers")

GENERIC = (":warning: Something went wrong on Baton's side and nothing was saved. "
           "Try again; if it keeps happening, tell your Baton admin.")
# The same words as bot.services.TryAgain, for what fails outside a RecordService transaction.
DATABASE_DOWN = "The database is not answering right now; nothing was saved. Try again in a minute."


def database_unreachable(exc: BaseException) -> bool:
    """The database is down or unreachable (refused, dropped, timed out, no pooled
    connection free), as opposed to a bug: the transaction rolled back and trying again
    later will do."""
    if lost_a_race(exc):
        return False  # a clash with another writer: said as such (see guarded)
    if isinstance(exc, (OperationalError, InterfaceError, PoolTimeout)):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


# What typed text may not carry into the database: C0 and C1 control characters other than
# tab and line breaks (PostgreSQL refuses NUL outright; ESC would drive a terminal that shows
# the console or a CSV), and the bidirectional embedding, override and isolate controls that
# make an audit line display in another order than it was written.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SLACK_ID = re.compile(r"[UW][A-Z0-9]{2,31}")


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


def field_error(message: str, limit: int = 150) -> str:
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


def guarded(replies: Replies, *, user: str, channel: str | None, response_url: str | None,
            what: str | None = None) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Wrap deferred work: a DomainError becomes an ephemeral message, anything else is logged
    and the person is told nothing was saved (the transaction rolled back): that the database
    is unreachable and to try again in a minute, when it is."""

    def wrap(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except DomainError as exc:
                replies.send(user=user, channel=channel, response_url=response_url,
                             text=error_text(exc, what=what))
            except Exception as exc:
                down = database_unreachable(exc)
                raced = lost_a_race(exc)  # another writer won: no outage, no bug
                lead = f":warning: Couldn't {what}. " if what else ":warning: "
                if raced:
                    log.warning("%s lost a race with another writer: %s",
                                what or getattr(fn, "__name__", "work"), _first_line(exc))
                    text = lead + CHANGED_MEANWHILE
                elif down:  # an outage, not a bug: one line, no traceback per command
                    log.error("%s failed: the database is unreachable (%s)",
                              what or getattr(fn, "__name__", "work"), _first_line(exc))
                    text = lead + DATABASE_DOWN
                else:
                    log.exception("%s failed", what or getattr(fn, "__name__", "work"))
                    text = GENERIC
                try:
                    replies.send(user=user, channel=channel, response_url=response_url,
                                 text=text)
                except Exception:
                    log.exception("could not tell %s about the failure", user)

        run.__name__ = getattr(fn, "__name__", "run")
        return run

    return wrap


def state_values(view: dict[str, Any]) -> dict[str, str]:
    """Flatten view.state.values into {block_id: value} whatever the element type."""
    out: dict[str, str] = {}
    state = view.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    for block_id, actions in (values.items() if isinstance(values, dict) else ()):
        for element in (actions.values() if isinstance(actions, dict) else ()):
            if not isinstance(element, dict):
                continue  # not what Slack sends: nothing chosen
            kind = element.get("type")
            if kind == "users_select":
                value = element.get("selected_user")
                if not (isinstance(value, str) and _SLACK_ID.fullmatch(value)):
                    value = None  # Slack sends a user ID; anything else chose nobody
            elif kind in ("static_select", "radio_buttons"):
                option = element.get("selected_option")
                value = option.get("value") if isinstance(option, dict) else None
            elif kind == "datepicker":
                value = element.get("selected_date")
            elif kind == "datetimepicker":
                value = element.get("selected_date_time")
            else:
                value = element.get("value")
            out[block_id] = clean_text(value) if isinstance(value, str) else ""
    return out


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
