"""The slash-command grammar: `key: value key: value ...`.

A key is a word followed by a colon, case-insensitive; its value runs to the next known
key, so no quotes are needed.

A `word:` that is not a key is read by one rule (see unknown_key; each side has a test in
tests/unit/test_grammar.py). Only a word of letters standing alone (at the start or after a
space), directly followed by its colon, can look like a key: `5:00pm`, `12:30`, `https://`,
`front-desk:` and `P-3:` never do. Such a word is refused, and nothing is logged, when
* it is close to a key of this command (a typo: `contcat:` → "did you mean `contact:`?"),
* it is a key of the other command (`note:` in a /dependency; not `to:`, an everyday word), or
* it sits in a value that cannot hold such text (person, due, risk, owner ...: `due: friday
  prio: high`), where the error lists the valid keys.
Otherwise it stays in its free-text value ("note: re: discharge", "contact: desk ext: 12").
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
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


# Values that are prose: an unknown `word:` inside them that is not close to a key is text.
FREE_TEXT = frozenset({"to", "contact", "route", "note", "action", "partner", "safeguard"})

# A word that could be meant as a key: letters only, alone (start of text or after a space),
# its colon directly after it. Digits never (5:00pm, 12:30); nor a word joined to the one
# before it (front-desk:, x.example:); nor a URL's scheme (https://).
_KEYLIKE = re.compile(r"(?<!\S)([A-Za-z]{2,30}):(?!/)")
# difflib's ratio for a typo of a key: contcat/contact 0.86, persn/person 0.91, rsik/risk
# 0.75; prose words score lower (unit/until 0.67, date/due 0.57, attn/action 0.6).
_CLOSE = 0.75


def _close_keys(word: str, keys: tuple[Key, ...]) -> list[str]:
    """The keys `word` is a likely typo of, nearest first: by difflib's ratio, or the same
    letters in another order (`ntoe:`, `deu:`; difflib scores swaps low). Compared with
    canonical names and with aliases of five letters or more: short aliases (`by`, `via`,
    `next`) are everyday words, and `ext:` is not a typo of `next:`."""
    targets: dict[str, str] = {}
    for k in keys:
        for w in (k.name, *k.aliases):
            if w == k.name or len(w) >= 5:
                targets.setdefault(w, k.name)
    scored: dict[str, float] = {}
    for target, name in targets.items():
        ratio = difflib.SequenceMatcher(None, word, target).ratio()
        if len(word) >= 3 and sorted(word) == sorted(target):
            ratio = max(ratio, _CLOSE)
        if ratio >= _CLOSE:
            scored[name] = max(scored.get(name, 0.0), ratio)
    return sorted(scored, key=lambda n: -scored[n])


class UnknownKey(DomainError):
    """A `word:` refused by unknown_key: `word` as typed, `meant` the nearest key or None."""

    def __init__(self, message: str, *, word: str, meant: str | None,
                 field: str | None) -> None:
        super().__init__(message, field=field)
        self.word = word
        self.meant = meant


def _key_list(keys: tuple[Key, ...]) -> str:
    return ", ".join(f"`{k.name}:`" for k in keys)


def unknown_key(word: str, keys: tuple[Key, ...], *, in_field: str | None,
                command: str) -> UnknownKey | None:
    """The refusal for `word:` (not a key of `keys`) found in the value of `in_field` (None:
    before the first key), or None when it is text. The rule is in the module docstring."""
    lowered = word.lower()
    close = _close_keys(lowered, keys)
    if close:
        return UnknownKey(
            f"Unknown key `{word}:` — did you mean `{close[0]}:`? "
            f"(If `{word}:` is part of the text, leave out its colon.)",
            word=word, meant=close[0], field=in_field,
        )
    # A key of the other command (`note:` in a /dependency); `to` is too common a word.
    others = {k.name for ks in KEYS.values() for k in ks if len(k.name) > 2}
    if lowered in others - {k.name for k in keys}:
        return UnknownKey(
            f"`{lowered}:` is not a key of {command}; its keys are {_key_list(keys)}.",
            word=word, meant=None, field=in_field,
        )
    if in_field is None or in_field not in FREE_TEXT:
        return UnknownKey(
            f"Unknown key `{word}:`; the keys are {_key_list(keys)}.",
            word=word, meant=None, field=in_field,
        )
    return None


def split_fields(text: str, keys: tuple[Key, ...], *, command: str,
                 example: str = "person: P-1042") -> dict[str, str]:
    """Split `key: value ...` text into {canonical key: value} by `keys`.

    Raises DomainError for text before the first key, a key given twice, or an unknown key
    (unknown_key). Empty values are kept as "" so the caller can report them as missing.
    """
    index = key_index(keys)
    words = "|".join(sorted((re.escape(w) for w in index), key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w-])({words})\s*:", re.IGNORECASE)
    matches = list(pattern.finditer(text))
    fields: dict[str, str] = {}
    leading = text[: matches[0].start()] if matches else text
    if leading.strip():
        first = _KEYLIKE.search(leading)
        refusal = first and unknown_key(first.group(1), keys, in_field=None, command=command)
        if refusal:
            raise refusal
        raise DomainError(
            f"Start with a key, like `{example}`. I couldn't place {quoted(leading.strip())}. "
            f"The keys are {_key_list(keys)}; `/baton help` says what each means.",
            field=None,
        )
    for i, m in enumerate(matches):
        name = index[m.group(1).lower()]
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        raw = text[m.end() : end]
        for word in _KEYLIKE.finditer(raw):
            refusal = unknown_key(word.group(1), keys, in_field=name, command=command)
            if refusal:
                raise refusal
        value = " ".join(raw.split())
        if name in fields:
            raise DomainError(f"`{name}` is given twice; give it once.", field=name)
        fields[name] = value
    return fields


def parse_fields(text: str, kind: RecordKind) -> dict[str, str]:
    """Split a /handoff or /dependency command's text (see split_fields)."""
    example = "person: P-1042" if kind is RecordKind.HANDOFF else "person: P-1042 action: ..."
    return split_fields(text, KEYS[kind], command=f"/{kind.value}", example=example)


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


# "@name" typed as plain text (Slack sends a picked mention as <@U…|name> instead).
_TYPED_HANDLE = re.compile(r"(?<![<\w])@([\w][\w.\-']{0,79}(?<=[\w]))")


def with_mentions(text: str, by_handle: Callable[[str], str | None]) -> str:
    """Each plain "@name" in `text` as a mention (<@U…>) where the user directory knows
    exactly one person by that name; any other is left as typed, for the grammar to say
    how to make it a mention."""
    def one(m: re.Match[str]) -> str:
        user_id = by_handle(m.group(1))
        return f"<@{user_id}>" if user_id else m.group(0)

    return _TYPED_HANDLE.sub(one, text) if "@" in text else text
