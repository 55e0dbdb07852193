"""Which Slack message is a record's card: the one Baton's own bot posted with the record's
metadata (another app in the channel can post the same metadata)."""

from types import SimpleNamespace

from bot.slack.cards import card_metadata, is_card_of

RECORD = SimpleNamespace(team_id="T0BATON", id=7, reference="H-7")


def _message(**extra: object) -> dict:
    return {"ts": "1.000100", "bot_id": "BBATON", "metadata": card_metadata(RECORD), **extra}


def test_baton_s_own_card_is_found_and_another_apps_copy_is_not() -> None:
    assert is_card_of(_message(), RECORD, bot_id="BBATON")
    assert not is_card_of(_message(bot_id="BOTHERAPP"), RECORD, bot_id="BBATON")
    assert not is_card_of({k: v for k, v in _message().items() if k != "bot_id"}, RECORD)


def test_a_card_of_another_record_or_workspace_or_a_thread_reply_is_not_it() -> None:
    other = SimpleNamespace(team_id="T0BATON", id=8, reference="H-8")
    assert not is_card_of(_message(metadata=card_metadata(other)), RECORD, bot_id="BBATON")
    elsewhere = SimpleNamespace(team_id="T0OTHER", id=7, reference="H-7")
    assert not is_card_of(_message(metadata=card_metadata(elsewhere)), RECORD)
    assert not is_card_of(_message(thread_ts="0.5"), RECORD, bot_id="BBATON")
