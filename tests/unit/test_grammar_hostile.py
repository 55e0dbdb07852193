"""Hostile text against the pure command grammar (bot/domain): whatever anyone types, the
grammar either reads it or refuses it with a DomainError that names the problem, and no
error message can carry the typed text's mrkdwn (<!channel>, <@U…>, links) back to Slack."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.domain.drafts import (
    LONG_TEXT,
    PERSON_REF,
    SHORT_TEXT,
    DraftContext,
    DraftErrors,
    build_dependency,
    build_handoff,
)
from bot.domain.grammar import KEYS, key_index, missing_required, parse_fields, read_user
from bot.domain.quoting import quoted
from bot.domain.records import (
    DomainError,
    RecordKind,
    check_person_ref,
    read_category,
    read_risk,
)
from bot.domain.rota import read_weekdays
from bot.domain.times import TimeReadError, WorkingCalendar, read_report_day, read_time

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # Monday 09:00 in New York
NEW_YORK = ZoneInfo("America/New_York")
CALLER = "U0CALLER1"
PERSON_PATTERN = r"P-\d+"

# What a hostile (or unlucky) person types: Slack's own markup, controls, every plane.
INJECTIONS = [
    "<!channel>", "<!here>", "<!everyone>", "<@U0FAKE99>", "<@U0FAKE99|boss>", "<#C0FAKE99>",
    "<http://evil.example/x|click here>", "<mailto:a@evil.example|mail>",
    "<!subteam^S0FAKE99>", "<!date^0^{date}|x>", "&lt;!here&gt;", "&amp;", "<", ">", "&",
]
CONTROLS = ["\x00", "\x07", "\x1b[2J", "\x7f", "\x85", "\u202e", "\u2066", "\u200b", "\ufeff",
            "\r\n", "\t", "\n", "\u2028"]
PLANES = ["é", "中", "\U0001F600", "\U0001D7D9", "\U00020000", "\U00030000", "\U000E0001",
          "\uE000", "\U000F0000", "\U0010FFFD", "\ud800", "\udfff"]
GRAMMAR = ["person:", "to:", "due:", "note:", "owner:", "risk:", "PERSON :", "re:", "P-1042",
           "tomorrow 5pm", "same-day", "*", "_", "`", "```", ":"]
BITS = INJECTIONS + CONTROLS + PLANES + GRAMMAR

# Every code point, surrogate halves included: Slack's JSON can carry a lone "\ud800".
ANY_CHAR = st.characters(codec=None, categories=None)
hostile = st.one_of(
    st.lists(st.one_of(st.sampled_from(BITS), st.text(ANY_CHAR, max_size=8)),
             max_size=10).map("".join),
    st.sampled_from(BITS).map(lambda bit: (bit * 10_000)[:10_000]),
)
KINDS = st.sampled_from(list(RecordKind))
FAST = settings(max_examples=200, deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def assert_no_markup(message: str) -> None:
    """Error text quotes what was typed: escaped, so never a mention, link or broadcast."""
    assert "<" not in message and ">" not in message, message


def ctx() -> DraftContext:
    return DraftContext(caller=CALLER, now=NOW, tz=NEW_YORK, calendar=WorkingCalendar(),
                        person_pattern=PERSON_PATTERN)


@FAST
@given(text=hostile, kind=KINDS)
def test_parse_fields_reads_or_refuses_with_a_domain_error(text: str, kind: RecordKind) -> None:
    try:
        fields = parse_fields(text, kind)
    except DomainError as exc:
        assert_no_markup(str(exc))
        assert exc.field is None or exc.field in {k.name for k in KEYS[kind]}
        return
    assert set(fields) <= {k.name for k in KEYS[kind]}
    for value in fields.values():
        assert value == " ".join(value.split())  # trimmed, one space between words
    # Every key in the text was read: nothing typed is lost between keys.
    assert sum(len(v) for v in fields.values()) <= len(text)


@st.composite
def typed_fields(draw: st.DrawFn, kind: RecordKind) -> tuple[dict[str, str], str]:
    """{canonical key: value} and a command text that spells it with aliases, any case and
    any spacing. Values are hostile but contain no key of their own, nor a word that
    looks like one (`re:`: refused or kept by the rule test_grammar.py tests)."""
    index = key_index(KEYS[kind])
    key_word = re.compile(rf"(?<![\w-])({'|'.join(map(re.escape, index))})\s*:"
                          r"|(?<!\S)[A-Za-z]{2,30}:(?!/)", re.I)
    names = draw(st.lists(st.sampled_from([k.name for k in KEYS[kind]]), unique=True,
                          max_size=len(KEYS[kind])))
    fields, parts = {}, []
    for name in names:
        value = " ".join(draw(hostile).split())
        if key_word.search(value) or not value:
            continue
        spelled = draw(st.sampled_from([w for w, n in index.items() if n == name]))
        spelled = draw(st.sampled_from([spelled, spelled.upper(), spelled.title()]))
        gap = draw(st.sampled_from(["", " ", "  ", "\t"]))
        fields[name] = value
        parts.append(f"{spelled}{gap}: {value}")
    return fields, " ".join(parts)


@FAST
@given(data=st.data(), kind=KINDS)
def test_any_value_without_a_key_in_it_round_trips(data: st.DataObject,
                                                   kind: RecordKind) -> None:
    fields, text = data.draw(typed_fields(kind))
    assert parse_fields(text, kind) == fields
    required = {k.name for k in KEYS[kind] if k.required and k.name != "owner"}
    missing = missing_required(fields, kind)
    assert set(missing) - {"safeguard"} == required - set(fields)


@FAST
@given(fields=st.dictionaries(st.sampled_from(["person", "to", "contact", "due", "owner",
                                               "route", "risk", "note", "action", "partner",
                                               "safeguard", "until", "review", "manager"]),
                              st.one_of(hostile, st.sampled_from(
                                  ["P-1042", "tomorrow 5pm", "same-day", "emerging", "me",
                                   "<@U0BOB0001|bob>", "in 2h", "Northside Home Care"]))),
       kind=KINDS)
def test_drafts_from_hostile_fields_are_valid_or_name_each_bad_field(fields: dict[str, str],
                                                                     kind: RecordKind) -> None:
    build = build_handoff if kind is RecordKind.HANDOFF else build_dependency
    try:
        draft = build(fields, ctx())
    except DraftErrors as exc:
        assert exc.errors and set(exc.errors) <= {k.name for k in KEYS[kind]}
        for message in exc.errors.values():
            assert_no_markup(message)
        return
    assert re.fullmatch(PERSON_PATTERN, draft.person_ref, re.I)
    assert len(draft.person_ref) <= PERSON_REF
    deadline = getattr(draft, "response_deadline", None) or draft.next_review_at
    assert deadline > NOW and deadline.tzinfo is not None
    for value in vars(draft).values():
        if isinstance(value, str):
            assert len(value) <= max(SHORT_TEXT, LONG_TEXT)
            assert value == " ".join(value.split())
    assert re.fullmatch(r"[UW][A-Z0-9]{1,31}", draft.owner_id)


@FAST
@given(text=hostile)
def test_readers_of_single_values_refuse_with_escaped_quotes(text: str) -> None:
    readers = [
        lambda: read_user(text, caller=CALLER, field="owner"),
        lambda: read_risk(text),
        lambda: read_category(text),
        lambda: check_person_ref(text, pattern=PERSON_PATTERN),
        lambda: read_weekdays(text),
    ]
    for read in readers:
        try:
            read()
        except DomainError as exc:
            assert_no_markup(str(exc))
    try:
        read_report_day(text, today=NOW.date())
    except ValueError as exc:
        assert_no_markup(str(exc))


@FAST
@given(text=hostile)
def test_read_time_gives_a_future_instant_or_a_time_read_error(text: str) -> None:
    try:
        when = read_time(text, now=NOW, tz=NEW_YORK, calendar=WorkingCalendar())
    except TimeReadError as exc:
        assert_no_markup(str(exc))
        return
    assert when > NOW and when.utcoffset() is not None


@FAST
@given(text=hostile, limit=st.integers(min_value=1, max_value=80))
def test_quoted_text_is_clipped_escaped_and_never_markup(text: str, limit: int) -> None:
    out = quoted(text, limit)
    assert out.startswith("“") and out.endswith("”")
    assert_no_markup(out)
    inner = out[1:-1].replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert len(inner) <= limit
    assert inner.rstrip("…") in " ".join(text.split())


def test_a_user_id_longer_than_slack_makes_them_is_not_a_user() -> None:
    long_id = "U" + "A" * 40
    for text in (f"<@{long_id}>", long_id):
        try:
            read_user(text, caller=CALLER, field="owner")
        except DomainError as exc:
            assert "`owner` must be a Slack user" in str(exc)
        else:
            raise AssertionError(f"{text!r} was read as a user")
    assert read_user("<@U0BOB0001|bob>", caller=CALLER, field="owner") == "U0BOB0001"


def test_a_person_reference_longer_than_the_database_keeps_is_refused_by_the_draft() -> None:
    fields = {"person": "P-" + "1" * 70, "to": "Northside Home Care", "contact": "desk",
              "due": "tomorrow 5pm"}
    try:
        build_handoff(fields, ctx())
    except DraftErrors as exc:
        assert list(exc.errors) == ["person"] and f"under {PERSON_REF}" in exc.errors["person"]
    else:
        raise AssertionError("a 72-character person reference was accepted")
