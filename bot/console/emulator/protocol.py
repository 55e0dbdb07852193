"""Slack's Web API wire protocol as the emulator reads and answers it: request params from a
query string and a form, JSON or multipart body (merged, as Slack merges them), the token a
call presents, typed access to the params, and Slack's error bodies.

No state here: bot/console/emulator/server.py reads requests with these, and the method
families (bot/console/emulator/methods/) answer with them.
"""

from __future__ import annotations

import builtins
import email.parser
import email.policy
import json
from typing import Any, cast
from urllib.parse import parse_qsl


def maybe_json(value: Any) -> Any:
    """Decode a JSON object/array sent as a form string; leave anything else untouched.

    Only containers are decoded so that e.g. a ``text`` of ``"123"`` does not become an int.
    """
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in ("[", "{"):
            try:
                return json.loads(stripped)
            except ValueError:
                return value
    return value


class Headers(dict[str, str]):
    """Header dict with lower-cased keys and case-insensitive lookup.

    urllib sends ``Content-type``, httpx sends ``content-type``; tests should not care.
    """

    def __init__(self, items: Any = ()) -> None:
        super().__init__()
        pairs = items.items() if isinstance(items, dict) else items
        for key, value in pairs:
            super().__setitem__(str(key).lower(), str(value))

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __setitem__(self, key: str, value: str) -> None:
        super().__setitem__(key.lower(), value)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


class BadRequest(Exception):
    def __init__(self, error: str, detail: str = "") -> None:
        super().__init__(error)
        self.error = error
        self.detail = detail


class Args:
    """Typed access to merged request params (form strings or JSON values)."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = params

    def str(self, name: builtins.str) -> builtins.str | None:
        value = self.params.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (dict, list)):
            return json.dumps(value)
        return str(value)

    def json(self, name: builtins.str) -> Any:
        return maybe_json(self.params.get(name))

    def bool(self, name: builtins.str) -> builtins.bool:
        value = self.params.get(name)
        if isinstance(value, str):
            return value.strip().lower() in ("true", "1", "yes")
        return bool(value)

    def list(self, name: builtins.str) -> builtins.list[builtins.str]:
        value = self._list_value(name)
        return [str(v).strip() for v in value if str(v).strip()]

    def _list_value(self, name: builtins.str) -> builtins.list[Any]:
        value = self.json(name)
        if value is None:
            return []
        if isinstance(value, str):
            return value.split(",")
        if isinstance(value, list):
            return value
        return [value]


def parse_params(query: str, content_type: str, body: bytes) -> dict[str, Any]:
    params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    ctype = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return params
    if ctype == "application/json":
        try:
            decoded = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadRequest("invalid_json", str(exc)) from exc
        if not isinstance(decoded, dict):
            raise BadRequest("invalid_json", "JSON body must be an object")
        params.update(decoded)
    elif ctype == "multipart/form-data":
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
        )
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not name:
                continue
            # decode=True gives the part's bytes (a nested multipart part would be a Message).
            data = cast(bytes, part.get_payload(decode=True) or b"")
            if part.get_filename():
                params[str(name)] = data
            else:
                params[str(name)] = data.decode("utf-8", "replace")
    else:
        # Slack treats a missing/odd Content-Type as a urlencoded form, and so do we.
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest("invalid_form_data", str(exc)) from exc
        params.update(parse_qsl(text, keep_blank_values=True))
    return params


def presented_token(headers: Headers, params: dict[str, Any]) -> Any:
    auth = headers.get("authorization") or ""
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return params.get("token")


def error(error: str, *messages: str) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error": error}
    if messages:
        body["response_metadata"] = {"messages": [f"[ERROR] {m}" for m in messages]}
    return body


def invalid_blocks(problem: str) -> dict[str, Any]:
    """Slack's answer to blocks its schema refuses: the problems in ``errors`` as well as in
    response_metadata.messages."""
    body = error("invalid_blocks", problem)
    body["errors"] = [problem]
    return body
