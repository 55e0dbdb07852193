"""The Slack emulator, driven through an unmodified slack_sdk WebClient (and raw httpx).

These tests pin the wire protocol the rest of the suite relies on: if they pass, code
that works against the emulator is talking to it the way it would talk to Slack.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.console.emulator import Call, SlackEmulator

TOKEN = "xoxb-emulator-test"


@pytest.fixture
def emu() -> Iterator[SlackEmulator]:
    emulator = SlackEmulator(team_id="T0TEST", bot_user_id="UBOT", bot_id="BBOT", token=TOKEN)
    with emulator:
        for channel in ("C1", "C9"):
            emulator.add_channel(channel, channel.lower())
        for user in ("U1", "U2"):
            emulator.add_user(user)
        yield emulator


@pytest.fixture
def client(emu: SlackEmulator) -> WebClient:
    return WebClient(token=TOKEN, base_url=emu.base_url, timeout=5)


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def test_base_url_is_loopback_ephemeral_port_with_trailing_slash(emu: SlackEmulator) -> None:
    assert emu.base_url.startswith("http://127.0.0.1:")
    assert emu.base_url.endswith("/api/")
    assert emu.port not in (0, 80, 443, 3000)


def test_auth_test_reports_configured_identity(emu: SlackEmulator, client: WebClient) -> None:
    resp = client.auth_test()

    assert resp["ok"] is True
    assert (resp["team_id"], resp["user_id"], resp["bot_id"]) == ("T0TEST", "UBOT", "BBOT")
    assert resp["url"].startswith("https://")
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    [call] = emu.calls_to("auth.test")
    assert call.status == 200
    # Headers are recorded and looked up case-insensitively (urllib sends "Authorization").
    assert call.headers["authorization"] == f"Bearer {TOKEN}"
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"


def test_post_then_update_edits_in_place_and_threads_are_separate(
    emu: SlackEmulator, client: WebClient
) -> None:
    posted = client.chat_postMessage(channel="C1", text="first", blocks=[_section("v1")])
    ts = posted["ts"]
    assert posted["channel"] == "C1"
    assert posted["message"]["text"] == "first"

    r1 = client.chat_postMessage(channel="C1", text="reply 1", thread_ts=ts)
    r2 = client.chat_postMessage(channel="C1", text="reply 2", thread_ts=ts)
    second = client.chat_postMessage(channel="C1", text="second top-level")
    updated = client.chat_update(
        channel="C1", ts=ts, text="first (edited)", blocks=[_section("v2")]
    )

    assert updated["ts"] == ts
    assert updated["message"]["edited"]["user"] == "UBOT"
    # ts values are unique, increasing, and Slack-shaped.
    stamps = [ts, r1["ts"], r2["ts"], second["ts"]]
    assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 4
    assert all(len(s.split(".")[1]) == 6 for s in stamps)

    top = emu.messages("C1")
    assert [m["text"] for m in top] == ["first (edited)", "second top-level"]
    assert top[0]["blocks"] == [_section("v2")]
    assert top[0]["edited"] is True and top[0]["edit_count"] == 1
    assert top[0]["user"] == "UBOT"
    assert top[0]["reply_count"] == 2
    assert "thread_ts" not in top[0]

    thread = emu.thread("C1", ts)
    assert [m["text"] for m in thread] == ["reply 1", "reply 2"]
    assert all(m["thread_ts"] == ts for m in thread)
    assert emu.message("C1", r2["ts"])["text"] == "reply 2"
    assert emu.message("C1", "1.000000") is None


def test_update_of_unknown_message_and_bad_posts_are_slack_errors(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as unknown:
        client.chat_update(channel="C1", ts="1700000000.000001", text="x")
    assert unknown.value.response.status_code == 200
    assert unknown.value.response["error"] == "message_not_found"

    # slack_sdk itself warns about the missing text before sending the request.
    with pytest.warns(UserWarning), pytest.raises(SlackApiError) as no_text:
        client.chat_postMessage(channel="C1", text="")
    assert no_text.value.response["error"] == "no_text"

    with pytest.raises(SlackApiError) as no_channel:
        client.chat_postMessage(channel="", text="hello")
    assert no_channel.value.response["error"] == "channel_not_found"


def test_form_encoded_blocks_stay_strings_and_json_param_decodes(emu: SlackEmulator) -> None:
    blocks = [_section("from a form")]
    resp = httpx.post(
        emu.base_url + "chat.postMessage",
        data={"channel": "C9", "blocks": json.dumps(blocks)},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )

    assert resp.json()["ok"] is True
    [call] = emu.calls_to("chat.postMessage")
    assert isinstance(call.params["blocks"], str)
    assert call.json_param("blocks") == blocks
    assert call.json_param("channel") == "C9"
    assert emu.messages("C9")[0]["blocks"] == blocks


def test_users_info_reports_tz_offset_from_zoneinfo(emu: SlackEmulator, client: WebClient) -> None:
    emu.add_user("U1", name="casey", tz="America/Los_Angeles", is_admin=True)

    user = client.users_info(user="U1")["user"]

    expected = datetime.now(ZoneInfo("America/Los_Angeles")).utcoffset()
    assert expected is not None
    assert user["tz"] == "America/Los_Angeles"
    assert user["tz_offset"] == int(expected.total_seconds())
    assert user["tz_label"] in ("Pacific Standard Time", "Pacific Daylight Time")
    assert user["is_admin"] is True and user["is_bot"] is False
    assert user["name"] == "casey" and user["profile"]["display_name"] == "casey"

    with pytest.raises(SlackApiError) as missing:
        client.users_info(user="UNOPE")
    assert missing.value.response["error"] == "user_not_found"


def test_views_open_stores_decoded_view_and_requires_trigger_id(
    emu: SlackEmulator, client: WebClient
) -> None:
    view = {
        "type": "modal",
        "callback_id": "handoff",
        "title": {"type": "plain_text", "text": "New handoff"},
        "blocks": [_section("hi")],
    }

    opened = client.views_open(trigger_id=emu.issue_trigger(), view=view)["view"]

    assert opened["id"].startswith("V")
    assert opened["state"] == {"values": {}}
    assert opened["hash"]
    stored = emu.views[opened["id"]]
    assert stored["callback_id"] == "handoff"
    assert stored["blocks"] == [_section("hi")]

    updated = client.views_update(
        view_id=opened["id"], hash=opened["hash"], view={**view, "blocks": [_section("bye")]}
    )["view"]
    assert updated["id"] == opened["id"] and updated["hash"] != opened["hash"]
    assert emu.views[opened["id"]]["blocks"] == [_section("bye")]

    with pytest.raises(SlackApiError) as stale:
        client.views_update(view_id=opened["id"], hash=opened["hash"], view=view)
    assert stale.value.response["error"] == "hash_conflict"

    with pytest.raises(SlackApiError) as no_trigger:
        client.views_open(view=view)
    assert no_trigger.value.response["error"] == "invalid_arguments"
    assert len(emu.views) == 1


def test_views_publish_keeps_one_home_view_per_user(emu: SlackEmulator, client: WebClient) -> None:
    home = {"type": "home", "blocks": [_section("home 1")]}
    first = client.views_publish(user_id="U1", view=home)["view"]
    second = client.views_publish(user_id="U1", view={**home, "blocks": [_section("home 2")]})

    assert second["view"]["id"] == first["id"]
    assert emu.home_views["U1"]["blocks"] == [_section("home 2")]
    assert emu.views == {}


def test_rate_limit_surfaces_as_429_with_retry_after(emu: SlackEmulator, client: WebClient) -> None:
    emu.fail_next("chat.postMessage", status=429, retry_after=7)

    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C1", text="hello")

    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "7"
    assert err.value.response["error"] == "ratelimited"
    [call] = emu.calls_to("chat.postMessage")
    assert call.status == 429
    assert emu.messages("C1") == []


def test_rate_limit_retry_handler_succeeds_on_retry(emu: SlackEmulator) -> None:
    client = WebClient(
        token=TOKEN, base_url=emu.base_url, retry_handlers=[RateLimitErrorRetryHandler()]
    )
    emu.fail_next("chat.postMessage", status=429, retry_after=1)

    started = time.monotonic()
    resp = client.chat_postMessage(channel="C1", text="eventually")

    assert resp["ok"] is True
    assert time.monotonic() - started >= 1.0  # it honoured Retry-After
    assert [c.status for c in emu.calls_to("chat.postMessage")] == [429, 200]
    assert [m["text"] for m in emu.messages("C1")] == ["eventually"]


def test_fail_next_500_then_recovers_and_error_form(emu: SlackEmulator, client: WebClient) -> None:
    emu.fail_next(None, status=500, times=2)

    for _ in range(2):
        with pytest.raises(SlackApiError) as err:
            client.auth_test()
        assert err.value.response.status_code == 500
    assert client.auth_test()["ok"] is True

    emu.fail_next("chat.postMessage", error="channel_is_archived")
    with pytest.raises(SlackApiError) as api_err:
        client.chat_postMessage(channel="C1", text="x")
    assert api_err.value.response.status_code == 200
    assert api_err.value.response["error"] == "channel_is_archived"
    assert [c.status for c in emu.calls] == [500, 500, 200, 200]


def test_wait_for_blocks_until_another_thread_calls(emu: SlackEmulator, client: WebClient) -> None:
    def later() -> None:
        time.sleep(0.1)
        client.chat_postMessage(channel="C1", text="one")
        client.chat_postMessage(channel="C1", text="two")

    worker = threading.Thread(target=later)
    worker.start()
    calls = emu.wait_for("chat.postMessage", count=2, timeout=30)
    worker.join()

    assert [c.params["text"] for c in calls] == ["one", "two"]


def test_wait_for_timeout_lists_methods_seen(emu: SlackEmulator, client: WebClient) -> None:
    client.auth_test()

    with pytest.raises(AssertionError, match=r"auth\.test"):
        emu.wait_for("chat.update", timeout=0.2)


def test_response_url_posts_are_recorded(emu: SlackEmulator) -> None:
    url = emu.response_url("approve/42")

    resp = httpx.post(url, json={"replace_original": True, "text": "Approved"})

    assert resp.status_code == 200 and resp.json() == {"ok": True}
    [call] = emu.wait_for("response_url")
    assert call.params == {"replace_original": True, "text": "Approved", "_key": "approve/42"}

    emu.fail_next("response_url", status=404)
    assert httpx.post(url, json={"text": "again"}).status_code == 404


def test_wrong_token_gets_invalid_auth(emu: SlackEmulator) -> None:
    bad = WebClient(token="xoxb-wrong", base_url=emu.base_url)

    with pytest.raises(SlackApiError) as err:
        bad.auth_test()

    assert err.value.response["error"] == "invalid_auth"
    # A form 'token' field is accepted like the header.
    form = httpx.post(emu.base_url + "auth.test", data={"token": TOKEN})
    assert form.json()["ok"] is True


def test_unknown_method_is_answered_and_recorded(emu: SlackEmulator, client: WebClient) -> None:
    with pytest.raises(SlackApiError) as err:
        client.api_call("pins.add", params={"channel": "C1"})

    assert err.value.response["error"] == "unknown_method"
    assert [c.method for c in emu.calls] == ["pins.add"]


def test_files_upload_v2_lands_bytes(emu: SlackEmulator, client: WebClient) -> None:
    payload = b"handoff summary\n\x00\xffbinary-safe"

    resp = client.files_upload_v2(
        channel="C1", content=payload, filename="summary.txt", title="Summary"
    )

    file_id = resp["file"]["id"]
    assert resp["file"]["title"] == "Summary"
    uploaded = emu.uploaded_files()[file_id]
    assert uploaded == {
        "filename": "summary.txt",
        "title": "Summary",
        "bytes": payload,
        "channel_id": "C1",
    }
    assert [c.method for c in emu.calls] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]


def test_conversations_and_usergroups(emu: SlackEmulator, client: WebClient) -> None:
    emu.add_usergroup("S1", "nurses", ["U1", "U2"])

    dm = client.conversations_open(users=["U1"])["channel"]["id"]
    again = client.conversations_open(users="U1")["channel"]["id"]
    assert dm.startswith("D") and dm == again
    assert client.conversations_open(users="U2")["channel"]["id"] != dm
    with pytest.raises(SlackApiError) as err:  # manifest.yml does not ask for channels:read
        client.conversations_info(channel="C1")
    assert (err.value.response["error"], err.value.response["needed"]) == \
        ("missing_scope", "channels:read")
    assert client.usergroups_users_list(usergroup="S1")["users"] == ["U1", "U2"]
    with pytest.raises(SlackApiError) as err:
        client.usergroups_users_list(usergroup="S404")
    assert err.value.response["error"] == "no_such_subteam"

    link = client.chat_getPermalink(channel="C1", message_ts="1700000000.000100")
    assert link["permalink"].endswith("/archives/C1/p1700000000000100")
    eph = client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    assert eph["message_ts"] and emu.ephemerals("C1")[0]["user"] == "U1"


def test_on_call_observer_sees_each_call(emu: SlackEmulator, client: WebClient) -> None:
    seen: list[Call] = []
    emu.on_call(seen.append)

    client.auth_test()
    client.chat_postMessage(channel="C1", text="x")

    assert [c.method for c in seen] == ["auth.test", "chat.postMessage"]
    assert seen[1].response["ok"] is True
    emu.clear()
    assert emu.calls == [] and len(emu.messages("C1")) == 1  # clear keeps state


def test_keep_alive_and_concurrency() -> None:
    # 300 posts into one channel at once: Slack would rate-limit them; this is about the
    # connections, so it asks for that leniency by name.
    emu = SlackEmulator(token=TOKEN, lenient={"rate_limits"}).start()
    emu.add_channel("CK", "keep-alive")
    headers = {"Authorization": f"Bearer {TOKEN}"}

    def hammer(n: int) -> None:
        # One httpx.Client = one pooled keep-alive connection reused for every request.
        with httpx.Client(base_url=emu.base_url, headers=headers) as http:
            for i in range(n):
                body = http.post("chat.postMessage", data={"channel": "CK", "text": str(i)})
                assert body.json()["ok"] is True

    workers = [threading.Thread(target=hammer, args=(50,)) for _ in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=10)

    messages = emu.messages("CK")
    emu.stop()
    assert len(messages) == 300
    assert len({m["ts"] for m in messages}) == 300


def test_stop_closes_idle_keep_alive_connections() -> None:
    emulator = SlackEmulator().start()
    http = httpx.Client(base_url=emulator.base_url)
    assert http.post("auth.test").json()["ok"] is True  # leaves a pooled open connection

    started = time.monotonic()
    emulator.stop()

    assert time.monotonic() - started < 2
    with pytest.raises(httpx.TransportError):
        http.post("auth.test")
    http.close()


def test_two_emulators_never_mint_the_same_ids():
    # A console reusing its database meets the request keys of earlier sessions (trigger_ids,
    # view IDs): a fresh emulator must never issue one again, even in the same second.
    first, second = SlackEmulator(team_id="T0CONSOLE"), SlackEmulator(team_id="T0CONSOLE")
    triggers = [e.issue_trigger() for e in (first, second) for _ in range(3)]
    assert len(set(triggers)) == 6
    assert all(re.fullmatch(r"\d{10}\.\d{6}\.[0-9a-f]{32}", t) for t in triggers)
    ids = [e._next_id("V") for e in (first, second) for _ in range(3)]
    assert len(set(ids)) == 6
    assert all(re.fullmatch(r"V[A-Z0-9]{10}", i) for i in ids)
