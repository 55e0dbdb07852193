import pytest

from bot.domain.records import (
    Action,
    DomainError,
    RecordKind,
    Risk,
    check_person_ref,
    read_category,
    read_risk,
    transition,
)

H, D = RecordKind.HANDOFF, RecordKind.DEPENDENCY


@pytest.mark.parametrize(("current", "action", "expected"), [
    ("pending", Action.ACKNOWLEDGE, "acknowledged"),
    ("overdue", Action.ACKNOWLEDGE, "acknowledged"),
    ("acknowledged", Action.RESPOND, "responded"),
    ("responded", Action.RESPOND, "responded"),
    ("responded", Action.CLOSE, "closed"),
    ("responded", Action.RESOLVE, "closed"),
    ("pending", Action.MARK_OVERDUE, "overdue"),
    ("pending", Action.CANCEL, "cancelled"),
    ("overdue", Action.CANCEL, "cancelled"),
    ("responded", Action.CANCEL, "cancelled"),
    # Acknowledged and settled without a formal response: closed with its outcome.
    ("acknowledged", Action.CLOSE, "closed"),
    ("acknowledged", Action.RESOLVE, "closed"),
    ("acknowledged", Action.CANCEL, "cancelled"),
    # An edit keeps the status, on any open record.
    ("pending", Action.EDIT, "pending"),
    ("overdue", Action.EDIT, "overdue"),
    ("acknowledged", Action.EDIT, "acknowledged"),
    ("responded", Action.EDIT, "responded"),
])
def test_handoff_moves(current, action, expected):
    assert transition(H, "H-1", current, action) == expected


@pytest.mark.parametrize(("current", "action"), [
    ("pending", Action.RESPOND),
    ("pending", Action.CLOSE),
    ("acknowledged", Action.MARK_OVERDUE),
    ("acknowledged", Action.ACKNOWLEDGE),
    ("closed", Action.CANCEL),
    ("cancelled", Action.ACKNOWLEDGE),
    ("closed", Action.RESPOND),
])
def test_handoff_refusals_say_why(current, action):
    with pytest.raises(DomainError, match=f"H-1 is {current}, so it can't"):
        transition(H, "H-1", current, action)


# The whole table: every status against every action, None where the move is refused.
_H_TABLE = {
    "pending": {Action.ACKNOWLEDGE: "acknowledged", Action.MARK_OVERDUE: "overdue",
                Action.CANCEL: "cancelled", Action.EDIT: "pending"},
    "overdue": {Action.ACKNOWLEDGE: "acknowledged", Action.CANCEL: "cancelled",
                Action.EDIT: "overdue"},
    "acknowledged": {Action.RESPOND: "responded", Action.CLOSE: "closed",
                     Action.RESOLVE: "closed", Action.CANCEL: "cancelled",
                     Action.EDIT: "acknowledged"},
    "responded": {Action.RESPOND: "responded", Action.CLOSE: "closed", Action.RESOLVE: "closed",
                  Action.CANCEL: "cancelled", Action.EDIT: "responded"},
    "closed": {},
    "cancelled": {},
}
_D_TABLE = {
    "open": {Action.RESOLVE: "resolved", Action.CANCEL: "cancelled", Action.EDIT: "open"},
    "resolved": {},
    "cancelled": {},
}


@pytest.mark.parametrize(("kind", "table"), [(H, _H_TABLE), (D, _D_TABLE)])
def test_the_whole_transition_table(kind, table):
    for current, moves in table.items():
        for action in Action:
            expected = moves.get(action)
            if expected is None:
                with pytest.raises(DomainError, match=f"X-1 is {current}, so it can't"):
                    transition(kind, "X-1", current, action)
            else:
                assert transition(kind, "X-1", current, action) == expected, (current, action)


def test_closing_a_handoff_never_acknowledged_says_what_to_do():
    for current in ("pending", "overdue"):
        with pytest.raises(DomainError, match=r"Partner acknowledged.*or cancel it with a reason"):
            transition(H, "H-3", current, Action.CLOSE)


@pytest.mark.parametrize(("kind", "status"), [(H, "closed"), (H, "cancelled"), (D, "resolved"),
                                              (D, "cancelled")])
def test_a_record_no_longer_open_cannot_be_edited(kind, status):
    with pytest.raises(DomainError, match=f"is {status}, so it can't be edited"):
        transition(kind, "X-1", status, Action.EDIT)


def test_dependency_moves_and_refusals():
    assert transition(D, "D-1", "open", Action.RESOLVE) == "resolved"
    assert transition(D, "D-1", "open", Action.CANCEL) == "cancelled"
    with pytest.raises(DomainError, match="D-1 is resolved"):
        transition(D, "D-1", "resolved", Action.CANCEL)
    with pytest.raises(DomainError):
        transition(D, "D-1", "open", Action.ACKNOWLEDGE)


def test_person_reference_must_be_a_code():
    assert check_person_ref(" p-1042 ", pattern=r"P-\d+") == "P-1042"
    # The default pattern is explained by its example, never shown as a regular expression.
    with pytest.raises(DomainError, match=r"code such as P-1042, never a name") as err:
        check_person_ref("Mary Smith", pattern=r"P-\d+")
    assert "\\d" not in str(err.value)
    assert check_person_ref("MRN00123", pattern=r"MRN\d{5}") == "MRN00123"
    with pytest.raises(DomainError, match=r"matching `MRN\\d\{5\}`"):
        check_person_ref("P-1042", pattern=r"MRN\d{5}")


def test_risk_and_category_words():
    assert read_risk("Same Day") is Risk.SAME_DAY and read_risk("short term") is Risk.SHORT_TERM
    with pytest.raises(DomainError, match="same-day, short-term or emerging"):
        read_risk("high")
    assert read_category("clarify").needs_text and not read_category("accept").needs_text
    with pytest.raises(DomainError):
        read_category("maybe")
