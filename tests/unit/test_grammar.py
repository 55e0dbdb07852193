import pytest

from bot.domain.grammar import UnknownKey, missing_required, parse_fields, read_user
from bot.domain.records import DomainError, RecordKind

H, D = RecordKind.HANDOFF, RecordKind.DEPENDENCY


def test_values_run_to_the_next_known_key_without_quotes():
    fields = parse_fields("person: P-1042 to: Northside Home Care contact: intake desk 555-0100 "
                          "due: tomorrow 5pm risk: short-term", H)
    assert fields == {"person": "P-1042", "to": "Northside Home Care",
                      "contact": "intake desk 555-0100", "due": "tomorrow 5pm",
                      "risk": "short-term"}


def test_keys_are_case_insensitive_and_aliases_map_to_canonical_names():
    fields = parse_fields("PERSON:P-1 Service: Acme deadline: EOD Contact:x", H)
    assert fields == {"person": "P-1", "to": "Acme", "due": "EOD", "contact": "x"}


def test_unknown_word_colon_stays_in_the_value():
    fields = parse_fields("person: P-1 note: re: discharge, see https://x.example/a", H)
    assert fields["note"] == "re: discharge, see https://x.example/a"


def test_key_inside_a_hyphenated_word_does_not_split():
    assert parse_fields("person: P-1 contact: front-desk: ext 4", H)["contact"] == \
        "front-desk: ext 4"


def test_key_given_twice_is_refused():
    with pytest.raises(DomainError, match="`to` is given twice"):
        parse_fields("person: P-1 to: A service: B", H)


def test_text_before_the_first_key_is_refused():
    with pytest.raises(DomainError, match="Start with a key"):
        parse_fields("hello person: P-1", H)


def test_dependency_keys_differ_from_handoff_keys():
    fields = parse_fields("person: P-1 action: unsigned authorization partner: MCO risk: emerging "
                          "review: friday manager: <@U0BOB0001|bob>", D)
    assert fields["action"] == "unsigned authorization" and fields["review"] == "friday"
    with pytest.raises(DomainError):
        parse_fields("contact: x", D)  # not a dependency key, so it is leading text


def test_missing_required_excludes_owner_and_adds_safeguard_for_same_day():
    assert missing_required({"person": "P-1"}, H) == ["to", "contact", "due"]
    fields = {"person": "P-1", "action": "x", "partner": "y", "risk": "same day"}
    assert missing_required(fields, D) == ["safeguard"]
    assert missing_required({**fields, "risk": "emerging"}, D) == []


def test_read_user_from_escaped_mention_bare_id_or_me():
    assert read_user("<@U0ALICE01|alice>", caller="U1", field="owner") == "U0ALICE01"
    assert read_user("U0ALICE01", caller="U1", field="owner") == "U0ALICE01"
    assert read_user("me", caller="U0CALLER1", field="owner") == "U0CALLER1"
    with pytest.raises(DomainError, match="@mention"):
        read_user("alice", caller="U1", field="owner")


# --- unknown keys: refused when they look like a key, kept when they are text -------------


@pytest.mark.parametrize(
    ("text", "typed", "meant"),
    [
        ("person: P-3 to: Eastside Clinic contcat: 555-0111 due: tomorrow 5pm", "contcat",
         "contact"),
        ("persn: P-3 to: Eastside Clinic", "persn", "person"),
        ("person: P-3 to: Acme Contcat: 555-0111", "Contcat", "contact"),
        ("person: P-3 to: Acme note: x rsik: same-day", "rsik", "risk"),
        ("person: P-3 to: Acme ntoe: x", "ntoe", "note"),  # letters swapped
        ("person: P-3 to: Acme deu: friday", "deu", "due"),
        ("person: P-3 to: Acme owenr: me", "owenr", "owner"),
        ("person: P-3 to: Acme deadlnie: friday", "deadlnie", "due"),  # a typo of an alias
    ],
)
def test_a_typo_of_a_key_is_refused_with_the_nearest_key(text: str, typed: str,
                                                          meant: str) -> None:
    with pytest.raises(UnknownKey) as caught:
        parse_fields(text, H)
    assert str(caught.value).startswith(
        f"Unknown key `{typed}:` — did you mean `{meant}:`?")
    assert (caught.value.word, caught.value.meant) == (typed, meant)


