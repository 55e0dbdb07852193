"""The slash-command grammar: `key: value key: value ...`.

A key is a word followed by a colon, case-insensitive; its value runs to the next known
key, so no quotes are needed. Unknown `word:` pairs stay inside the value (a note may say
"re: discharge"), which is why only known keys split.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.domain import slack_ids
from bot.domain.quoting import got, quoted
from bot.domain.records import DomainError, RecordKind


@dataclass(frozen=True)
class Key:
    name: str
    label: str  # the seeds' words, shown in help, errors and modals
    aliases: tuple[str, ...] = ()
    required: bool = False


HANDOFF_KEYS: tuple[Key, ...] = (
    Key("person", "Person reference", ("patient", "client", "ref"), True),
    Key("to", "Receiving service", ("service", "receiver", "receiving", "partner"), True),
    Key("contact", "Receiving contact", ("phone", "email"), True),
    Key("due", "Response deadline", ("deadline", "by", "respond"), True),
    Key("owner", "Internal owner", ("lead", "assignee"), True),
    Key("route", "Referral route", ("via", "pathway")),
    Key("risk", "Continuity risk", ("rating",)),
    Key("note", "Note", ("notes", "details")),
)

DEPENDENCY_KEYS: tuple[Key, ...] = (
    Key("person", "Person reference", ("patient", "client", "ref"), True),
    Key("action", "Missing external action", ("missing", "waiting", "need"), True),
    Key("partner", "Partner agency", ("agency", "from", "service"), True),
    Key("risk", "Risk rating", ("rating",), True),
    Key("safeguard", "Interim safeguard", ("interim", "mitigation"), False),
    Key("until", "Safeguard intended end", ("ends", "expires")),
    Key("route", "Partner route used", ("via", "pathway")),
    Key("review", "Next review time", ("next", "due")),
    Key("manager", "Management owner", ("mgr",)),
    Key("owner", "Internal lead", ("lead",), True),
)

KEYS: dict[RecordKind, tuple[Key, ...]] = {
    RecordKind.HANDOFF: HANDOFF_KEYS,
    RecordKind.DEPENDENCY: DEPENDENCY_KEYS,
}


def key_index(keys: tuple[Key, ...]) -> dict[str, str]:
    index: dict[str, str] = {}
    for k in keys:
        for word in (k.name, *k.aliases):
            index[word] = k.name
    return index


def parse_fields(text: str, kind: RecordKind) -> dict[str, str]:
    """Split `key: value ...` text into {canonical key: value}.

    Raises DomainError for text before the first key or a key given twice.
    Empty values are kept as "" so the caller can report them as missing.
    """
    keys = KEYS[kind]
    index = key_index(keys)
    words = "|".join(sorted((re.escape(w) for w in index), key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w-])({words})\s*:", re.IGNORECASE)
    matches = list(pattern.finditer(text))
    fields: dict[str, str] = {}
    leading = text[: matches[0].start()] if matches else text
    if leading.strip():
        example = "person: P-1042" if kind is RecordKind.HANDOFF else "person: P-1042 action: ..."
        raise DomainError(
            f"Start with a key, like `{example}`. I couldn't place {quoted(leading.strip())}. "
            f"Type `/baton help` for every key.",
            field=None,
        )
    for i, m in enumerate(matches):
        name = index[m.group(1).lower()]
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        value = " ".join(text[m.end() : end].split())
        if name in fields:
            raise DomainError(f"`{name}` is given twice; give it once.", field=name)
        fields[name] = value
    return fields


def missing_required(fields: dict[str, str], kind: RecordKind) -> list[str]:
    """Required keys without a value. `owner` is excluded: it defaults to the caller."""
    need = [k.name for k in KEYS[kind] if k.required and k.name != "owner"]
    missing = [n for n in need if not fields.get(n, "").strip()]
    if (kind is RecordKind.DEPENDENCY and _is_same_day(fields.get("risk", ""))
            and not fields.get("safeguard", "").strip()):
        missing.append("safeguard")
    return missing


def _is_same_day(text: str) -> bool:
    return text.strip().lower().replace(" ", "-") in {"same-day", "sameday", "today"}



# Slack user IDs are short (the database keeps 32 characters): a longer "ID" is not one.
_USER_MENTION = slack_ids.USER_MENTION
_BARE_USER_ID = slack_ids.BARE_USER_ID


def read_user(text: str, *, caller: str, field: str) -> str:
    """A Slack user from `<@U123|name>` (slash commands escape mentions), a bare ID or `me`.
    Punctuation typed after it (`@jo,`) is not part of it. A plain `@name` Slack did not turn
    into a mention is refused saying how to make it one (handlers resolve the handles they
    can through the user directory first: bot/services/directory.py)."""
    v = text.strip().rstrip(",;.:!?").strip()
    if v.lower() in {"", "me", "myself", "i"}:
        return caller
    m = _USER_MENTION.match(v)
    if m:
        return m.group(1)
    if _BARE_USER_ID.match(v):
        return v
    if HANDLE.fullmatch(v):
        raise DomainError(
            f"`{field}`: no one in this workspace goes by {quoted(v)}. Pick the person from "
            "the list Slack shows as you type @, so Slack sends a mention, or write `me`.",
            field=field,
        )
    raise DomainError(
        f"`{field}` must be a Slack user, written as an @mention{got(v)}.",
        field=field,
    )


# A plain "@name" as typed, not turned into a mention: Slack's display names and usernames.
HANDLE = re.compile(r"@[\w.\-']{1,80}")


def help_lines(kind: RecordKind) -> list[str]:
    lines = []
    for k in KEYS[kind]:
        alias = f" (also {', '.join(a + ':' for a in k.aliases)})" if k.aliases else ""
        req = " — required" if k.required else ""
        lines.append(f"`{k.name}:` {k.label}{alias}{req}")
    return lines
