"""The grammar of the tracker sub-commands of `/baton`: start, step, contact, decide, set.
Pure: handlers/trackers.py calls these, then TrackerService. Every refusal is a DomainError
whose text a person sees, naming the field it is about."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import timedelta

from bot.domain.grammar import Key, split_fields
from bot.domain.quoting import got, quoted
from bot.domain.records import DomainError
from bot.domain.times import parse_duration
from bot.domain.trackers import StepStatus, Template, TrackerField, read_step_status, slug

USAGE = {
    "start": "`/baton start TEMPLATE person: P-1042 at: TIME [owner: @someone]`",
    "show": "`/baton show T-12`",
    "step": "`/baton step T-12 STEP done|blocked|na|refused TEXT`",
    "proceed": "`/baton proceed T-12`",
    "contact": "`/baton contact T-12 attempted|reached NOTE`",
    "decide": "`/baton decide T-12 DECISION TEXT`",
    "set": "`/baton set T-12 funding-start: DATE`",
    "cancel": "`/baton cancel T-12 REASON`",
}

# The keys every start takes; the template's own fields follow.
PERSON = Key("person", "Person reference", ("patient", "client", "ref"), True)
AT = Key("at", "Anchor time", ("anchor", "when", "from"), True)
OWNER = Key("owner", "Tracker owner", ("lead", "coordinator"))
PERIOD = Key("period", "Period", ("days",))

_TRACKER_REF = re.compile(r"T-\d+(?:\.\d+)?", re.IGNORECASE)
_STATUS_FIRST = {"done", "blocked", "na", "n/a", "refused", "open"}
_YES = {"yes": "yes", "y": "yes", "true": "yes", "no": "no", "n": "no", "false": "no"}


def is_tracker_ref(text: str) -> bool:
    """T-12 or T-12.3: a tracker or one of its steps (H-3 and D-2 are records)."""
    return bool(_TRACKER_REF.fullmatch(text.strip()))


def start_keys(template: Template) -> tuple[Key, ...]:
    """The keys `/baton start TEMPLATE` reads: person, at, owner, period (a provisional
    package), then the template's fields under their own keys."""
    keys = [PERSON, AT, OWNER]
    if template.period is not None:
        keys.append(PERIOD)
    names = {k.name for k in keys}
    keys += [Key(f.key, f.label, (), f.required) for f in template.fields
             if f.key not in names]
    return tuple(keys)


def read_start(rest: str) -> tuple[str, str]:
    """The template name and the `key: value …` text after it."""
    name, _, tail = rest.strip().partition(" ")
    if not name or name.endswith(":"):
        raise DomainError(f"Which template? {USAGE['start']}", field="template")
    return name, tail.strip()


def start_fields(text: str, template: Template) -> dict[str, str]:
    """`key: value …` after the template name, split by the template's keys."""
    return split_fields(text, start_keys(template), command=f"/baton start {template.name}",
                        example="person: P-1042 at: tomorrow 9am")


def missing_for_start(fields: dict[str, str], template: Template) -> list[str]:
    """What the form must ask for: person, the anchor time and the template's required
    fields not given."""
    need = ["person", "at", *(f.key for f in template.fields if f.required)]
    return [k for k in need if not (fields.get(k) or "").strip()]


def field_value(f: TrackerField, text: str) -> str:
    """A choice or yes-no field's value as the template spells it; text as typed."""
    value = " ".join(text.split())
    if not value:
        return ""
    if f.kind == "yes-no":
        word = _YES.get(value.lower())
        if word is None:
            raise DomainError(f"`{f.key}:` ({f.label}) is yes or no{got(value)}.", field=f.key)
        return word
    if f.kind == "choice":
        # As the template spells it, in any case, with hyphens or spaces; or a word only
        # one choice has ("staffing" for "staffing intensity").
        want = slug(value)
        exact = [c for c in f.choices if slug(c) == want]
        words = [c for c in f.choices if want and any(
            w.startswith(want) for w in slug(c).split("-"))]
        if exact or len(words) == 1:
            return (exact or words)[0]
        by_word = {w: c for c in f.choices for w in [slug(c), *slug(c).split("-")]}
        close = difflib.get_close_matches(want, list(by_word), n=1, cutoff=0.7)
        hint = f" Did you mean “{by_word[close[0]]}”?" if close and not words else ""
        raise DomainError(f"`{f.key}:` ({f.label}) is one of {', '.join(f.choices)}"
                          f"{got(value)}.{hint}", field=f.key)
    return value


