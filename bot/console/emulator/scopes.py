"""Which scopes a bot token needs, and which it has: the bot-token scope each Web API method
needs (Slack's method pages, "Required scopes"), and manifest.yml's bot scopes, which the
emulator grants by default. A call without its scope is refused as Slack refuses it
(missing_scope, with needed and provided).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

# The bot-token scope each Web API method needs (Slack's method pages, "Required scopes").
# Several scopes: any one of them will do; a callable picks by the channel's kind.
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.delete": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "conversations.open": ("im:write", "mpim:write", "channels:manage", "groups:write"),
    "users.info": ("users:read",),
    "users.list": ("users:read",),
    "usergroups.list": ("usergroups:read",),
    "usergroups.users.list": ("usergroups:read",),
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
    # No scope: views with a trigger_id or for the user's own Home; auth.test for any token.
    "views.open": (),
    "views.publish": (),
    "auth.test": (),
    # A permalink to a message: Slack's method page lists no required scope.
    "chat.getPermalink": (),
}
# conversations.* read methods: the scope depends on the kind of conversation.
_CONVERSATION_SCOPES: dict[str, dict[str, str]] = {
    "conversations.info": {"public": "channels:read", "private": "groups:read",
                           "im": "im:read"},
    "conversations.history": {"public": "channels:history", "private": "groups:history",
                              "im": "im:history"},
    "conversations.replies": {"public": "channels:history", "private": "groups:history",
                              "im": "im:history"},
}

MANIFEST = Path(__file__).resolve().parents[3] / "manifest.yml"


def manifest_bot_scopes(path: Any = MANIFEST) -> frozenset[str] | None:
    """The bot scopes manifest.yml asks for (oauth_config.scopes.bot), read without a YAML
    library (the emulator is stdlib only); None when there is no manifest beside the code."""
    try:
        lines = open(path, encoding="utf-8").read().splitlines()  # noqa: SIM115
    except OSError:
        return None
    scopes: set[str] = set()
    path_stack: list[tuple[int, str]] = []
    for raw in lines:
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        text_ = line.strip()
        while path_stack and path_stack[-1][0] >= indent:
            path_stack.pop()
        keys = [k for _, k in path_stack]
        if text_.startswith("- "):
            if keys[-3:] == ["oauth_config", "scopes", "bot"]:
                scopes.add(text_[2:].strip().strip("\"'"))
            continue
        if text_.endswith(":"):
            path_stack.append((indent, text_[:-1].strip()))
    return frozenset(scopes)


def missing_scope(granted: frozenset[str], method: str,
                  channel_kind: Callable[[], str]) -> dict[str, Any] | None:
    """missing_scope, shaped as Slack answers it (needed, provided), or None.
    ``channel_kind`` says what kind of conversation a conversations.* read is for."""
    needed: tuple[str, ...] = METHOD_SCOPES.get(method, ())
    by_kind = _CONVERSATION_SCOPES.get(method)
    if by_kind is not None:
        needed = (by_kind[channel_kind()],)
    if not needed or any(scope in granted for scope in needed):
        return None
    return {"ok": False, "error": "missing_scope", "needed": needed[0],
            "provided": ",".join(sorted(granted))}
