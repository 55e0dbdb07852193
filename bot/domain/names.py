"""The person-name guard for free text: which words of a note, contact, safeguard, action,
reason or outcome look like a person's name, so that Baton can ask before posting them to a
shared channel.

The name lists are philter-lite's (a PHI filter for clinical notes, BSD-3): about 97,000
given names, 161,000 family names and 195,000 words its authors found safe (ordinary English
and clinical words), shipped in its wheel as philter_lite/filters/set.toml. Only that data
file is read, never philter_lite's code (which tags parts of speech with an NLTK model that is
fetched at run time). The lists alone flag too much ("Grace", "Hope", "Jordan" and "Lincoln"
are given names), so a word is reported only in the shapes a name takes in a coordinator's
note:

- a title and a capitalised word: "Mr Okafor", "Dr. Patel", "Mrs. Delgado";
- a capitalised given name followed by a capitalised family name: "Jane Smith",
  "Tom Rivera's", "Mary-Kate Lopez";
- a relation or role word and a capitalised given name: "daughter Priya", "son Kevin".

A capitalised run that ends in a place or organisation word ("Martin Luther King Jr Blvd",
"Cedar Grove Nursing Center") is a place, not a person; a phrase the caller knows (the
partner directory: "Jordan Valley Clinic") is never reported. Lower-case names ("jane doe")
are not caught: the rates tests/unit/test_names.py measures say how often that costs.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path

# The free-text fields of the logging grammar (bot/domain/grammar.py's keys) that the guard
# reads; `person` has its own check, the partner is the directory's, the rest are times,
# users and ratings.
FREE_TEXT_FIELDS = ("note", "contact", "safeguard", "action", "route", "text", "response",
                    "outcome", "reason", "interim_action", "next_action", "contract_impact")

TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sr", "sra", "mister"})
# After a title, these are not a name: "Dr. Office", "Dr On call".
_NOT_A_NAME_AFTER_TITLE = frozenset({"office", "on", "appointment", "appt", "visit", "note",
                                     "notes", "orders", "order", "call", "line"})
RELATIONS = frozenset({
    "daughter", "son", "wife", "husband", "brother", "sister", "niece", "nephew", "grandson",
    "granddaughter", "grandchild", "mother", "father", "mom", "mum", "dad", "friend",
    "neighbour", "neighbor", "cousin", "aunt", "uncle", "caregiver", "carer", "aide",
    "partner", "daughter-in-law", "son-in-law", "sister-in-law", "brother-in-law",
    "mother-in-law", "father-in-law", "stepdaughter", "stepson", "grandmother",
    "grandfather", "grandma", "grandpa", "fiance", "fiancee", "landlord", "landlady",
    "supervisor", "boyfriend", "girlfriend", "spouse", "guardian", "proxy", "poa",
})
# A capitalised run ending in (or holding) one of these is a place or an organisation.
PLACE_WORDS = frozenset({
    "street", "st", "avenue", "ave", "boulevard", "blvd", "road", "rd", "drive", "lane", "ln",
    "way", "place", "pl", "court", "ct", "terrace", "highway", "hwy", "parkway", "pkwy",
    "square", "plaza", "hospital", "clinic", "center", "centre", "health", "healthcare",
    "care", "home", "homes", "house", "services", "service", "pharmacy", "county", "city",
    "ministries", "agency", "group", "associates",
    "medical", "rehab", "rehabilitation", "hospice", "living", "senior", "seniors", "dialysis",
    "transport", "transit", "supply", "supplies", "network", "plan", "foundation", "institute",
    "program", "team", "office", "department", "dept", "university", "college", "school",
    "partners", "alliance", "society", "charities", "nursing", "therapy", "respite", "meals",
    "community", "village", "manor", "gardens", "towers", "apartments", "residence", "lodge",
    "pavilion", "unit", "ward", "wing", "library", "regional", "shelter", "pantry",
    "cooperative", "coop", "inc", "llc", "ltd", "corp", "company", "co",
})
# Family names too ("Gregory Hall", "Helen Park"): a place only with more of the name after
# them ("Lincoln Park Adult Day", "Harbor House Respite").
WEAK_PLACE_WORDS = frozenset({"hall", "park", "general", "valley", "memorial", "manor",
                              "lodge", "mission", "village", "gardens", "church",
                              "field", "fields", "hill", "hills", "ridge", "grove", "wood",
                              "woods", "lake", "brook", "springs", "heights", "point"})
# A first name alone is a name where these stand right before it ("spoke to Linda", "Nurse
# Kelly", "per Marcus") or "from"/"at" right after it ("Sarah from Northside"): words that
# introduce a person, not a place (a place after them is still excused by its place words).
BEFORE_A_PERSON = frozenset({
    "to", "with", "called", "told", "asked", "ask", "call", "per", "via", "cc", "texted",
    "emailed", "nurse", "rn", "lpn", "worker", "therapist", "coordinator", "manager",
    "supervisor", "officer", "counselor", "counsellor", "pharmacist", "driver", "director",
})
AFTER_A_PERSON = frozenset({"from", "at"})
_CALENDAR = frozenset({
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday",
    "saturday", "sunday",
})
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_POSSESSIVE = re.compile(r"['’]s$", re.IGNORECASE)
_LIST = re.compile(r"(?m)^(\w+) = \[(.*?)\]\s*$", re.S)
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class NameLists:
    given: frozenset[str]
    family: frozenset[str]
    common: frozenset[str]  # ordinary words: a given name that is one needs a stronger shape


@lru_cache(maxsize=1)
def name_lists() -> NameLists:
    """philter-lite's lists, read once (about a quarter of a second and 40 MB)."""
    path = metadata.distribution("philter-lite").locate_file("philter_lite/filters/set.toml")
    text = Path(str(path)).read_text(encoding="utf-8")
    # The file is three long string arrays; reading them directly takes a quarter of a
    # second where tomllib takes seven. Anything unexpected: tomllib.
    sets = {name: body for name, body in _LIST.findall(text)}
    if {"firstnames", "lastnames", "nonames"} <= set(sets):
        lists = {name: _QUOTED.findall(body) for name, body in sets.items()}
    else:  # pragma: no cover - a changed file layout
        lists = tomllib.loads(text)

    def words(name: str) -> frozenset[str]:
        return frozenset(w.lower().replace("'", "") for w in lists[name] if w)

    return NameLists(words("firstnames"), words("lastnames"), words("nonames"))


