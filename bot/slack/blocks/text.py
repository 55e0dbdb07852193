"""Text for Slack: Block Kit's length limits, and free text made safe and short for mrkdwn
(escape, fit, chunks) or plain text (clip); Slack's date token and user mentions. Every
Block Kit builder in bot/slack/blocks/ writes its text through these."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.domain import slack_ids
from bot.domain.times import format_duration, to_the_second
from bot.domain.words import plural as plural

# Slack's Block Kit limits, in characters. Anything longer is refused by Slack outright
# (invalid_blocks), so every free text passes through fit() or clip() on its way in.
SECTION_LIMIT = 3000  # a section's text, and a context element's
FIELD_LIMIT = 2000  # each of a section's fields (at most 10)
HEADER_LIMIT = 150  # a header block's plain text
BUTTON_TEXT_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
OPTION_TEXT_LIMIT = 75  # a select option's text
MODAL_TITLE_LIMIT = 24  # a modal's title, submit and close labels
MESSAGE_BLOCKS = 50  # blocks in a message
VIEW_BLOCKS = 100  # blocks in a modal or the App Home
MESSAGE_TEXT_LIMIT = 40_000  # a message's text (msg_too_long beyond)
REPLY_TEXT_LIMIT = 4000  # what Baton lets one ephemeral reply's text run to


def escape(text: str | None) -> str:
    """Free text into mrkdwn: nobody's text can become a mention, a link or <!channel>."""
    if not text:
        return ""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """Plain text (headers, buttons, modal errors) cut to `limit` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fit(text: str, limit: int, *, ref: str | None = None) -> str:
    """mrkdwn shortened to Slack's `limit`, the one way every rendering module does it.

    Text that fits is returned as it is. Otherwise it is cut at a point that splits neither
    an escape (`&lt;`) nor one of Baton's own tokens (`<@U…>`, `<!date^…>`), and ends with a
    pointer to the full text: `/baton show REF` when there is a record, else an ellipsis."""
    if len(text) <= limit:
        return text
    tail = f"… _(cut short: `/baton show {ref}` has it all)_" if ref else "…"
    if len(tail) >= limit:
        tail = "…"
    cut = text[: limit - len(tail)]
    amp = cut.rfind("&", max(0, len(cut) - 5))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]  # an entity cut in half would show as "&am"
    lt = cut.rfind("<")
    if lt != -1 and ">" not in cut[lt:]:
        cut = cut[:lt]  # user text is escaped, so a raw "<" opens one of Baton's tokens
    return cut.rstrip() + tail


def chunks(text: str, limit: int) -> list[str]:
    """mrkdwn split into pieces of at most `limit` characters, at line ends where it can be
    and never inside an escape or a token, for text that must be shown whole."""
    out: list[str] = []
    while len(text) > limit:
        piece = text[:limit]
        newline = piece.rfind("\n")
        if newline > limit // 2:
            piece = piece[: newline + 1]
        else:
            amp = piece.rfind("&", max(0, len(piece) - 5))
            if amp > 0 and ";" not in piece[amp:]:
                piece = piece[:amp]
            lt = piece.rfind("<")
            if lt > 0 and ">" not in piece[lt:]:
                piece = piece[:lt]
        out.append(piece)
        text = text[len(piece):]
    if text:
        out.append(text)
    return out


def channel(channel_id: str | None) -> str:
    """A channel as Slack shows it to a reader (<#C…>); anything that is not a channel ID
    is shown, escaped, as text."""
    if not channel_id:
        return "—"
    if channel_id.startswith("D") and slack_ids.CHANNEL_ID.fullmatch(channel_id):
        return "a direct message"
    return (f"<#{channel_id}>" if slack_ids.POSTING_CHANNEL_ID.fullmatch(channel_id)
            else escape(channel_id))


def slack_date(when: datetime, fmt: str = "{date_short_pretty} at {time}") -> str:
    """Slack's date token: every reader sees it in their own time zone."""
    fallback = when.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(when.timestamp())}^{fmt}|{fallback}>"


_USER_ID = slack_ids.MENTIONABLE_ID  # people and bots: what a mention can show


def user(user_id: str | None) -> str:
    """A mention of a Slack user ID; anything that is not one is shown, escaped, as text."""
    if user_id == "baton":  # what the time engine did by itself
        return "Baton"
    if not user_id:
        return "—"
    return f"<@{user_id}>" if _USER_ID.fullmatch(user_id) else escape(user_id)


def late_by(since: datetime, now: datetime) -> str:
    """How late, as a page says it: "by *1h 5m*", or "*just now*" when it fell due this
    second (never "by 0s")."""
    late = max(now - since, timedelta(0))
    if late < timedelta(seconds=1):
        return "*just now*"
    return f"by *{format_duration(to_the_second(late))}*"
