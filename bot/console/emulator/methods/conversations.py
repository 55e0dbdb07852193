"""conversations.open (DMs), conversations.info, conversations.history (bounds, metadata,
cursors) and conversations.replies."""

from __future__ import annotations

import base64
from typing import Any

from bot.console.emulator.protocol import Args, error
from bot.console.emulator.state import Workspace


class ConversationMethods(Workspace):
    def _conversations_open(self, a: Args) -> dict[str, Any]:
        existing = a.str("channel")
        if existing:
            if existing not in self._dm_members:
                return error("channel_not_found")
            return {"ok": True, "no_op": True, "already_open": True, "channel": {"id": existing}}
        users = a.list("users")
        if not users:
            return error("users_list_not_supplied")
        if "unknown_users" not in self.lenient and any(u not in self._users for u in users):
            return error("user_not_found")
        known = len(self._dm_members)
        dm_id = self._dm_for(users)
        already = len(self._dm_members) == known  # _dm_for adds only unseen user sets
        return {"ok": True, "no_op": already, "already_open": already, "channel": {"id": dm_id}}

    def _conversations_info(self, a: Args) -> dict[str, Any]:
        channel = a.str("channel")
        if not channel:
            return error("channel_not_found")
        refusal = self._channel_refusal(channel)
        if refusal and refusal != "not_in_channel":  # a public channel is described anyway
            return error(refusal)
        channel = self._resolve_channel(channel)
        registered = self._channels.get(channel, {})
        is_im = channel.startswith("D")
        is_private = bool(registered.get("is_private")) or channel.startswith("G")
        name = registered.get("name") or channel.lower()
        obj: dict[str, Any] = {
            "id": channel,
            "name": name,
            "name_normalized": name,
            "is_channel": not is_im and not is_private,
            "is_group": is_private and not is_im,
            "is_im": is_im,
            "is_mpim": False,
            "is_private": is_private or is_im,
            "is_archived": bool(registered.get("is_archived")),
            "is_general": False,
            "is_member": bool(registered.get("is_member", True)),
            "is_ext_shared": False,
            "is_shared": False,
            "context_team_id": self.team_id,
            "created": 1700000000,
            "creator": self.bot_user_id,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
        }
        if is_im:
            members = self._dm_members.get(channel, [])
            obj["user"] = members[0] if members else ""
            obj["name"] = obj["name_normalized"] = obj["user"] or name
        return {"ok": True, "channel": obj}

    def _conversations_history(self, a: Args) -> dict[str, Any]:
        channel = a.str("channel")
        if not channel:
            return error("channel_not_found")
        refusal = self._channel_refusal(channel)
        if refusal:
            return error(refusal)
        # Slack's bounds: after `oldest` and before `latest` (both ends too with
        # `inclusive`); messages carry their metadata only with `include_all_metadata`.
        bounds = []
        for name in ("oldest", "latest"):
            value = a.str(name)
            try:
                bounds.append(float(value) if value else None)
            except ValueError:
                return error(f"invalid_ts_{name}")
        oldest, latest = bounds
        inclusive = a.bool("inclusive")

        def within(ts: float) -> bool:
            after = oldest is None or (ts >= oldest if inclusive else ts > oldest)
            return after and (latest is None or (ts <= latest if inclusive else ts < latest))

        msgs = [self._wire_message(m) for m in self._top.get(self._resolve_channel(channel), [])
                if within(float(m["ts"]))]
        msgs.reverse()  # Slack returns newest first
        if not a.bool("include_all_metadata"):
            for m in msgs:
                m.pop("metadata", None)
        limit = int(a.str("limit") or 100)
        cursor = a.str("cursor") or ""
        try:
            start = int(base64.b64decode(cursor).decode().removeprefix("next:")) if cursor else 0
        except ValueError:
            return error("invalid_cursor")
        more = len(msgs) > start + limit
        return {
            "ok": True,
            "messages": msgs[start:start + limit],
            "has_more": more,
            "pin_count": 0,
            "response_metadata": {"next_cursor": base64.b64encode(
                f"next:{start + limit}".encode()).decode() if more else ""},
        }

    def _conversations_replies(self, a: Args) -> dict[str, Any]:
        channel = a.str("channel")
        if not channel:
            return error("channel_not_found")
        refusal = self._channel_refusal(channel)
        if refusal:
            return error(refusal)
        channel = self._resolve_channel(channel)
        ts = a.str("ts") or ""
        parent = self._by_ts.get((channel, ts))
        replies = self._replies.get((channel, ts), [])
        if parent is None and not replies:
            return error("thread_not_found")
        msgs = ([parent] if parent is not None else []) + replies
        return {
            "ok": True,
            "messages": [self._wire_message(m) for m in msgs],
            "has_more": False,
            "response_metadata": {"next_cursor": ""},
        }
