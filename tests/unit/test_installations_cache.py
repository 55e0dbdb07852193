"""Installations (bot/slack/clients.py): bot tokens by workspace, cached for a while on an
injected timer (cachetools' TTLCache), a missing one never cached, `forget` at once."""

from __future__ import annotations

from bot.slack.clients import Installations


class _Counting(Installations):
    """The store's answers from a dict, counted."""

    def __init__(self, tokens: dict[str, str], now: list[float]) -> None:
        # No store: _latest_bot_token answers from the dict.
        super().__init__(None, ttl=300.0, timer=lambda: now[0])  # type: ignore[arg-type]
        self.tokens = tokens
        self.asked: list[str] = []

    def _latest_bot_token(self, team_id: str) -> str | None:
        self.asked.append(team_id)
        return self.tokens.get(team_id)


def test_a_token_is_cached_for_its_ttl_then_asked_again() -> None:
    now = [1000.0]
    inst = _Counting({"T0ONE": "xoxb-1"}, now)
    assert inst.token("T0ONE") == "xoxb-1"
    inst.tokens["T0ONE"] = "xoxb-2"  # a reinstall
    now[0] += 299.9
    assert inst.token("T0ONE") == "xoxb-1" and inst.asked == ["T0ONE"]
    now[0] += 0.1
    assert inst.token("T0ONE") == "xoxb-2" and inst.asked == ["T0ONE", "T0ONE"]


def test_a_missing_token_is_not_cached_and_forget_drops_one_at_once() -> None:
    now = [0.0]
    inst = _Counting({}, now)
    assert inst.token("T0TWO") is None
    inst.tokens["T0TWO"] = "xoxb-new"  # installed meanwhile
    assert inst.token("T0TWO") == "xoxb-new"
    inst.tokens["T0TWO"] = "xoxb-newer"
    inst.forget("T0TWO")
    assert inst.token("T0TWO") == "xoxb-newer"
    assert inst.asked == ["T0TWO", "T0TWO", "T0TWO"]