@dataclass(frozen=True)
class _Word:
    text: str
    start: int
    end: int

    @property
    def key(self) -> str:
        return _POSSESSIVE.sub("", self.text).lower().replace("'", "").replace("’", "")

    @property
    def capitalised(self) -> bool:
        t = self.text
        return t[:1].isupper() and not (len(t) > 1 and t.replace("'", "").isupper())


def _in(word: _Word, names: frozenset[str]) -> bool:
    key = word.key
    if key in names:
        return True
    parts = [p for p in key.split("-") if p]
    return len(parts) > 1 and all(p in names for p in parts)


def _known_spans(text: str, known: Iterable[str]) -> list[tuple[int, int]]:
    low = text.lower()
    spans = []
    for phrase in known:
        phrase = " ".join(phrase.split()).lower()
        if len(phrase) < 2:
            continue
        spans += [(m.start(), m.end())
                  for m in re.finditer(rf"(?<!\w){re.escape(phrase)}(?!\w)", low)]
    return spans


def likely_names(text: str, *, known_phrases: Iterable[str] = (),
                 lists: NameLists | None = None) -> list[str]:
    """The phrases of `text` that look like a person's name, in order, each once; none inside
    a known phrase (the partner directory's agency and service names)."""
    lists = lists or name_lists()
    words = [_Word(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]
    spans = _known_spans(text, known_phrases)
    found: list[str] = []

    def joined(a: _Word, b: _Word) -> bool:  # one space apart, nothing between
        return text[a.end:b.start] == " "

    def run_from(i: int) -> int:
        """The last index of the capitalised run starting at i."""
        j = i
        while j + 1 < len(words) and words[j + 1].capitalised and joined(words[j], words[j + 1]):
            j += 1
        return j

    def a_place(i: int) -> bool:
        end = run_from(i)
        return any(words[k].key in PLACE_WORDS
                   or (k < end and words[k].key in WEAK_PLACE_WORDS) for k in range(i, end + 1))

    def name_end(i: int) -> int:
        """Through the given and family names that follow word i."""
        j = i
        while (j + 1 < len(words) and words[j + 1].capitalised and joined(words[j], words[j + 1])
               and (_in(words[j + 1], lists.family) or _in(words[j + 1], lists.given))
               and words[j + 1].key not in PLACE_WORDS):
            j += 1
        return j

    i = 0
    while i < len(words):
        w = words[i]
        key = w.key
        hit: tuple[int, int] | None = None  # first and last word of the name
        nxt = words[i + 1] if i + 1 < len(words) else None
        if (key in TITLES and nxt is not None and nxt.capitalised
                and text[w.end:nxt.start].strip(". ") == "" and "\n" not in text[w.end:nxt.start]
                and nxt.key not in _NOT_A_NAME_AFTER_TITLE and nxt.key not in PLACE_WORDS):
            hit = (i, name_end(i + 1))
        elif w.capitalised and _in(w, lists.given) and key not in _CALENDAR:
            end = name_end(i)
            names = [words[k] for k in range(i, end + 1)]
            strong = end > i and any(_in(n, lists.family) for n in names[1:]) and not all(
                n.key in lists.common for n in names)
            after_relation = i > 0 and words[i - 1].key in RELATIONS and (
                joined(words[i - 1], w))
            # A first name that is no ordinary word, introduced as a person: "spoke to
            # Linda", "Nurse Kelly", "Sarah from Northside".
            introduced = key not in lists.common and (
                (i > 0 and words[i - 1].key in BEFORE_A_PERSON and joined(words[i - 1], w))
                or (end + 1 < len(words) and words[end + 1].key in AFTER_A_PERSON
                    and joined(words[end], words[end + 1])))
            if (strong or after_relation or introduced) and not a_place(i):
                hit = (i, end)
        elif (w.capitalised and key in _CALENDAR and i > 0 and words[i - 1].key in RELATIONS
              and joined(words[i - 1], w) and _in(w, lists.given)):
            hit = (i, name_end(i))  # "daughter April"
        if hit is not None:
            first, last = words[hit[0]], words[hit[1]]
            start, end_at = first.start, _strip_possessive(last)
            if not any(a <= start and end_at <= b for a, b in spans):
                phrase = text[start:end_at]
                if phrase not in found:
                    found.append(phrase)
            i = hit[1] + 1
            continue
        i += 1
    return found


def _strip_possessive(word: _Word) -> int:
    m = _POSSESSIVE.search(word.text)
    return word.start + m.start() if m else word.end


def names_in_fields(fields: Mapping[str, str | None], *, known_phrases: Iterable[str] = (),
                    only: Iterable[str] = FREE_TEXT_FIELDS,
                    lists: NameLists | None = None) -> dict[str, list[str]]:
    """{field: the likely names in it} for the free-text fields among `fields` (those named in
    `only`); fields with none are left out. For a whole form or an edit's changed keys."""
    known = list(known_phrases)
    out: dict[str, list[str]] = {}
    for name in only:
        value = fields.get(name)
        if value:
            hits = likely_names(value, known_phrases=known, lists=lists)
            if hits:
                out[name] = hits
    return out
