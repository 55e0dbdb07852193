"""The `/baton` sub-command grammar (bot/domain/commands.py): what each sub-command's text
reads as, and the refusals a person sees."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from bot.domain import commands as grammar
from bot.domain.records import DomainError, ResponseCategory
from bot.domain.times import WorkingCalendar

LONDON = ZoneInfo("Europe/London")
# Wednesday 2 December 2026, 10:00 in London.
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
CALENDAR = WorkingCalendar()


def refused(fn, *args, **kwargs) -> str:
    with pytest.raises(DomainError) as caught:
        fn(*args, **kwargs)
    return str(caught.value)


def test_split_command_lowers_the_word_and_keeps_the_rest_as_typed():
    assert grammar.split_command("  LIST  ") == grammar.Command("list", "")
    assert grammar.split_command("") == grammar.Command("", "")
    assert grammar.split_command("Respond H-3  accept Fine by us ") == \
        grammar.Command("respond", "H-3  accept Fine by us")
    assert grammar.split_command("report from 2026-11-01 to 2026-11-30") == \
        grammar.Command("report", "from 2026-11-01 to 2026-11-30")


def test_every_record_subcommand_and_the_others_are_known_words():
    assert grammar.RECORD_SUBCOMMANDS == ("show", "ack", "respond", "resolve", "close",
                                          "cancel")
    assert set(grammar.USAGE) == {"show", "ack", "respond", "resolve", "cancel", "edit"}


def test_edit_names_its_record_first():
    assert grammar.read_record_command("edit", "H-3 risk: same-day due: friday 5pm") == \
        ("H-3", "risk: same-day due: friday 5pm")
    with pytest.raises(DomainError, match=r"Which record\? `/baton edit H-3 key: value"):
        grammar.read_record_command("edit", "")


def test_ladder_shows_uses_or_resets():
    assert grammar.read_ladder("") == grammar.LadderRequest(change=False)
    assert grammar.read_ladder("use  urgent ") == grammar.LadderRequest(True, "urgent")
    assert grammar.read_ladder("SET slow") == grammar.LadderRequest(True, "slow")
    assert grammar.read_ladder("use") == grammar.LadderRequest(True, "")
    assert grammar.read_ladder("reset") == grammar.LadderRequest(True, None)
    assert refused(grammar.read_ladder, "climb") == grammar.LADDER_USAGE


def test_report_range_defaults_to_the_last_30_days():
    today = date(2026, 12, 2)
    assert grammar.read_report_range("", today=today) == (date(2026, 11, 3), today)
    assert grammar.read_report_range("from 2026-11-01 to 2026-11-30", today=today) == \
        (date(2026, 11, 1), date(2026, 11, 30))
    assert grammar.read_report_range("FROM yesterday TO today", today=today) == \
        (date(2026, 12, 1), today)


def test_report_range_refusals():
    today = date(2026, 12, 2)
    assert refused(grammar.read_report_range, "last month", today=today) == \
        grammar.REPORT_USAGE
    assert refused(grammar.read_report_range, "from 2026-11-30 to 2026-11-01",
                   today=today) == "The report ends (2026-11-01) before it starts (2026-11-30)."
    said = refused(grammar.read_report_range, "from someday to today", today=today)
    assert "someday" in said


def test_coordinator_describe_day_and_weekly():
    caller = "U0CALLER1"
    assert grammar.read_coordinator("", caller=caller) == \
        grammar.CoordinatorRequest("describe")
    assert grammar.read_coordinator("me", caller=caller) == \
        grammar.CoordinatorRequest("day", user_id=caller)
    assert grammar.read_coordinator("<@U0OTHER01|sam> today", caller=caller) == \
        grammar.CoordinatorRequest("day", user_id="U0OTHER01")
    assert grammar.read_coordinator("<@U0OTHER01> monday, wednesday", caller=caller) == \
        grammar.CoordinatorRequest("weekly", user_id="U0OTHER01", weekdays=(0, 2))


def test_coordinator_cover_reads_who_and_the_two_days_as_typed():
    asked = grammar.read_coordinator("cover <@U0OTHER01> from tomorrow until friday",
                                     caller="U0CALLER1")
    assert asked == grammar.CoordinatorRequest("cover", user_id="U0OTHER01",
                                               cover_from="tomorrow", cover_to="friday")


def test_coordinator_refusals_name_the_field_or_the_usage():
    said = refused(grammar.read_coordinator, "cover <@U0OTHER01> next week", caller="U0C1")
    assert said == f"Say who covers and when: {grammar.COVER_USAGE}."
    said = refused(grammar.read_coordinator, "nobody today", caller="U0CALLER1")
    assert "`coordinator` must be a Slack user" in said
    with pytest.raises(DomainError):
        grammar.read_coordinator("me someday", caller="U0CALLER1")


def test_rota_day_today_tomorrow_and_a_typed_date():
    read = {"now": NOW, "tz": LONDON, "calendar": CALENDAR}
    assert grammar.read_rota_day("today", **read) == date(2026, 12, 2)
    assert grammar.read_rota_day("2026-12-02", **read) == date(2026, 12, 2)  # today, typed
    assert grammar.read_rota_day("2026-12-07", **read) == date(2026, 12, 7)
    with pytest.raises(DomainError):
        grammar.read_rota_day("2026-11-30", **read)  # in the past
    with pytest.raises(DomainError):
        grammar.read_rota_day("the twelfth of never", **read)


def test_record_command_reads_the_reference_and_the_rest():
    assert grammar.read_record_command("show", "H-3") == ("H-3", "")
    assert grammar.read_record_command("resolve", "D-2  Seen by the GP today") == \
        ("D-2", "Seen by the GP today")
    assert refused(grammar.read_record_command, "ack", "") == \
        "Which record? `/baton ack H-3`"
    # `close` is `resolve` by another name, and quotes resolve's usage.
    assert refused(grammar.read_record_command, "close", "") == \
        "Which record? `/baton resolve D-2 OUTCOME`"


def test_response_reads_the_category_and_the_text():
    assert grammar.read_response("accept We'll take it from Monday") == \
        (ResponseCategory.ACCEPT, "We'll take it from Monday")
    assert grammar.read_response("decline") == (ResponseCategory.DECLINE, "")
    assert refused(grammar.read_response, "") == \
        f"Give the response category. {grammar.USAGE['respond']}"
    with pytest.raises(DomainError):
        grammar.read_response("maybe later")


def test_every_word_the_help_names_dispatches_to_its_own_handler():
    import re

    from bot.slack.blocks.records import help_text
    from handlers import commands

    named = set(re.findall(r"/baton (\w+)", help_text()))
    assert named <= set(commands.SUBCOMMANDS)
    assert commands.SUBCOMMANDS[""] is commands.SUBCOMMANDS["help"]
    for word in grammar.RECORD_SUBCOMMANDS:
        assert commands.SUBCOMMANDS[word] is commands.SUBCOMMANDS["show"]
    assert "nonsense" not in commands.SUBCOMMANDS  # answered "I don't know …"


def test_the_help_lists_every_sub_command_there_is():
    """A sub-command missing from `/baton help` (the slot for `edit` included) fails here."""
    import re

    from bot.slack.blocks.records import BATON_HELP, help_text
    from handlers import commands

    named = set(re.findall(r"`/baton (\w+)", help_text()))
    words = set(commands.SUBCOMMANDS) - {""}
    assert words - named == set(), "sub-commands /baton help does not list"
    assert set(BATON_HELP) == words  # one line each, by the word that dispatches it