def test_a_typo_in_a_dependency_is_refused_too() -> None:
    with pytest.raises(DomainError, match="Unknown key `reveiw:` — did you mean `review:`"):
        parse_fields("person: P-1 action: x partner: MCO risk: emerging reveiw: friday", D)
    with pytest.raises(DomainError, match="Unknown key `parnter:` — did you mean `partner:`"):
        parse_fields("person: P-1 action: unsigned authorization parnter: MCO", D)


def test_a_key_of_the_other_command_is_refused_with_this_commands_keys() -> None:
    with pytest.raises(DomainError) as caught:
        parse_fields("person: P-1 action: x partner: MCO note: call back risk: emerging", D)
    message = str(caught.value)
    assert message.startswith("`note:` is not a key of /dependency; its keys are `person:`")
    assert "`safeguard:`" in message and "`review:`" in message


@pytest.mark.parametrize(
    "text",
    ["person: P-1 due: friday prio: high", "person: P-1 risk: same-day level: 2 to: x",
     "prio: high person: P-1"],
)
def test_an_unknown_word_colon_where_no_text_belongs_lists_the_keys(text: str) -> None:
    with pytest.raises(DomainError) as caught:
        parse_fields(text, H)
    message = str(caught.value)
    assert message.startswith("Unknown key `")
    assert "the keys are `person:`, `to:`, `contact:`, `due:`, `owner:`, `route:`, `risk:`, " \
        "`note:`" in message


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("person: P-1 note: re: discharge, see https://x.example/a", "note",
         "re: discharge, see https://x.example/a"),
        ("person: P-1 contact: desk 555-0100 ext: 12", "contact", "desk 555-0100 ext: 12"),
        ("person: P-1 due: fri 5:00pm", "due", "fri 5:00pm"),
        ("person: P-1 due: 12:30", "due", "12:30"),
        ("person: P-1 due: 2026-12-01T14:00+02:00", "due", "2026-12-01T14:00+02:00"),
        ("person: P-1 note: time: 12:30 date: friday unit: 4B attn: intake tel: 5 cc: desk",
         "note", "time: 12:30 date: friday unit: 4B attn: intake tel: 5 cc: desk"),
        ("person: P-1 to: Eastside Clinic, Suite:4", "to", "Eastside Clinic, Suite:4"),
        ("person: P-1 route: portal https://intake.example/form", "route",
         "portal https://intake.example/form"),
    ],
)
def test_colons_that_are_text_stay_in_their_value(text: str, field: str, value: str) -> None:
    assert parse_fields(text, H)[field] == value


def test_prose_colons_in_a_dependency_stay_and_ext_is_not_next() -> None:
    fields = parse_fields("person: P-1 action: x partner: Acme ext: 12 risk: emerging "
                          "safeguard: calls to: family from unit: 4B", D)
    assert fields["partner"] == "Acme ext: 12"
    assert fields["safeguard"] == "calls to: family from unit: 4B"


def test_text_before_the_first_key_lists_the_keys() -> None:
    with pytest.raises(DomainError, match=r"The keys are `person:`, `to:`"):
        parse_fields("hello person: P-1", H)


# --- drafts carry what the working-day rule did ---------------------------------------------


def test_drafts_note_each_time_the_working_day_rule_moved() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from bot.domain.drafts import DraftContext, build_dependency, build_handoff
    from bot.domain.times import WorkingCalendar

    ctx = DraftContext(caller="U0CALLER1", now=datetime(2026, 11, 23, 14, 0, tzinfo=UTC),
                       tz=ZoneInfo("America/New_York"), calendar=WorkingCalendar(),
                       person_pattern=r"P-\d+")
    h = build_handoff({"person": "P-1", "to": "Acme", "contact": "desk", "due": "saturday"}, ctx)
    assert h.response_deadline == datetime(2026, 11, 27, 22, 0, tzinfo=UTC)
    assert h.notes == ("`due`: Sat 28 Nov is not a working day: read as Fri 27 Nov 17:00 "
                       "(the working day before).",)
    d = build_dependency({"person": "P-1", "action": "x", "partner": "MCO", "risk": "same-day",
                          "safeguard": "hold", "until": "sunday", "review": "tomorrow"}, ctx)
    assert d.notes == ("`until`: Sun 29 Nov is not a working day: read as Fri 27 Nov 17:00 "
                       "(the working day before).",)
    assert build_handoff({"person": "P-1", "to": "Acme", "contact": "desk",
                          "due": "friday"}, ctx).notes == ()
