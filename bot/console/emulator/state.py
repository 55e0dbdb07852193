"""The emulated workspace: its users, user groups, channels (and Baton's membership of
them), DMs, messages and threads, ephemeral messages, uploaded files, views and Home tabs,
and the trigger_ids and response_urls it has issued. One Condition guards all of it (and
every other part of the emulator's state); wait_for() sleeps on it instead of polling.

Here too are the workspace's answers to "does this exist for Baton?" (a channel it is not
in, a trigger_id it never issued), which the method families (bot/console/emulator/methods/)
turn into Slack's refusals, and the wire shape of a stored message.
"""

from __future__ import annotations

import copy
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

# Where emulated permalinks and the workspace URL point; never resolvable, on purpose.
EMULATED_HOST = "https://emulated.slack"

TRIGGER_LIFETIME = 3.0  # seconds: a trigger_id opens one view within 3 s of its action
RESPONSE_URL_LIFETIME = 30 * 60.0  # seconds
RESPONSE_URL_USES = 5


class Workspace:
    """The workspace's state and the rules of what exists in it; the base of every part of
    the SlackEmulator (bot/console/emulator/__init__.py)."""

    def __init__(self, *, team_id: str, bot_user_id: str, bot_id: str,
                 lenient: frozenset[str], scopes: frozenset[str] | None) -> None:
        self.lenient = lenient
        # No manifest beside the code (an installed package): nothing to check against.
        self.scopes: frozenset[str] | None = scopes
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = "A0BATON"
        # One Condition guards all state; wait_for() sleeps on it instead of polling.
        self._cond = threading.Condition(threading.RLock())
        self._users: dict[str, dict[str, Any]] = {}
        self._usergroups: dict[str, dict[str, Any]] = {}
        self._channels: dict[str, dict[str, Any]] = {}
        self._dm_members: dict[str, list[str]] = {}
        self._top: dict[str, list[dict[str, Any]]] = {}
        self._replies: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._by_ts: dict[tuple[str, str], dict[str, Any]] = {}
        self._ephemerals: dict[str, list[dict[str, Any]]] = {}
        self._files: dict[str, dict[str, Any]] = {}
        self._external_ids: dict[str, str] = {}
        self._home_view_ids: dict[str, str] = {}
        self._last_ts_us = 0
        self._upload_root = ""  # root URL captured at start(), for URLs minted mid-request
        self._seq = 0
        # This emulator's own prefix for the IDs it mints (views, files, DMs): like Slack's,
        # never the same twice, so a console reusing its database never meets an old one.
        self._mint = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(4))
        self.views: dict[str, dict[str, Any]] = {}
        self.home_views: dict[str, dict[str, Any]] = {}
        self._triggers: dict[str, dict[str, Any]] = {}  # issued trigger_id -> issued_at, used
        self._response_urls: dict[str, dict[str, Any]] = {}  # key -> issued_at, uses
        self.monotonic: Callable[[], float] = time.monotonic  # trigger, url and rate clocks
        self._users[bot_user_id] = {
            "id": bot_user_id,
            "name": "baton",
            "real_name": "Baton",
            "tz": "America/New_York",
            "is_admin": False,
            "is_bot": True,
        }

    # ------------------------------------------------------------------ seeding

    def add_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        tz: str = "America/New_York",
        is_admin: bool = False,
    ) -> None:
        ZoneInfo(tz)  # fail at seeding time, not inside a request, on a bad tz name
        with self._cond:
            self._users[user_id] = {
                "id": user_id,
                "name": name or user_id.lower(),
                "real_name": name or user_id,
                "tz": tz,
                "is_admin": is_admin,
                "is_bot": False,
            }

    def add_usergroup(self, group_id: str, handle: str, users: list[str]) -> None:
        with self._cond:
            self._usergroups[group_id] = {"handle": handle, "users": list(users)}

    def add_channel(self, channel_id: str, name: str, *, is_private: bool = False,
                    is_member: bool = True, is_archived: bool = False) -> None:
        """A channel that exists in the workspace. Baton is a member unless ``is_member`` is
        False (a public channel then still takes chat.postMessage with chat:write.public;
        a private one is invisible to it, as in Slack: channel_not_found)."""
        with self._cond:
            self._channels[channel_id] = {"name": name, "is_private": is_private,
                                          "is_member": is_member, "is_archived": is_archived}

    def set_member(self, channel_id: str, is_member: bool) -> None:
        """Baton invited to (True) or removed from (False) a channel."""
        with self._cond:
            self._channels[channel_id]["is_member"] = is_member

    def archive_channel(self, channel_id: str) -> None:
        with self._cond:
            self._channels[channel_id]["is_archived"] = True

    def follow_clock(self, now: Callable[[], datetime]) -> None:
        """Slack's time for trigger and response_url lifetimes and the posting rate: real
        time passing, plus however far ``now`` (the test's injected clock) has been moved.
        One world: when a test moves Baton's clock an hour on, an hour passes for Slack."""
        start = now()

        def monotonic() -> float:
            return time.monotonic() + (now() - start).total_seconds()

        with self._cond:
            self.monotonic = monotonic

    def issue_trigger(self, trigger_id: str | None = None, *, age: float = 0.0) -> str:
        """A trigger_id as Slack puts in a command or click: it opens one view, within 3 s.
        ``age`` issues one that many seconds old (a request redone late), without waiting.
        ``trigger_id`` names it; naming one already issued (a retry of the same request)
        keeps it as it was."""
        with self._cond:
            if trigger_id is None:
                # Shaped like Slack's ("1234567890.123456.abcdef…") and unique across
                # sessions: a trigger_id is a record's request key, so a console reusing
                # its database must never issue one an earlier session did.
                self._seq += 1
                trigger_id = f"{int(time.time())}.{self._seq:06d}.{secrets.token_hex(16)}"
            self._triggers.setdefault(trigger_id, {"at": self.monotonic() - age,
                                                   "used": False})
            return trigger_id

    def inject_message(
        self, channel: str, *, user: str, text: str, thread_ts: str | None = None
    ) -> dict[str, Any]:
        """Record a message a human posted (console input), so the bot can thread under it."""
        with self._cond:
            channel = self._resolve_channel(channel)
            msg = self._store_message(
                channel, text=text, blocks=[], thread_ts=thread_ts, user=user, extra={}
            )
            msg.pop("bot_id", None)
            msg.pop("app_id", None)
            return copy.deepcopy(msg)

    def seed_message(self, channel: str, ts: str, *, text: str) -> dict[str, Any]:
        """Record a message Baton posted before this emulator started (an earlier console
        session on the same database), at its own ``ts``, so Baton can update it as it
        could in Slack, where it still exists. Only here: every other message is one posted
        through the API, and an unknown ts is still refused (message_not_found). A channel
        that does not exist for Baton, or a ts already taken, is a ValueError."""
        with self._cond:
            channel = self._resolve_channel(channel)
            refusal = self._channel_refusal(channel)
            if refusal:
                raise ValueError(f"cannot seed a message in {channel}: {refusal}")
            try:
                seconds, _, micros = ts.partition(".")
                at_us = int(seconds) * 1_000_000 + int(micros.ljust(6, "0")[:6] or "0")
            except ValueError:
                raise ValueError(f"not a message ts: {ts!r}") from None
            if (channel, ts) in self._by_ts:
                raise ValueError(f"a message at {ts} in {channel} exists already")
            msg: dict[str, Any] = {
                "type": "message", "channel": channel, "ts": ts, "user": self.bot_user_id,
                "bot_id": self.bot_id, "app_id": self.app_id, "team": self.team_id,
                "text": text, "blocks": [], "edited": False, "edit_count": 0,
            }
            self._top.setdefault(channel, []).append(msg)
            self._top[channel].sort(key=lambda m: float(m["ts"]))
            self._by_ts[(channel, ts)] = msg
            # A later message never takes its ts: new ones are minted after it.
            self._last_ts_us = max(self._last_ts_us, at_us)
            return copy.deepcopy(msg)

    def dm_channel(self, *users: str) -> str:
        """The stable DM id conversations.open returns for these users."""
        with self._cond:
            return self._dm_for(list(users), register=False)

    # ------------------------------------------------------------------ state views

    def messages(self, channel: str) -> list[dict[str, Any]]:
        with self._cond:
            return copy.deepcopy(self._top.get(self._resolve_channel(channel, register=False), []))

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Replies under ``thread_ts`` in order (the parent itself is not included)."""
        with self._cond:
            key = (self._resolve_channel(channel, register=False), thread_ts)
            return copy.deepcopy(self._replies.get(key, []))

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        with self._cond:
            msg = self._by_ts.get((self._resolve_channel(channel, register=False), ts))
            return copy.deepcopy(msg) if msg is not None else None

    def ephemerals(self, channel: str) -> list[dict[str, Any]]:
        with self._cond:
            key = self._resolve_channel(channel, register=False)
            return copy.deepcopy(self._ephemerals.get(key, []))

    def uploaded_files(self) -> dict[str, dict[str, Any]]:
        """file_id -> {filename, title, bytes, channel_id}; bytes is None until uploaded."""
        with self._cond:
            return {
                fid: {
                    "filename": f["filename"],
                    "title": f["title"],
                    "bytes": f["bytes"],
                    "channel_id": f["channel_id"],
                }
                for fid, f in self._files.items()
            }

    # -------------------------------------------------------- what exists for Baton (locked)

    def _conversation_kind(self, channel: str) -> str:
        if channel[:1] in ("D", "U", "W"):
            return "im"
        registered = self._channels.get(channel, {})
        return "private" if registered.get("is_private") or channel[:1] == "G" else "public"

    def _channel_refusal(self, raw: str, *, to_post: bool = False,
                         to_share: bool = False) -> str | None:
        """Why Slack would refuse Baton ``raw`` (a channel, DM or user id), or None.

        A private channel Baton is not in does not exist for it (channel_not_found); a
        public one takes chat.postMessage with chat:write.public, but a file is shared only
        where Baton is a member (not_in_channel); an archived channel takes nothing new."""
        if raw[:1] in ("U", "W"):
            known = raw in self._users or "unknown_users" in self.lenient
            return None if known else "channel_not_found"
        if raw[:1] == "D":
            return None if raw in self._dm_members else "channel_not_found"
        registered = self._channels.get(raw)
        if registered is None:
            if "unknown_channels" not in self.lenient:
                return "channel_not_found"
            registered = self._channels[raw] = {"name": raw.lower(), "is_private": False,
                                                "is_member": True, "is_archived": False}
        if not registered["is_member"]:
            if registered["is_private"]:
                return "channel_not_found"
            public_post = to_post and not to_share and (
                self.scopes is None or "scopes" in self.lenient
                or "chat:write.public" in self.scopes)
            if not public_post:
                return "not_in_channel"
        if registered["is_archived"] and (to_post or to_share):
            return "is_archived"
        return None

    def _trigger_refusal(self, trigger: str) -> str | None:
        issued = self._triggers.get(trigger)
        if issued is None:
            if "unissued_triggers" in self.lenient:
                return None
            return "invalid_trigger_id"
        if issued["used"]:
            return "exchanged_trigger_id"
        if self.monotonic() - issued["at"] > TRIGGER_LIFETIME:
            return "expired_trigger_id"
        return None

    # ------------------------------------------------------------------ helpers (locked)

    def _next_ts(self) -> str:
        # Wall-clock based like Slack's, but strictly increasing so ts stays a unique key.
        now_us = time.time_ns() // 1000
        self._last_ts_us = max(now_us, self._last_ts_us + 1)
        return f"{self._last_ts_us // 1_000_000}.{self._last_ts_us % 1_000_000:06d}"

    def _next_id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{self._mint}{self._seq:06X}"

    def _dm_for(self, users: list[str], *, register: bool = True) -> str:
        # Hash of the member set: stable across emulator instances and test runs.
        members = sorted(set(users) - {self.bot_user_id}) or [self.bot_user_id]
        digest = hashlib.sha1(",".join(members).encode()).hexdigest()[:10].upper()
        dm_id = f"D{digest}"
        if register:
            self._dm_members.setdefault(dm_id, members)
        return dm_id

    def _resolve_channel(self, channel: str, *, register: bool = True) -> str:
        # Like Slack, posting to a user id lands in the bot's DM with that user.
        if channel[:1] in ("U", "W"):
            return self._dm_for([channel], register=register)
        return channel

    def _store_message(
        self,
        channel: str,
        *,
        text: str,
        blocks: list[Any],
        thread_ts: str | None,
        user: str,
        extra: dict[str, Any],
    ) -> dict[str, Any]:
        ts = self._next_ts()
        msg: dict[str, Any] = {
            "type": "message",
            "channel": channel,
            "ts": ts,
            "user": user,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "text": text,
            "blocks": blocks,
            "edited": False,
            "edit_count": 0,
            **extra,
        }
        if thread_ts:
            msg["thread_ts"] = thread_ts
            self._replies.setdefault((channel, thread_ts), []).append(msg)
            parent = self._by_ts.get((channel, thread_ts))
            if parent is not None:
                parent["reply_count"] = parent.get("reply_count", 0) + 1
                parent["latest_reply"] = ts
                reply_users = parent.setdefault("reply_users", [])
                if user not in reply_users:
                    reply_users.append(user)
            if extra.get("reply_broadcast"):
                self._top.setdefault(channel, []).append(msg)
        else:
            self._top.setdefault(channel, []).append(msg)
        self._by_ts[(channel, ts)] = msg
        return msg

    def _wire_message(self, msg: dict[str, Any]) -> dict[str, Any]:
        """A stored message in the shape Slack's API returns it."""
        out = {k: copy.deepcopy(v) for k, v in msg.items() if k not in ("channel", "edit_count")}
        if msg.get("edited"):
            out["edited"] = {"user": msg["user"], "ts": msg.get("last_edited_ts", msg["ts"])}
        else:
            out.pop("edited", None)
        out.pop("last_edited_ts", None)
        if msg.get("reply_count") and "thread_ts" not in out:
            out["thread_ts"] = msg["ts"]
        return out