def read_period(text: str) -> timedelta | None:
    """A provisional package's period: `10d`, `10 days` or `10`; None if not given."""
    value = text.strip().lower()
    if not value:
        return None
    m = re.fullmatch(r"(\d{1,3})\s*(?:d|days?)?", value)
    if m:
        return timedelta(days=int(m.group(1)))
    try:
        return parse_duration(value)
    except ValueError:
        raise DomainError(f"`period:` is a number of days, like `10d`{got(text)}.",
                          field="period") from None


# --- /baton step|contact|decide|set T-12 … ---

def read_tracker_ref(word: str, rest: str) -> tuple[str, str]:
    """The tracker (or step) reference first, and what follows it."""
    ref, _, tail = rest.strip().partition(" ")
    if not ref:
        raise DomainError(f"Which tracker? {USAGE[word]}")
    if not is_tracker_ref(ref):
        raise DomainError(f"{quoted(ref, 20)} is not a tracker reference: they look like "
                          f"T-12. {USAGE[word]}")
    return ref.upper(), tail.strip()


@dataclass(frozen=True)
class StepCommand:
    ref: str  # T-12 or T-12.3
    step: str  # the step as typed ("" when ref names it)
    status: StepStatus
    text: str


def read_step_command(rest: str) -> StepCommand:
    """`T-12 NAME STATUS TEXT` or `T-12.3 STATUS TEXT`: the step's name runs up to the
    first status word (done, blocked, na, refused, open)."""
    ref, tail = read_tracker_ref("step", rest)
    words = tail.split()
    first = 0 if "." in ref else 1
    for i in range(first, len(words)):
        try:
            status = read_step_status(words[i])
        except DomainError:
            continue
        return StepCommand(ref, " ".join(words[:i]), status, " ".join(words[i + 1:]))
    if first and (not words or words[0].lower() in _STATUS_FIRST):
        raise DomainError(f"Which step of {ref}? {USAGE['step']}", field="step")
    raise DomainError(f"Say what happened to the step: done, blocked, na or refused. "
                      f"{USAGE['step']}", field="status")


def _word_and_text(verb: str, rest: str, *, ask: str, field: str) -> tuple[str, str, str]:
    """`T-12 WORD TEXT`: the reference, the word and the text after it."""
    ref, tail = read_tracker_ref(verb, rest)
    word, _, text = tail.partition(" ")
    if not word:
        raise DomainError(f"{ask} {USAGE[verb]}", field=field)
    return ref, word, text.strip()


def read_contact_command(rest: str) -> tuple[str, str, str]:
    """`T-12 attempted|reached NOTE`: the reference, the outcome word and the note."""
    return _word_and_text("contact", rest, ask="Was the person reached?", field="outcome")


def read_decide_command(rest: str) -> tuple[str, str, str]:
    """`T-12 DECISION TEXT`: the reference, the decision word and its text."""
    return _word_and_text("decide", rest, ask="Give the decision.", field="decision")


def read_set_command(rest: str) -> tuple[str, str, str]:
    """`T-12 KEY: VALUE`: one field of the tracker, given after its start."""
    ref, tail = read_tracker_ref("set", rest)
    m = re.fullmatch(r"([a-z][a-z0-9-]*)\s*:\s*(.+)", tail, flags=re.IGNORECASE | re.DOTALL)
    if not m:
        raise DomainError(f"Give the field as `key: value`. {USAGE['set']}", field="field")
    return ref, m.group(1).lower(), " ".join(m.group(2).split())
