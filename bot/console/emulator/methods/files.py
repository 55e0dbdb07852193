"""files.getUploadURLExternal and files.completeUploadExternal, the two Web API steps of
files_upload_v2 (the bytes go to the upload URL in between: bot/console/emulator/server.py).
A file is shared only where Baton is a member."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from bot.console.emulator.protocol import Args, error
from bot.console.emulator.state import EMULATED_HOST, Workspace


class FileMethods(Workspace):
    def _files_get_upload_url(self, a: Args) -> dict[str, Any]:
        filename = a.str("filename")
        length = a.str("length")
        if not filename:
            return error("invalid_arguments", "missing required field: filename")
        if not length or not length.isdigit():
            return error("invalid_arguments", "missing required field: length")
        file_id = self._next_id("F")
        self._files[file_id] = {
            "filename": filename,
            "title": None,
            "bytes": None,
            "channel_id": None,
            "length": int(length),
        }
        upload_url = f"{self._upload_root}/upload/v1/{quote(file_id, safe='')}"
        return {"ok": True, "upload_url": upload_url, "file_id": file_id}

    def _files_complete_upload(self, a: Args) -> dict[str, Any]:
        files = a.json("files")
        if not isinstance(files, list) or not files:
            return error("invalid_arguments", "missing required field: files")
        channels = [a.str("channel_id")] if a.str("channel_id") else a.list("channels")
        for c in channels:
            refusal = self._channel_refusal(c, to_share=True) if c else None
            if refusal:
                return error(refusal)
        channels = [self._resolve_channel(c) for c in channels if c]
        entries = []
        for item in files:
            file_id = item.get("id") if isinstance(item, dict) else None
            entry = self._files.get(file_id or "")
            if entry is None or entry["bytes"] is None:
                return error("file_not_found", f"file {file_id!r} was never uploaded")
            entries.append((file_id, entry, item))
        out = []
        now = int(time.time())
        for file_id, entry, item in entries:
            entry["title"] = item.get("title") or entry["filename"]
            entry["channel_id"] = channels[0] if channels else None
            name = entry["filename"]
            out.append(
                {
                    "id": file_id,
                    "created": now,
                    "timestamp": now,
                    "name": name,
                    "title": entry["title"],
                    "mimetype": "application/octet-stream",
                    "filetype": name.rsplit(".", 1)[-1] if "." in name else "binary",
                    "user": self.bot_user_id,
                    "user_team": self.team_id,
                    "size": len(entry["bytes"]),
                    "is_external": False,
                    "url_private": f"{EMULATED_HOST}/files-pri/{self.team_id}-{file_id}/{name}",
                    "permalink": f"{EMULATED_HOST}/files/{self.bot_user_id}/{file_id}/{name}",
                    "channels": list(channels),
                    "groups": [],
                    "ims": [],
                    "shares": {},
                    "initial_comment": a.str("initial_comment") or "",
                }
            )
        return {"ok": True, "files": out}
