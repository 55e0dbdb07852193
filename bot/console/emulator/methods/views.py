"""views.open, views.push, views.update and views.publish: a view checked as Slack checks it
(title and button lengths, a submit for input blocks, Block Kit, private_metadata), opened
only with a fresh trigger_id, updated only with the current hash, stored with the fields
Slack adds."""

from __future__ import annotations

import copy
import time
from typing import Any

from bot.console.emulator.blockkit import (
    MAX_ID,
    MAX_PRIVATE_METADATA,
    MAX_VIEW_BLOCKS,
    MAX_VIEW_TITLE,
    block_kit_problem,
    too_long,
)
from bot.console.emulator.protocol import Args, error
from bot.console.emulator.state import Workspace


class ViewMethods(Workspace):
    def _view_arg(self, a: Args, allowed: tuple[str, ...]) -> dict[str, Any] | str:
        """The decoded, validated ``view`` argument, or an error detail string."""
        view = a.json("view")
        if view is None:
            return "missing required field: view"
        if not isinstance(view, dict):
            return "view must be a JSON object"
        if view.get("type") not in allowed:
            return f"view type must be one of {list(allowed)} [json-pointer:/view/type]"
        if view["type"] == "modal":
            title = view.get("title")
            if not isinstance(title, dict) or not isinstance(title.get("text"), str):
                return "missing required field: title [json-pointer:/view/title]"
            for key in ("title", "submit", "close"):
                part = view.get(key)
                if part is None:
                    continue
                if not isinstance(part, dict) or part.get("type") != "plain_text":
                    return f"must be a plain_text text object [json-pointer:/view/{key}]"
                if len(part.get("text") or "") > MAX_VIEW_TITLE:
                    return (
                        f"must be less than {MAX_VIEW_TITLE + 1} characters "
                        f"[json-pointer:/view/{key}/text]"
                    )
            blocks_ = view.get("blocks")
            if isinstance(blocks_, list) and view.get("submit") is None and any(
                    isinstance(b, dict) and b.get("type") == "input" for b in blocks_):
                return "must provide a submit property when using input blocks " \
                       "[json-pointer:/view]"
        callback_id = view.get("callback_id")
        if callback_id is not None and (not isinstance(callback_id, str)
                                        or len(callback_id) > MAX_ID):
            return too_long(MAX_ID, "/view/callback_id")
        blocks = view.get("blocks", [])
        if not isinstance(blocks, list):
            return "blocks must be an array [json-pointer:/view/blocks]"
        problem = block_kit_problem(blocks, pointer="/view/blocks", max_blocks=MAX_VIEW_BLOCKS)
        if problem:
            return problem
        if len(view.get("private_metadata") or "") > MAX_PRIVATE_METADATA:
            return (
                f"must be less than {MAX_PRIVATE_METADATA + 1} characters "
                "[json-pointer:/view/private_metadata]"
            )
        return view

    def _materialize_view(
        self, view: dict[str, Any], view_id: str, *, root: str | None = None,
        previous: str | None = None,
    ) -> dict[str, Any]:
        out = copy.deepcopy(view)
        self._seq += 1
        out.update(
            {
                "id": view_id,
                "team_id": self.team_id,
                "app_id": self.app_id,
                "bot_id": self.bot_id,
                "app_installed_team_id": self.team_id,
                "hash": f"{int(time.time())}.{self._seq:08d}",
                "state": {"values": {}},
                "root_view_id": root or view_id,
                "previous_view_id": previous,
            }
        )
        for key, default in (
            ("blocks", []),
            ("private_metadata", ""),
            ("callback_id", ""),
            ("external_id", ""),
            ("clear_on_close", False),
            ("notify_on_close", False),
        ):
            out.setdefault(key, default)
        if out["external_id"]:
            self._external_ids[out["external_id"]] = view_id
        return out

    def _views_open(self, a: Args) -> dict[str, Any]:
        trigger = a.str("trigger_id")
        if not trigger:
            return error("invalid_arguments", "missing required field: trigger_id")
        refusal = self._trigger_refusal(trigger)
        if refusal:
            return error(refusal)
        view = self._view_arg(a, ("modal",))
        if isinstance(view, str):
            return error("invalid_arguments", view)
        if trigger in self._triggers:
            self._triggers[trigger]["used"] = True
        view_id = self._next_id("V")
        stored = self._materialize_view(view, view_id)
        self.views[view_id] = stored
        return {"ok": True, "view": copy.deepcopy(stored)}

    def _views_push(self, a: Args) -> dict[str, Any]:
        trigger = a.str("trigger_id")
        if not trigger:
            return error("invalid_arguments", "missing required field: trigger_id")
        refusal = self._trigger_refusal(trigger)
        if refusal:
            return error(refusal)
        view = self._view_arg(a, ("modal",))
        if isinstance(view, str):
            return error("invalid_arguments", view)
        if trigger in self._triggers:
            self._triggers[trigger]["used"] = True
        view_id = self._next_id("V")
        stored = self._materialize_view(view, view_id)
        self.views[view_id] = stored
        return {"ok": True, "view": copy.deepcopy(stored)}

    def _views_update(self, a: Args) -> dict[str, Any]:
        view_id = a.str("view_id")
        external_id = a.str("external_id")
        if not view_id and not external_id:
            return error("invalid_arguments", "view_id or external_id is required")
        if not view_id:
            view_id = self._external_ids.get(external_id or "")
        current = self.views.get(view_id or "")
        home_user = None
        if current is None:
            home_user = next((u for u, v in self._home_view_ids.items() if v == view_id), None)
            current = self.home_views.get(home_user) if home_user else None
        if current is None or view_id is None:
            return error("not_found")
        expected_hash = a.str("hash")
        if expected_hash and expected_hash != current["hash"]:
            return error("hash_conflict")
        view = self._view_arg(a, ("home",) if home_user else ("modal",))
        if isinstance(view, str):
            return error("invalid_arguments", view)
        stored = self._materialize_view(
            view, view_id, root=current["root_view_id"], previous=current["previous_view_id"]
        )
        if home_user:
            self.home_views[home_user] = stored
        else:
            self.views[view_id] = stored
        return {"ok": True, "view": copy.deepcopy(stored)}

    def _views_publish(self, a: Args) -> dict[str, Any]:
        user_id = a.str("user_id")
        if not user_id:
            return error("invalid_arguments", "missing required field: user_id")
        view = self._view_arg(a, ("home",))
        if isinstance(view, str):
            return error("invalid_arguments", view)
        current = self.home_views.get(user_id)
        expected_hash = a.str("hash")
        if current is not None and expected_hash and expected_hash != current["hash"]:
            return error("hash_conflict")
        # Slack keeps one home-tab view id per user across publishes.
        view_id = self._home_view_ids.get(user_id) or self._next_id("V")
        self._home_view_ids[user_id] = view_id
        stored = self._materialize_view(view, view_id)
        self.home_views[user_id] = stored
        return {"ok": True, "view": copy.deepcopy(stored)}
