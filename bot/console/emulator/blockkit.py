"""Slack's Block Kit rules, as far as Baton's block types go: Slack validates blocks against a
JSON schema and refuses the whole call on the first violation (``invalid_blocks`` for
messages, ``invalid_arguments`` for views, HTTP 400 ``invalid_blocks`` for a response_url).
The schema counts characters (code points), as slack_sdk's own validators do. Only what
Baton's block types use is checked, but every documented limit of those is: text lengths,
counts of blocks, fields, elements and options, unique block_ids in a message or view and
unique action_ids in a block.
"""

from __future__ import annotations

from typing import Any

# Limits Slack enforces on a whole message or view; checking them here surfaces bot bugs
# that real Slack would reject.
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_TEXT = 40_000
MAX_VIEW_TITLE = 24
MAX_PRIVATE_METADATA = 3000

# Limits on the parts of blocks.
_SECTION_TEXT = 3000
_SECTION_FIELDS = 10
_FIELD_TEXT = 2000
_HEADER_TEXT = 150
_CONTEXT_ELEMENTS = 10
_CONTEXT_TEXT = 3000
_ACTIONS_ELEMENTS = 25
_BUTTON_TEXT = 75
_BUTTON_VALUE = 2000
_URL = 3000
MAX_ID = 255  # block_id, action_id
_OPTION_TEXT = 75
_OPTION_VALUE = 150
_OPTIONS = 100
_OVERFLOW_OPTIONS = 5  # an overflow menu's options
_PLACEHOLDER = 150
_LABEL = 2000
_HINT = 2000
_INPUT_MAX_LENGTH = 3000


def too_long(limit: int, pointer: str) -> str:
    return f"must be less than {limit + 1} characters [json-pointer:{pointer}]"


def _text_problem(obj: Any, pointer: str, *, limit: int, plain_only: bool = False) -> str | None:
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        return f"must be a text object [json-pointer:{pointer}]"
    if plain_only and obj["type"] != "plain_text":
        return f"must be plain_text [json-pointer:{pointer}/type]"
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return f"must be more than 0 characters [json-pointer:{pointer}/text]"
    if len(text) > limit:
        return too_long(limit, f"{pointer}/text")
    return None


def _id_problem(value: Any, pointer: str) -> str | None:
    if value is not None and (not isinstance(value, str) or len(value) > MAX_ID):
        return too_long(MAX_ID, pointer)
    return None


def _element_problem(el: Any, pointer: str) -> str | None:
    if not isinstance(el, dict) or not isinstance(el.get("type"), str):
        return f"missing required field: type [json-pointer:{pointer}]"
    kind = el["type"]
    problem = _id_problem(el.get("action_id"), f"{pointer}/action_id")
    if problem:
        return problem
    if "placeholder" in el:
        problem = _text_problem(el["placeholder"], f"{pointer}/placeholder",
                                limit=_PLACEHOLDER, plain_only=True)
        if problem:
            return problem
    if kind == "button":
        problem = _text_problem(el.get("text"), f"{pointer}/text", limit=_BUTTON_TEXT,
                                plain_only=True)
        if problem:
            return problem
        if len(str(el.get("value") or "")) > _BUTTON_VALUE:
            return too_long(_BUTTON_VALUE, f"{pointer}/value")
        if len(str(el.get("url") or "")) > _URL:
            return too_long(_URL, f"{pointer}/url")
    elif kind in ("static_select", "radio_buttons", "checkboxes", "overflow"):
        options = el.get("options") or []
        most = _OVERFLOW_OPTIONS if kind == "overflow" else _OPTIONS
        if not isinstance(options, list) or len(options) > most:
            return f"no more than {most} items allowed [json-pointer:{pointer}/options]"
        chosen = [el["initial_option"]] if isinstance(el.get("initial_option"), dict) else []
        for j, option in enumerate([*options, *chosen]):
            where = f"{pointer}/options/{j}" if j < len(options) else f"{pointer}/initial_option"
            if not isinstance(option, dict):
                return f"must be an option object [json-pointer:{where}]"
            problem = _text_problem(option.get("text"), f"{where}/text", limit=_OPTION_TEXT)
            if problem:
                return problem
            if len(str(option.get("value") or "")) > _OPTION_VALUE:
                return too_long(_OPTION_VALUE, f"{where}/value")
    elif kind == "plain_text_input":
        max_length = el.get("max_length")
        if max_length is not None and not (
            isinstance(max_length, int) and 1 <= max_length <= _INPUT_MAX_LENGTH
        ):
            return (f"must be between 1 and {_INPUT_MAX_LENGTH} "
                    f"[json-pointer:{pointer}/max_length]")
    return None


