"""Quoting what someone typed back to them in an error message.

Error messages are Slack mrkdwn (they carry `code` and *bold*), and they quote user text:
“whenever they can” is not a time. Quoted text is clipped first and then has &, < and >
escaped, so a quote of `<!channel>` or `<@U0123ABC>` can never become a mention or a link.
A modal's field errors are plain text: handlers.common.field_error undoes the escape there.
"""

from __future__ import annotations


def quoted(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"“{escaped(text)}”"


def got(text: str | None, limit: int = 40) -> str:
    """" (got “…”)" after an error, quoting what was typed; nothing when nothing was (an
    empty quote tells no one anything)."""
    if not text or not text.strip():
        return ""
    return f" (got {quoted(text, limit)})"


def named(text: str, limit: int) -> str:
    """A name as typed, in quotes, cut to `limit` characters and escaped; its spacing kept
    (quoted() tidies spacing; a name someone typed is echoed as typed)."""
    cut = text if len(text) <= limit else text[: limit - 1] + "…"
    return f"“{escaped(cut)}”"


def escaped(text: str | None) -> str:
    """Text named in an error message (a partner's name), with &, < and > escaped."""
    if not text:
        return ""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(user_id: str | None) -> str:
    """A person named in an error message (or an audit note), as Slack shows a user ID."""
    return f"<@{user_id}>"
