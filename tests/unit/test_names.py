"""The person-name guard (bot/domain/names.py): its shapes, and its measured false-positive
and miss rates on a corpus of care-coordination notes (tests/unit/data/name_guard_corpus.txt:
invented names, real-sounding agencies, streets, drugs and job titles)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.domain.names import likely_names, names_in_fields

CORPUS = Path(__file__).parent / "data" / "name_guard_corpus.txt"

# Set from the measurement (111 names, 182 lines without one): 1 line flagged without a name
# (0.5%: "Comfort Keepers", an agency missing from the directory) and 1 name missed (0.9%:
# "jane doe" typed in lower case); on the 60 held-out lines alone, 0% and 0%. A change to the
# rules or the lists that moves either past these fails here, printing the lines it got wrong.
MAX_FALSE_POSITIVE_RATE = 0.03
MAX_MISS_RATE = 0.05


Lines = list[tuple[list[str], str]]


def _corpus() -> tuple[Lines, Lines, list[str]]:
    """The lines the rules were written against, the held-out lines written after, and the
    partner directory."""
    tuned: Lines = []
    held_out: Lines = []
    lines = tuned
    directory: list[str] = []
    for raw in CORPUS.read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.startswith("#"):
            continue
        if raw.startswith("@heldout"):
            lines = held_out
            continue
        if raw.startswith("@directory"):
            directory = [p.strip() for p in raw.removeprefix("@directory").split(";")]
            continue
        expected, text = raw.split(" | ", 1)
        names = [] if expected.strip() == "-" else [n.strip() for n in expected.split(";")]
        lines.append((names, text))
    return tuned, held_out, directory


def _tokens(text: str) -> set[str]:
    return {re.sub(r"['’]s$", "", t.lower()) for t in re.findall(r"[A-Za-z][A-Za-z'’-]*", text)}


def _rates(label: str, lines: Lines, directory: list[str]) -> tuple[
        float, float, list[tuple[str, list[str]]], list[tuple[str, list[str]]]]:
    clean = flagged_clean = names = missed = 0
    false_positives: list[tuple[str, list[str]]] = []
    misses: list[tuple[str, list[str]]] = []
    for expected, text in lines:
        found = likely_names(text, known_phrases=directory)
        if not expected:
            clean += 1
            if found:
                flagged_clean += 1
                false_positives.append((text, found))
        for name in expected:
            names += 1
            if not any(_tokens(name) & _tokens(f) for f in found):
                missed += 1
                misses.append((text, found))
    fp_rate, miss_rate = flagged_clean / clean, missed / names
    print(f"\nname guard, {label}: false positives {flagged_clean}/{clean} lines = {fp_rate:.1%}; "
          f"misses {missed}/{names} names = {miss_rate:.1%}")
    for text, found in false_positives:
        print(f"  false positive: {found} in {text!r}")
    for text, found in misses:
        print(f"  missed: {text!r} (found {found})")
    return fp_rate, miss_rate, false_positives, misses


def test_corpus_rates() -> None:
    tuned, held_out, directory = _corpus()
    assert len(tuned) + len(held_out) >= 150 and directory
    fp_rate, miss_rate, false_positives, misses = _rates(
        "all lines", tuned + held_out, directory)
    _rates("held-out lines only", held_out, directory)
    assert fp_rate <= MAX_FALSE_POSITIVE_RATE, false_positives
    assert miss_rate <= MAX_MISS_RATE, misses


@pytest.mark.parametrize(("text", "expected"), [
    ("daughter Jane Smith will stay over", ["Jane Smith"]),
    ("spoke with Mr Okafor at the pharmacy", ["Mr Okafor"]),
    ("Dr. Patel wants a med review", ["Dr. Patel"]),
    ("Mrs. Delgado checks in daily", ["Mrs. Delgado"]),
    ("Tom Rivera's number is on the form", ["Tom Rivera"]),
    ("son Kevin staying overnight", ["Kevin"]),
    ("niece Mary-Kate Lopez drives her", ["Mary-Kate Lopez"]),
    ("Dr. office closed until Monday", []),
    ("lives on Martin Luther King Jr Blvd", []),
    ("review again in April; authorization runs until May 31", []),
    ("pharmacy will deliver Eliquis and Metformin", []),
    ("RN case manager to review the care plan", []),
])
def test_shapes(text: str, expected: list[str]) -> None:
    assert likely_names(text) == expected


def test_known_phrases_are_never_flagged() -> None:
    text = "Jordan Valley Clinic intake; Grace Lee called"
    assert "Grace Lee" in likely_names(text)
    assert likely_names("Nadia Haddad at Jordan Valley Clinic",
                        known_phrases=["jordan valley clinic"]) == ["Nadia Haddad"]
    # A partner named like a person is the directory's word, not a name.
    assert likely_names("Maria Gonzalez Home Care cannot staff mornings") == []
    assert likely_names("Ruth Stein cannot staff mornings",
                        known_phrases=["Ruth Stein"]) == []


def test_fields_are_checked_per_field() -> None:
    fields = {"note": "wife Linda Walsh has a key", "contact": "intake desk 555-0100",
              "to": "Grace Lee Homecare", "person": "P-1042"}
    assert names_in_fields(fields) == {"note": ["Linda Walsh"]}