def _block_problem(block: Any, pointer: str) -> str | None:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        return f"missing required field: type [json-pointer:{pointer}]"
    kind = block["type"]
    problem = _id_problem(block.get("block_id"), f"{pointer}/block_id")
    if problem:
        return problem
    if kind == "section":
        text, fields = block.get("text"), block.get("fields")
        if text is None and not fields:
            return f"must provide either text or fields [json-pointer:{pointer}]"
        if text is not None:
            problem = _text_problem(text, f"{pointer}/text", limit=_SECTION_TEXT)
            if problem:
                return problem
        if fields is not None:
            if not isinstance(fields, list) or len(fields) > _SECTION_FIELDS:
                return (f"no more than {_SECTION_FIELDS} items allowed "
                        f"[json-pointer:{pointer}/fields]")
            for j, field in enumerate(fields):
                problem = _text_problem(field, f"{pointer}/fields/{j}", limit=_FIELD_TEXT)
                if problem:
                    return problem
        if "accessory" in block:
            return _element_problem(block["accessory"], f"{pointer}/accessory")
    elif kind == "header":
        return _text_problem(block.get("text"), f"{pointer}/text", limit=_HEADER_TEXT,
                             plain_only=True)
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= _CONTEXT_ELEMENTS:
            return (f"must have between 1 and {_CONTEXT_ELEMENTS} items "
                    f"[json-pointer:{pointer}/elements]")
        for j, element in enumerate(elements):
            if isinstance(element, dict) and element.get("type") in ("plain_text", "mrkdwn"):
                problem = _text_problem(element, f"{pointer}/elements/{j}",
                                        limit=_CONTEXT_TEXT)
                if problem:
                    return problem
    elif kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= _ACTIONS_ELEMENTS:
            return (f"must have between 1 and {_ACTIONS_ELEMENTS} items "
                    f"[json-pointer:{pointer}/elements]")
        for j, element in enumerate(elements):
            problem = _element_problem(element, f"{pointer}/elements/{j}")
            if problem:
                return problem
    elif kind == "input":
        problem = _text_problem(block.get("label"), f"{pointer}/label", limit=_LABEL,
                                plain_only=True)
        if problem:
            return problem
        if "hint" in block:
            problem = _text_problem(block["hint"], f"{pointer}/hint", limit=_HINT,
                                    plain_only=True)
            if problem:
                return problem
        return _element_problem(block.get("element"), f"{pointer}/element")
    return None


def block_kit_problem(blocks: Any, *, pointer: str = "/blocks",
                      max_blocks: int = MAX_MESSAGE_BLOCKS) -> str | None:
    """The first way ``blocks`` breaks Slack's Block Kit limits, worded as Slack words it
    (``must be less than 3001 characters [json-pointer:/blocks/2/text/text]``), or None."""
    if not isinstance(blocks, list):
        return f"must be an array [json-pointer:{pointer}]"
    if len(blocks) > max_blocks:
        return f"no more than {max_blocks} items allowed [json-pointer:{pointer}]"
    seen: set[str] = set()
    for i, block in enumerate(blocks):
        problem = _block_problem(block, f"{pointer}/{i}")
        if problem:
            return problem
        # Slack makes up a block_id where none is given; a given one must be unique in the
        # message or view, and an action_id unique within its block.
        block_id = block.get("block_id")
        if block_id is not None:
            if block_id in seen:
                return f"duplicate block_id [json-pointer:{pointer}/{i}/block_id]"
            seen.add(block_id)
        problem = _duplicate_action_id(block, f"{pointer}/{i}")
        if problem:
            return problem
    return None


def _duplicate_action_id(block: dict[str, Any], pointer: str) -> str | None:
    elements = list(block.get("elements") or []) if block.get("type") == "actions" else []
    for key in ("accessory", "element"):
        if isinstance(block.get(key), dict):
            elements.append(block[key])
    seen: set[str] = set()
    for j, element in enumerate(elements):
        action_id = element.get("action_id") if isinstance(element, dict) else None
        if action_id is None:
            continue
        if action_id in seen:
            return f"duplicate action_id [json-pointer:{pointer}/elements/{j}/action_id]"
        seen.add(action_id)
    return None


def check_blocks(blocks: Any) -> str | None:
    if not isinstance(blocks, list):
        return "blocks must be a JSON array"
    return block_kit_problem(blocks)
