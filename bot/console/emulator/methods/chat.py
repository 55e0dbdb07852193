"""chat.postMessage, chat.update, chat.delete, chat.postEphemeral and chat.getPermalink:
messages checked against Slack's limits (Block Kit, text length), the channel's refusals
and its posting rate, then stored in the workspace."""

from __future__ import annotations

from typing import Any

from bot.console.emulator.blockkit import MAX_TEXT, check_blocks
from bot.console.emulator.faults import Faults
from bot.console.emulator.protocol import Args, error, invalid_blocks
from bot.console.emulator.state import EMULATED_HOST


class ChatMethods(Faults):
    def _message_content(self, a: Args) -> tuple[str, list[Any], dict[str, Any]] | dict[str, Any]:
        """(text, blocks, extra) for post-like methods, or an error body."""
        text = a.str("text") or ""
        blocks = a.json("blocks")
        attachments = a.json("attachments")
        if blocks is not None:
            problem = check_blocks(blocks)
            if problem:
                return invalid_blocks(problem)
        if attachments is not None and not isinstance(attachments, list):
            return error("invalid_attachments")
        if not text.strip() and not blocks and not attachments:
            return error("no_text")
        if len(text) > MAX_TEXT:
            return error("msg_too_long")
        extra: dict[str, Any] = {}
        if attachments:
            extra["attachments"] = attachments
        metadata = a.json("metadata")
        if metadata is not None:
            extra["metadata"] = metadata
        for name in ("username", "icon_emoji", "icon_url"):
            if a.str(name):
                extra[name] = a.str(name)
        return text, blocks or [], extra

    def _chat_post_message(self, a: Args) -> dict[str, Any]:
        channel = a.str("channel")
        if not channel:
            return error("channel_not_found")
        content = self._message_content(a)
        if isinstance(content, dict):
            return content
        text, blocks, extra = content
        if a.bool("reply_broadcast"):
            extra["reply_broadcast"] = True
        refusal = self._channel_refusal(channel, to_post=True)
        if refusal:
            return error(refusal)
        channel = self._resolve_channel(channel)
        self._take_post_slot(channel)
        msg = self._store_message(
            channel,
            text=text,
            blocks=blocks,
            thread_ts=a.str("thread_ts") or None,
            user=self.bot_user_id,
            extra=extra,
        )
        return {"ok": True, "channel": channel, "ts": msg["ts"], "message": self._wire_message(msg)}

    def _chat_update(self, a: Args) -> dict[str, Any]:
        channel = a.str("channel")
        if not channel:
            return error("channel_not_found")
        refusal = self._channel_refusal(channel, to_post=True)
        if refusal:
            return error(refusal)
        channel = self._resolve_channel(channel)
        ts = a.str("ts") or ""
        msg = self._by_ts.get((channel, ts))
        if msg is None:
            return error("message_not_found")
        if msg["user"] != self.bot_user_id:
            return error("cant_update_message")
        blocks = a.json("blocks")
        if blocks is not None:
            problem = check_blocks(blocks)
            if problem:
                return invalid_blocks(problem)
        text = a.str("text")
        if text is not None and len(text) > MAX_TEXT:
            return error("msg_too_long")
        # Slack keeps the previous text/blocks when a field is omitted; [] clears blocks.
        if text is not None:
            msg["text"] = text
        if blocks is not None:
            msg["blocks"] = blocks
        attachments = a.json("attachments")
        if isinstance(attachments, list):
            msg["attachments"] = attachments
        metadata = a.json("metadata")
        if metadata is not None:
            msg["metadata"] = metadata
        msg["edited"] = True
        msg["edit_count"] += 1
        msg["last_edited_ts"] = self._next_ts()
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": msg["text"],
            "message": self._wire_message(msg),
        }

    def _chat_delete(self, a: Args) -> dict[str, Any]:
        channel = a.str("channel")
        if not channel:
            return error("channel_not_found")
        refusal = self._channel_refusal(channel, to_post=True)
        if refusal:
            return error(refusal)
        channel = self._resolve_channel(channel)
        ts = a.str("ts") or ""
        msg = self._by_ts.pop((channel, ts), None)
        if msg is None:
            return error("message_not_found")
        buckets = [self._top.get(channel, [])]
        if msg.get("thread_ts"):
            buckets.append(self._replies.get((channel, msg["thread_ts"]), []))
        for bucket in buckets:
            # Identity, not ==: two messages may compare equal but are distinct posts.
            bucket[:] = [m for m in bucket if m is not msg]
        return {"ok": True, "channel": channel, "ts": ts}

    def _chat_post_ephemeral(self, a: Args) -> dict[str, Any]:
        channel = a.str("channel")
        if not channel:
            return error("channel_not_found")
        user = a.str("user")
        if not user:
            return error("invalid_arguments", "missing required field: user")
        content = self._message_content(a)
        if isinstance(content, dict):
            return content
        text, blocks, extra = content
        refusal = self._channel_refusal(channel, to_post=True)
        if refusal:
            return error(refusal)
        channel = self._resolve_channel(channel)
        ts = self._next_ts()
        entry = {
            "channel": channel,
            "user": user,
            "ts": ts,
            "text": text,
            "blocks": blocks,
            **extra,
        }
        if a.str("thread_ts"):
            entry["thread_ts"] = a.str("thread_ts")
        self._ephemerals.setdefault(channel, []).append(entry)
        return {"ok": True, "message_ts": ts}

    def _chat_get_permalink(self, a: Args) -> dict[str, Any]:
        channel = a.str("channel")
        if not channel:
            return error("channel_not_found")
        channel = self._resolve_channel(channel)
        ts = a.str("message_ts")
        if not ts:
            return error("message_not_found")
        # Permissive: console-typed messages may never have gone through the API.
        permalink = f"{EMULATED_HOST}/archives/{channel}/p{ts.replace('.', '')}"
        msg = self._by_ts.get((channel, ts))
        if msg is not None and msg.get("thread_ts"):
            permalink += f"?thread_ts={msg['thread_ts']}&cid={channel}"
        return {"ok": True, "channel": channel, "permalink": permalink}
