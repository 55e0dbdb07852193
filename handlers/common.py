"""Shared by the listeners: turning typed errors into the one ephemeral message a person sees."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bot.cards import Replies
from bot.domain.drafts import DraftErrors
from bot.domain.records import DomainError

log = logging.getLogger("baton.handlers")

GENERIC = (":warning: Something went wrong on Baton's side and nothing was saved. "
           "Try again; if it keeps happening, tell your Baton admin.")


def unescape(text: str) -> str:
    """Slack escapes &, < and > in command text; store what the person typed."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def error_text(exc: DomainError, *, what: str | None = None) -> str:
    head = f":warning: Couldn't {what}." if what else ":warning:"
    if isinstance(exc, DraftErrors):
        lines = [f"• {msg}" for msg in exc.errors.values()]
        return "\n".join([head, *lines, "Nothing was saved. `/baton help` lists every key."])
    if what:
        return f"{head} {exc}"
    return f":warning: {exc}"


def guarded(replies: Replies, *, user: str, channel: str | None, response_url: str | None,
            what: str | None = None) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Wrap deferred work: a DomainError becomes an ephemeral message, anything else is logged
    and the person is told nothing was saved (the transaction rolled back)."""

    def wrap(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except DomainError as exc:
                replies.send(user=user, channel=channel, response_url=response_url,
                             text=error_text(exc, what=what))
            except Exception:
                log.exception("%s failed", what or getattr(fn, "__name__", "work"))
                try:
                    replies.send(user=user, channel=channel, response_url=response_url,
                                 text=GENERIC)
                except Exception:
                    log.exception("could not tell %s about the failure", user)

        run.__name__ = getattr(fn, "__name__", "run")
        return run

    return wrap


def state_values(view: dict[str, Any]) -> dict[str, str]:
    """Flatten view.state.values into {block_id: value} whatever the element type."""
    out: dict[str, str] = {}
    for block_id, actions in (view.get("state") or {}).get("values", {}).items():
        for element in actions.values():
            kind = element.get("type")
            if kind == "users_select":
                value = element.get("selected_user")
            elif kind in ("static_select", "radio_buttons"):
                value = (element.get("selected_option") or {}).get("value")
            elif kind == "datepicker":
                value = element.get("selected_date")
            elif kind == "datetimepicker":
                value = element.get("selected_date_time")
            else:
                value = element.get("value")
            out[block_id] = value or ""
    return out
