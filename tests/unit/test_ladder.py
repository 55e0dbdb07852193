import tomllib
from datetime import UTC, datetime, timedelta
from typing import Any
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


# --- a tier that pages several targets together (`page = [..]`) ---

SEVERAL = """
[ladder.urgent]
remind_before = []
ack_timeout = "1h"
[[ladder.urgent.tiers]]
name = "Immediate risk"
page = ["<!subteam^S0EXEC001>", "<@U0SUPERV1>", "manager"]
after = "0m"
[[ladder.urgent.tiers]]
name = "Coordinator of the day"
page = ["coordinator"]
after = "30m"
"""


def _several() -> Ladder:
    return parse_ladders(tomllib.loads(SEVERAL)).ladders["urgent"]


def test_a_page_list_is_read_as_several_targets_of_one_tier():
    tier, alone = _several().tiers
    assert tier.targets == (Target("usergroup", "S0EXEC001"), Target("user", "U0SUPERV1"),
                            Target("manager"))
    assert tier.target == Target("usergroup", "S0EXEC001")
    # A one-item list is one target, written back as a plain string.
    assert alone.targets == (Target("coordinator"),) and alone.page_wire() == "coordinator"


def test_several_targets_survive_the_snapshot_round_trip_and_describe():
    ladder = _several()
    data = ladder.to_json()
    assert data["tiers"][0]["page"] == ["<!subteam^S0EXEC001>", "<@U0SUPERV1>", "manager"]
    assert Ladder.from_json(data) == ladder
    described = "\n".join(ladder.describe())
    assert 'page = ["<!subteam^S0EXEC001>", "<@U0SUPERV1>", "manager"]' in described
    # What describe() writes is config again, read back to the same ladder.
    again = parse_ladders(tomllib.loads("\n".join(ladder.describe())))
    assert again.ladders["urgent"] == ladder


@pytest.mark.parametrize(("page", "message"), [
    ("[]", "ladder.urgent.tiers[0].page: page must be a target or a list of targets"),
    ('["<@U0SUPERV1>", "bob"]', "ladder.urgent.tiers[0].page: page target “bob” must be"),
    ('["<@U0SUPERV1>", 7]', "ladder.urgent.tiers[0].page: page must be a target or a list"),
])
def test_a_bad_target_list_names_the_key(page, message):
    text = f'[ladder.urgent]\n[[ladder.urgent.tiers]]\nname="x"\npage={page}'
    with pytest.raises(LadderError) as err:
        parse_ladders(tomllib.loads(text))
    assert str(err.value).startswith(message)


def test_any_target_of_a_tier_may_acknowledge_and_all_are_named():
    from types import SimpleNamespace

    from bot.services.escalation import Audience, Authority, ConfiguredCoordinator

    members = {"S0EXEC001": frozenset({"U0EXEC0001"})}
    authority = Authority(ConfiguredCoordinator("U0COORD01"), ["U0MGR0001"],
                          group_members=lambda g: members.get(g, frozenset()))
    record: Any = SimpleNamespace(owner_id="U0OWNER01", manager_id=None, team_id="T1")
    now = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
    tier = _several().tiers[0]
    assert authority.tier_audience(tier, record, now=now) == Audience(
        users=("U0SUPERV1", "U0MGR0001"), groups=("S0EXEC001",))
    for who in ("U0EXEC0001", "U0SUPERV1", "U0MGR0001"):  # member, user, manager
        assert authority.may_acknowledge_tier(who, tier, record, now=now), who
    for who in ("U0OWNER01", "U0COORD01", "U0OTHER01"):
        assert not authority.may_acknowledge_tier(who, tier, record, now=now), who
    # The coordinator's own tier: theirs, not the executive's.
    alone = _several().tiers[1]
    assert authority.may_acknowledge_tier("U0COORD01", alone, record, now=now)
    assert not authority.may_acknowledge_tier("U0EXEC0001", alone, record, now=now)


def test_a_target_naming_nobody_does_not_open_a_tier_others_were_named_on():
    """An immediate-risk tier of the manager and the coordinator of the day, on a day with
    no coordinator: the page named the manager, so it is not the whole channel's."""
    from types import SimpleNamespace

    from bot.domain.ladder import Target, Tier
    from bot.services.escalation import Audience, Authority, ConfiguredCoordinator

    authority = Authority(ConfiguredCoordinator(None), ["U0MGR0001"])
    record: Any = SimpleNamespace(owner_id="U0OWNER01", manager_id=None, team_id="T1")
    now = datetime(2026, 11, 24, 22, 0, tzinfo=UTC)
    tier = Tier("Immediate risk", Target("manager"), also=(Target("coordinator"),))
    assert authority.tier_audience(tier, record, now=now) == Audience(users=("U0MGR0001",))
    assert authority.may_acknowledge_tier("U0MGR0001", tier, record, now=now)
    assert not authority.may_acknowledge_tier("U0STAFF01", tier, record, now=now)
    # Nobody named at all: the page went to the whole channel, and is anyone's.
    empty = Tier("Immediate risk", Target("coordinator"), also=(Target("here"),))
    assert authority.tier_audience(empty, record, now=now).channel
    assert authority.may_acknowledge_tier("U0STAFF01", empty, record, now=now)
