import tomllib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.ladder import DEFAULT_LADDER, Ladder, LadderError, Target, parse_ladders, shift
from bot.domain.records import RecordKind, Risk
from bot.domain.schedule import initial_work, page_after

NY = ZoneInfo("America/New_York")

EXAMPLE = """
[ladder.default]
remind_before = ["24h", "2h"]
ack_timeout = "4h"
[[ladder.default.tiers]]
name = "Service Manager"
page = "<!subteam^S0123ABC>"
channel = ""
after = "0m"
[[ladder.default.tiers]]
name = "Operations Director"
page = "<@U0456DEF>"
after = "4h"

[ladder.urgent]
remind_before = ["2h", "30m"]
ack_timeout = "PT1H"
[[ladder.urgent.tiers]]
name = "Coordinator of the day"
page = "coordinator"
after = "90s"

[ladder_for_risk]
same-day = "urgent"
"""


def test_readme_example_parses():
    config = parse_ladders(tomllib.loads(EXAMPLE))
    default = config.ladders["default"]
    assert default.remind_before == (timedelta(hours=24), timedelta(hours=2))
    assert [t.target for t in default.tiers] == [Target("usergroup", "S0123ABC"),
                                                  Target("user", "U0456DEF")]
    assert default.tiers[1].after == timedelta(hours=4)
    assert config.ladders["urgent"].ack_timeout == timedelta(hours=1)
    assert config.ladders["urgent"].tiers[0].after == timedelta(seconds=90)
    assert config.for_record(Risk.SAME_DAY).name == "urgent"
    assert config.for_record(Risk.EMERGING).name == "default"
    assert config.for_record(Risk.SAME_DAY, channel_ladder="default").name == "default"


@pytest.mark.parametrize(("text", "message"), [
    ('[ladder.default]\nack_timeout = "soon"\n[[ladder.default.tiers]]\nname="x"\npage="owner"',
     "ladder.default.ack_timeout: Couldn't read the duration “soon”"),
    ('[ladder.default]\n[[ladder.default.tiers]]\nname="x"\npage="bob"',
     "ladder.default.tiers[0].page: page target “bob” must be"),
    ('[ladder.default]\nremind_before = "2h"\n[[ladder.default.tiers]]\nname="x"\npage="owner"',
     "ladder.default.remind_before: must be a list"),
    ('[ladder.default]\nack_timeout = "1h"', "ladder.default.tiers: at least one"),
    ('[ladder.default]\n[[ladder.default.tiers]]\nname="x"\npage="owner"\nafter="-1h"',
     "ladder.default.tiers[0].after: The duration “-1h” is negative"),
    ('[ladder.default]\n[[ladder.default.tiers]]\nname="x"\npage="owner"\n'
     '[ladder_for_risk]\nsame-day = "urgent"', "ladder_for_risk.same-day: no ladder named"),
    ('[ladder.default]\nescalate = 1\n[[ladder.default.tiers]]\nname="x"\npage="owner"',
     "ladder.default.escalate: unknown key"),
])
def test_bad_ladders_name_the_key(text, message):
    with pytest.raises(LadderError) as err:
        parse_ladders(tomllib.loads(text))
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_no_file_gives_the_default_ladder():
    assert parse_ladders({}).ladders == {"default": DEFAULT_LADDER}
    assert Ladder.from_json(DEFAULT_LADDER.to_json()) == DEFAULT_LADDER


def test_whole_days_keep_wall_time_across_dst_and_hours_are_elapsed():
    deadline = datetime(2026, 11, 1, 22, 0, tzinfo=UTC)  # Sunday 17:00 EST
    assert shift(deadline, -timedelta(hours=24), NY) == datetime(2026, 10, 31, 21, 0, tzinfo=UTC)
    assert shift(deadline, -timedelta(hours=2), NY) == datetime(2026, 11, 1, 20, 0, tzinfo=UTC)
    spring = datetime(2026, 3, 9, 21, 0, tzinfo=UTC)  # Monday 17:00 EDT
    assert shift(spring, -timedelta(days=1), NY) == datetime(2026, 3, 8, 21, 0, tzinfo=UTC)
    assert shift(spring, -timedelta(days=2), NY) == datetime(2026, 3, 7, 22, 0, tzinfo=UTC)


def test_initial_work_drops_reminders_already_past_and_plans_the_deadline():
    now = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)
    due = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
    work = initial_work(kind=RecordKind.HANDOFF, due_at=due, now=now, ladder=DEFAULT_LADDER,
                        tz=NY)
    assert [(w.kind, w.due_at, w.reason) for w in work] == [("deadline", due, "overdue")]
    later = initial_work(kind=RecordKind.DEPENDENCY, due_at=due, now=now - timedelta(days=2),
                         ladder=DEFAULT_LADDER, tz=NY, safeguard_until=due + timedelta(hours=1))
    assert [w.kind for w in later] == ["reminder", "reminder", "deadline", "deadline"]
    assert [w.reason for w in later if w.kind == "deadline"] == ["review", "safeguard"]


def test_page_after_counts_from_when_the_previous_step_fell_due():
    due = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
    p2 = page_after(DEFAULT_LADDER, 2, due, NY, reason="overdue")
    assert p2 is not None and p2.due_at == due + timedelta(hours=1) and p2.tier == 2
    assert page_after(DEFAULT_LADDER, 4, due, NY, reason="overdue") is None


def test_the_readme_ladder_example_is_valid():
    import re
    from pathlib import Path

    readme = Path(__file__).resolve().parents[2] / "README.md"
    blocks = re.findall(r"```toml\n(.*?)```", readme.read_text(), flags=re.S)
    example = next(b for b in blocks if "[ladder.default]" in b)
    config = parse_ladders(tomllib.loads(example))
    assert set(config.ladders) == {"default", "urgent"}
    assert config.for_record(Risk.SAME_DAY).name == "urgent"
    assert config.ladders["default"].tiers[0].target == Target("usergroup", "S0123ABC")
