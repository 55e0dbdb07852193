"""What the HTTP edge tells a sender itself, beside the listeners: that a request could not
be read (a signed request Slack could not have sent), or that a form failed on Baton's
side."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bot.slack.cards import Replies
from bot.web.parsing import get, is_channel_id, is_user_id

log = logging.getLogger("baton")

GENERIC_FORM_ERROR = "Something went wrong on Baton's side and nothing was saved. Try again."
UNREADABLE = (":warning: Baton couldn't read that request ({what}), so nothing was saved. "
              "Try again; if it keeps happening, tell your Baton admin.")


def tell(replies: Replies, defer: Callable[..., None], body: dict[str, Any], text: str) -> None:
    """An ephemeral note to whoever sent `body`, when it says who and where to answer; sent
    by `defer` (the worker pool), after Slack has its answer."""
    url = body.get("response_url")
    if not (isinstance(url, str) and url.startswith(("https://", "http://"))):
        return  # nowhere to answer: the warning in the log is all there is
    user = body.get("user_id") or get(body, "user", "id")
    channel = body.get("channel_id") or get(body, "channel", "id")
    known = is_user_id(user)  # else only the response_url, no fallback to a DM

    def tell() -> None:
        try:
            replies.send(user=user if known else "",
                         channel=channel if known and is_channel_id(channel) else None,
                         response_url=url, text=text)
        except Exception:  # noqa: BLE001 - best effort; the warning is logged already
            log.warning("could not tell %s their request was unreadable", user)

    defer(tell)
