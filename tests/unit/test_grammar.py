import pytest

from bot.domain.grammar import missing_required, parse_fields, read_user
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
