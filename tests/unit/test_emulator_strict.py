"""The emulator refuses what Slack refuses, with Slack's error codes and answer shapes.

Each test drives an unmodified slack_sdk client (or raw HTTP, for a response_url) against
the emulator and checks one rule: if one of these passes where Slack would refuse, Baton's
own tests could pass where Slack would fail it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.clock import FixedClock
from bot.console.emulator import (
    LENIENCIES,
    POST_BURST,
    RESPONSE_URL_USES,
    SlackEmulator,
    manifest_bot_scopes,
)

TOKEN = "xoxb-strict"


@pytest.fixture
def emu() -> Iterator[SlackEmulator]:
    with SlackEmulator(team_id="T0STRICT", token=TOKEN) as emulator:
        emulator.add_user("U0ALICE01")
        emulator.add_channel("C0CARE01", "care-coordination")
        emulator.add_channel("C0PUBLIC1", "outreach", is_member=False)
        emulator.add_channel("G0PRIV001", "safeguarding", is_private=True, is_member=False)
        emulator.add_channel("C0OLD0001", "old-intake", is_archived=True)
        yield emulator


@pytest.fixture
def client(emu: SlackEmulator) -> WebClient:
    return WebClient(token=TOKEN, base_url=emu.base_url, timeout=5)


def _refusal(call: Callable[[], object]) -> dict:
    with pytest.raises(SlackApiError) as err:
        call()
    return dict(err.value.response.data)


def _section(text: str, block_id: str | None = None) -> dict:
    block = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if block_id:
        block["block_id"] = block_id
    return block


def _modal(**extra: object) -> dict:
    return {"type": "modal", "callback_id": "handoff",
            "title": {"type": "plain_text", "text": "New handoff"},
            "submit": {"type": "plain_text", "text": "Log"},
            "blocks": [_section("hi")], **extra}


# --- channels ---


def test_an_unknown_channel_is_channel_not_found(client: WebClient) -> None:
    assert _refusal(lambda: client.chat_postMessage(channel="C0NOWHERE", text="x")) == \
        {"ok": False, "error": "channel_not_found"}


def test_a_public_channel_baton_is_not_in_takes_posts_with_chat_write_public_only(
        emu: SlackEmulator, client: WebClient) -> None:
    assert client.chat_postMessage(channel="C0PUBLIC1", text="card")["ok"] is True
    # ... but a file is shared only where Baton is a member.
    err = _refusal(lambda: client.files_upload_v2(channel="C0PUBLIC1", content="a,b",
                                                  filename="records.csv"))
    assert err["error"] == "not_in_channel"
    # Without chat:write.public the post is refused too.
    with SlackEmulator(token=TOKEN, scopes={"chat:write"}) as narrow:
        narrow.add_channel("C0PUBLIC1", "outreach", is_member=False)
        c = WebClient(token=TOKEN, base_url=narrow.base_url, timeout=5)
        assert _refusal(lambda: c.chat_postMessage(channel="C0PUBLIC1", text="x"))["error"] \
            == "not_in_channel"


def test_a_private_channel_baton_was_never_invited_to_does_not_exist_for_it(
        emu: SlackEmulator, client: WebClient) -> None:
    assert _refusal(lambda: client.chat_postMessage(channel="G0PRIV001", text="x"))["error"] \
        == "channel_not_found"
    emu.set_member("G0PRIV001", True)  # /invite @Baton
    assert client.chat_postMessage(channel="G0PRIV001", text="x")["ok"] is True
    emu.set_member("G0PRIV001", False)  # removed again
    assert _refusal(lambda: client.chat_update(channel="G0PRIV001", ts="1.0", text="y"))[
        "error"] == "channel_not_found"


def test_an_archived_channel_takes_nothing_new(emu: SlackEmulator, client: WebClient) -> None:
    assert _refusal(lambda: client.chat_postMessage(channel="C0OLD0001", text="x"))["error"] \
        == "is_archived"
    posted = client.chat_postMessage(channel="C0CARE01", text="x")
    emu.archive_channel("C0CARE01")
    assert _refusal(lambda: client.chat_postMessage(channel="C0CARE01", text="y",
                                                    thread_ts=posted["ts"]))["error"] \
        == "is_archived"


def test_a_leniency_is_asked_for_by_name() -> None:
    with SlackEmulator(lenient={"unknown_channels"}) as emu:
        c = WebClient(base_url=emu.base_url, timeout=5)
        assert c.chat_postMessage(channel="C0ANYWHERE", text="x")["ok"] is True
    with pytest.raises(ValueError, match="unknown leniencies"):
        SlackEmulator(lenient={"everything"})
    assert {"unknown_channels", "unissued_triggers", "rate_limits", "scopes",
            "unknown_users"} == LENIENCIES


# --- trigger_id ---


def test_a_trigger_id_opens_one_view_within_three_seconds(emu: SlackEmulator,
                                                          client: WebClient) -> None:
    fresh = emu.issue_trigger()
    assert client.views_open(trigger_id=fresh, view=_modal())["ok"] is True
    assert _refusal(lambda: client.views_open(trigger_id=fresh, view=_modal()))["error"] == \
        "exchanged_trigger_id"
    stale = emu.issue_trigger(age=3.5)
    assert _refusal(lambda: client.views_open(trigger_id=stale, view=_modal()))["error"] == \
        "expired_trigger_id"
    assert _refusal(lambda: client.views_open(trigger_id="12345.678.made-up", view=_modal()))[
        "error"] == "invalid_trigger_id"


def test_trigger_lifetime_follows_the_injected_clock(emu: SlackEmulator,
                                                     client: WebClient) -> None:
    clock = FixedClock(datetime(2026, 11, 23, 14, 0, tzinfo=UTC))
    emu.follow_clock(clock.now)
    trigger = emu.issue_trigger()
    clock.advance(timedelta(seconds=4))  # the request was redone after a restart
    assert _refusal(lambda: client.views_open(trigger_id=trigger, view=_modal()))["error"] == \
        "expired_trigger_id"


# --- views ---


@pytest.mark.parametrize("change, pointer", [
    ({"submit": None, "blocks": [{"type": "input", "block_id": "b",
                                  "label": {"type": "plain_text", "text": "Person"},
                                  "element": {"type": "plain_text_input", "action_id": "a"}}]},
     "must provide a submit property"),
    ({"title": {"type": "mrkdwn", "text": "New handoff"}}, "/view/title"),
    ({"callback_id": "x" * 256}, "/view/callback_id"),
    ({"blocks": [_section("a", "same"), _section("b", "same")]}, "/view/blocks/1/block_id"),
])
def test_views_slack_refuses(emu: SlackEmulator, client: WebClient, change: dict,
                             pointer: str) -> None:
    view = {k: v for k, v in {**_modal(), **change}.items() if v is not None}
    err = _refusal(lambda: client.views_open(trigger_id=emu.issue_trigger(), view=view))
    assert err["error"] == "invalid_arguments"
    assert any(pointer in m for m in err["response_metadata"]["messages"]), err


def test_the_home_tab_refuses_duplicate_block_ids(client: WebClient) -> None:
    home = {"type": "home", "blocks": [_section("a", "row:1"), _section("b", "row:1")]}
    err = _refusal(lambda: client.views_publish(user_id="U0ALICE01", view=home))
    assert err["error"] == "invalid_arguments"


# --- blocks ---


def test_invalid_blocks_carries_slacks_errors_array(client: WebClient) -> None:
    blocks = [_section("a", "card"), _section("b", "card")]
    err = _refusal(lambda: client.chat_postMessage(channel="C0CARE01", text="x", blocks=blocks))
    assert err["error"] == "invalid_blocks"
    assert err["errors"] == ["duplicate block_id [json-pointer:/blocks/1/block_id]"]
    buttons = {"type": "actions", "elements": [
        {"type": "button", "action_id": "ack", "text": {"type": "plain_text", "text": "A"}},
        {"type": "button", "action_id": "ack", "text": {"type": "plain_text", "text": "B"}}]}
    err = _refusal(lambda: client.chat_postMessage(channel="C0CARE01", text="x",
                                                   blocks=[buttons]))
    assert "duplicate action_id" in err["errors"][0]


# --- scopes ---


def test_the_emulator_grants_what_manifest_yml_asks_for() -> None:
    scopes = manifest_bot_scopes()
    assert scopes is not None and "chat:write" in scopes
    with SlackEmulator(token=TOKEN) as emu:
        assert emu.scopes == scopes


def test_a_method_whose_scope_is_not_granted_is_missing_scope() -> None:
    with SlackEmulator(token=TOKEN, scopes={"chat:write", "commands"}) as emu:
        emu.add_user("U0ALICE01")
        c = WebClient(token=TOKEN, base_url=emu.base_url, timeout=5)
        err = _refusal(lambda: c.users_info(user="U0ALICE01"))
        assert err == {"ok": False, "error": "missing_scope", "needed": "users:read",
                       "provided": "chat:write,commands"}
        assert _refusal(lambda: c.conversations_open(users="U0ALICE01"))["needed"] == "im:write"


# --- users and tokens ---


def test_conversations_open_for_an_unknown_user_is_user_not_found(client: WebClient) -> None:
    assert _refusal(lambda: client.conversations_open(users="U0NOBODY1"))["error"] == \
        "user_not_found"
    assert client.conversations_open(users="U0ALICE01")["channel"]["id"].startswith("D")


@pytest.mark.parametrize("error", ["token_revoked", "account_inactive"])
def test_a_revoked_token_is_refused_for_every_method(emu: SlackEmulator, client: WebClient,
                                                     error: str) -> None:
    emu.revoke_token(TOKEN, error=error)
    assert _refusal(lambda: client.chat_postMessage(channel="C0CARE01", text="x"))["error"] \
        == error
    assert _refusal(lambda: client.auth_test())["error"] == error
    emu.restore_token(TOKEN)
    assert client.auth_test()["ok"] is True


# --- response_url ---


def test_a_response_url_takes_five_uses_within_thirty_minutes(emu: SlackEmulator) -> None:
    url = emu.response_url("cmd-1")
    for _ in range(RESPONSE_URL_USES):
        assert httpx.post(url, json={"text": "ok"}).status_code == 200
    sixth = httpx.post(url, json={"text": "again"})
    assert (sixth.status_code, sixth.json()["error"]) == (404, "used_url")
    old = emu.response_url("cmd-2", age=30 * 60 + 1)
    late = httpx.post(old, json={"text": "late"})
    assert (late.status_code, late.json()["error"]) == (404, "expired_url")


# --- rate limits ---


def test_posting_past_about_one_a_second_per_channel_is_429_with_retry_after(
        emu: SlackEmulator) -> None:
    clock = FixedClock(datetime(2026, 11, 23, 14, 0, tzinfo=UTC))
    emu.follow_clock(clock.now)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=emu.base_url, headers=headers) as http:
        answers = [http.post("chat.postMessage", data={"channel": "C0CARE01", "text": str(i)})
                   for i in range(POST_BURST + 1)]
        assert [a.status_code for a in answers[:POST_BURST]] == [200] * POST_BURST
        limited = answers[-1]
        assert limited.status_code == 429
        assert limited.json() == {"ok": False, "error": "ratelimited"}
        assert int(limited.headers["Retry-After"]) >= 1
        # Another channel has its own allowance; the limited message was not posted.
        assert http.post("chat.postMessage", data={"channel": "C0PUBLIC1", "text": "x"}) \
            .status_code == 200
        assert len(emu.messages("C0CARE01")) == POST_BURST
        clock.advance(timedelta(seconds=2))
        assert http.post("chat.postMessage", data={"channel": "C0CARE01", "text": "later"}) \
            .status_code == 200
