"""Finding mrkdwn in what Baton sends Slack, and any markup in it Baton did not make.

Slack turns `<…>` in mrkdwn (a message's text, mrkdwn text objects) into mentions, links and
broadcasts. Baton escapes every free text, so the only `<…>` it may send are its own: a
mention of a user it stores as a user, its channel, a date token, and `<!here>` opening a
page to a channel with nobody named. Anything else, or a stray `<` or `>`, came from
someone's text. Plain-text objects (headers, buttons, inputs) are not mrkdwn: Slack shows
them as typed, so they are not scanned.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

TOKEN = re.compile(r"<([^<>]*)>")
DATE = re.compile(r"!date\^\d+\^[^|<>]*\|\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC")
PAGE = re.compile(r"<!here> :rotating_light: Escalation tier \d")
# A link Baton makes to a record's card (the duplicate warning): Slack's permalink for a
# message in a channel Baton knows, labelled with the record's reference.
CARD_LINK = re.compile(r"https://[\w.-]+/archives/(C[A-Z0-9]+)/p\d+\|[HD]-\d+")


def _decoded(value: Any) -> Any:
    if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def mrkdwn_in(node: Any) -> Iterator[str]:
    """Every mrkdwn text object's text in a block, list of blocks or view."""
    node = _decoded(node)
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
            yield node["text"]
        for value in node.values():
            if isinstance(value, (dict, list)):
                yield from mrkdwn_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from mrkdwn_in(value)


def mrkdwn_of_call(params: dict[str, Any]) -> Iterator[str]:
    """What Slack reads as mrkdwn in one Web API call or response_url post."""
    for key in ("text", "initial_comment"):
        if isinstance(params.get(key), str):
            yield params[key]
    for key in ("blocks", "view", "attachments"):
        if key in params:
            yield from mrkdwn_in(params[key])


def foreign_markup(text: str, *, users: Iterable[str], channels: Iterable[str]) -> list[str]:
    """The `<…>` tokens (and stray angle brackets) in `text` that Baton did not make."""
    users, channels = set(users), set(channels)
    bad = []
    for m in TOKEN.finditer(text):
        token = m.group(1)
        if token.startswith("@") and token[1:] in users:
            continue
        if token.startswith("#") and token[1:] in channels:
            continue
        if DATE.fullmatch(token):
            continue
        link = CARD_LINK.fullmatch(token)
        if link and link.group(1) in channels:
            continue
        if token == "!here" and m.start() == 0 and PAGE.match(text):
            continue
        bad.append(m.group(0))
    rest = TOKEN.sub("", text)
    if "<" in rest or ">" in rest:
        bad.append(f"stray bracket in {rest[:80]!r}")
    return bad
