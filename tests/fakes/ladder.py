"""The escalation set-up the engine's end-to-end tests share: a two-tier default ladder
(tier 1 pages Bob, tier 2 the directors' user group 4 hours later) written as baton.toml,
the directors' group in the emulator, Baton served with it, and time moved on its clock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.conftest import BOB

DIRECTORS = "S0DIRECT1"  # the directors' user group, paged at tier 2


def two_tier_ladder(*, remind_before: Sequence[str] = ("2h",), tier1_channel: str | None = None,
                    tier2_channel: str | None = None, manager: str | None = None,
                    more: str = "") -> str:
    """baton.toml: the default ladder, tier 1 "Service Manager" paging Bob at once, tier 2
    "Operations Director" paging the directors after 4h, each in `tierN_channel` if given
    (else the record's channel); `more` (other ladders) after it; with `manager`, the
    manager is named and is also Baton's admin."""
    reminders = ", ".join(f'"{r}"' for r in remind_before)
    return "".join([
        "\nchannel_post_interval = 0\n",
        f'managers = ["{manager}"]\n' if manager else "",
        f'\n[ladder.default]\nremind_before = [{reminders}]\nack_timeout = "6h"\n',
        '\n[[ladder.default.tiers]]\nname = "Service Manager"\n',
        f'page = "<@{BOB}>"\n',
        f'channel = "{tier1_channel}"\n' if tier1_channel else "",
        'after = "0m"\n',
        '\n[[ladder.default.tiers]]\nname = "Operations Director"\n',
        f'page = "<!subteam^{DIRECTORS}>"\n',
        f'channel = "{tier2_channel}"\n' if tier2_channel else "",
        'after = "4h"\n',
        more,
        (f'\n[roles]\nadmins = ["{manager}"]  # the manager is also Baton\'s admin here\n'
         if manager else ""),
    ])


def ladder_config(tmp_path: Path, slack: Any, ladder: str, directors: Sequence[str]) -> Path:
    """`ladder` written as baton.toml in `tmp_path`, the directors' user group (`directors`
    its members) in the emulator. Returns the file (for BATON_CONFIG)."""
    cfg = tmp_path / "baton.toml"
    cfg.write_text(ladder)
    slack.add_usergroup(DIRECTORS, "directors", list(directors))
    return cfg


def serve_with_ladder(serve_factory: Any, database_url: str, tmp_path: Path, slack: Any,
                      ladder: str, directors: Sequence[str]) -> Any:
    """Baton served on `ladder` (see ladder_config)."""
    cfg = ladder_config(tmp_path, slack, ladder, directors)
    return serve_factory(database_url, BATON_CONFIG=str(cfg))


def at(baton: Any, when: datetime) -> int:
    """Baton's clock set to `when`, then one engine sweep: the due work it handled."""
    baton.clock.set(when)
    return int(baton.runtime.engine.run_due())
