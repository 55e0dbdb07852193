"""Hostile input, end to end through `serve`: signed HTTP requests carrying whatever anyone
could type or forge (Slack's own markup, control characters, every Unicode plane, lone
surrogate halves, 10,000 characters, malformed JSON, missing fields), on SQLite and
PostgreSQL.

For every request:
- the HTTP answer is 200 (404 only for a view Baton does not declare: a command or button
  it does not know gets its own answer, handlers/fallback.py;
  401 only for a bad signature), never a 5xx;
- either a record is created (its card posted, its `created` audit event written, the
  caller told) or the caller gets an ephemeral answer (or the modal they need);
- Slack refuses nothing Baton sends (Block Kit limits, the emulator checking them as Slack
  does), and nothing Baton sends carries markup it did not make itself (tests/markup.py);
- the store stays whole: no record without its audit event or card, no partner without a
  record, the audit chain intact.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import itertools
import json
import logging
import re
import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.console.emulator import Call
from bot.console.emulator.blockkit import block_kit_problem
from bot.domain.drafts import build_handoff
from bot.domain.grammar import KEYS
from bot.domain.records import RecordKind
from bot.slack import wire
from bot.slack.blocks import pages
from bot.slack.blocks import records as blocks
from bot.slack.blocks import roster as roster_blocks
from bot.slack.ids import ActionId, GovernanceAction
from bot.web.answers import GENERIC_FORM_ERROR
from handlers.common import GENERIC
from store import audit
from store.models import AuditEvent, CoordinatorAssignment, PartnerAgency, Record
from tests.conftest import ALICE, BOB, CHANNEL, SECRET, TEAM
from tests.markup import foreign_markup, mrkdwn_of_call

# --- what a hostile or unlucky person sends --------------------------------------------

INJECTIONS = [
    "<!channel>", "<!here>", "<!everyone>", "<@U0FAKE99>", "<@U0FAKE99|boss>", "<#C0FAKE99>",
    "<#C0FAKE99|general>", "<http://evil.example/x|click here>", "<https://evil.example>",
    "<mailto:a@evil.example|mail>", "<!subteam^S0FAKE99>", "<!date^0^{date}|x>",
    "&lt;!channel&gt;", "&amp;lt;@U0FAKE99&amp;gt;", "<<!here>>", "&", "<", ">",
]
CONTROLS = ["\x00", "\x07", "\x1b[2J", "\x7f", "\x85", "\u202e", "\u2066", "\u200b", "\ufeff",
            "\r\n", "\t", "\n", "\u2028"]
PLANES = ["é", "中", "\U0001F600", "\U0001D7D9", "\U00020000", "\U00030000", "\U000E0001",
          "\uE000", "\U000F0000", "\U0010FFFD", "\ud800", "\udc00"]
MARKUP = ["*bold*", "_", "~", "`", "```", "> quote", ":bomb:", "@channel", "person:",
          "due:", "to:", "re:", "payload", "payload=", "ssl_check=1"]
BITS = INJECTIONS + CONTROLS + PLANES + MARKUP
ANY_CHAR = st.characters(codec=None, categories=None)  # every code point, surrogates too

hostile = st.one_of(
    st.lists(st.one_of(st.sampled_from(BITS), st.text(ANY_CHAR, max_size=6)),
             min_size=1, max_size=6).map("".join),
    st.sampled_from(INJECTIONS + PLANES).map(lambda bit: (bit * 10_000)[:10_000]),
)

VALID = {
    "person": ["P-1042", "p-7"], "to": ["Northside Home Care"], "partner": ["County MCO"],
    "contact": ["intake desk 555-0100"], "due": ["tomorrow 5pm", "in 2h"],
    "review": ["tomorrow 9am"], "until": ["friday 5pm"], "owner": ["me", f"<@{BOB}|bob>"],
    "manager": [f"<@{BOB}|bob>"], "risk": ["short-term", "same-day", "emerging"],
    "route": ["hospital discharge"], "note": ["re: discharge"],
    "action": ["unsigned authorization"], "safeguard": ["temporary hold"],
}
REFUSALS = {"invalid_blocks", "invalid_arguments", "msg_too_long", "no_text", "invalid_payload",
            "invalid_json", "invalid_form_data", "internal_error", "invalid_attachments"}

FAST = dict(deadline=None, suppress_health_check=list(HealthCheck))


@st.composite
def record_command(draw: st.DrawFn, kind: RecordKind) -> str:
    """`key: value …` with each key valid, hostile or absent, spelt any way, in any order."""
    parts = []
    for key in KEYS[kind]:
        choice = draw(st.sampled_from(["valid", "valid", "hostile", "absent"]))
        if choice == "absent":
            continue
        value = draw(st.sampled_from(VALID[key.name]) if choice == "valid" else hostile)
        parts.append(f"{draw(st.sampled_from([key.name, *key.aliases]))}: {value}")
    parts = draw(st.permutations(parts))
    lead = draw(st.sampled_from(["", "", "", "P-1 hello ", "\x00", "<!channel> "]))
    return lead + " ".join(parts)


# `/baton` text: a subcommand Baton knows or not, a record reference or something that only
# looks like one (both are quoted back escaped), and everything after them hostile.
REF = st.sampled_from(["H-1", "h-1", "D-1", "H-2", "H-999999999999999999999", "X-1",
                       "<!channel>", "<@U0FAKE99>"])
baton_text = st.one_of(
    st.sampled_from(["", "help", "list", "mine", "huddle", "ladder", "coordinator",
                     "frobnicate", "show H-1", "<!channel>", "<@U0FAKE99|boss>"]),
    st.tuples(st.sampled_from(["partner", "ladder use", "ladder", "coordinator",
                               "coordinator cover", "report from", "help"]),
              hostile).map(" ".join),
    st.tuples(st.sampled_from(["show", "ack", "resolve", "close", "cancel"]), REF,
              st.one_of(st.just(""), hostile)).map(" ".join),
    st.tuples(REF, st.sampled_from(["accept", "condition", "clarify", "decline", "maybe"]),
              hostile).map(lambda t: f"respond {t[0]} {t[1]} {t[2]}"),
)


# --- talking to `serve` ------------------------------------------------------------------

_ids = itertools.count(1)


def form(fields: dict[str, str]) -> str:
    """A urlencoded body; a lone surrogate half goes on the wire as the bytes a careless
    client makes of it (Slack's own bodies are always UTF-8)."""
    return urlencode(fields, encoding="utf-8", errors="surrogatepass")


def slash(baton: Any, command: str, text: str) -> tuple[httpx.Response, list[Call], dict]:
    """A slash command as wire.slash_command builds it, signed, sent to `serve`; returns the
    answer, the Slack calls it led to, and where an answer to its sender would go."""
    n = next(_ids)
    who = {"key": f"h{n}", "trigger": baton.slack.issue_trigger(f"trigger-h{n}"), "user": ALICE}
    fields = dict(user=ALICE, channel=CHANNEL, team=TEAM, trigger_id=who["trigger"],
                  response_url=baton.slack.response_url(who["key"]))
    try:
        body = wire.slash_command(command, text, **fields)
    except UnicodeEncodeError:  # a lone surrogate: the same fields, as bytes
        body = form({"token": "deprecated", "team_id": TEAM, "channel_id": CHANNEL,
                     "user_id": ALICE, "command": command, "text": text,
                     "response_url": fields["response_url"], "trigger_id": who["trigger"]})
    resp, calls = send(baton, body)
    return resp, calls, who


def send(baton: Any, body: str | bytes, *, headers: dict[str, str] | None = None,
         content_type: str = "application/x-www-form-urlencoded"
         ) -> tuple[httpx.Response, list[Call]]:
    """baton.post, signed as Slack signs (wire.signed_headers) unless `headers` say
    otherwise, then wait for the work it deferred."""
    start = len(baton.slack.calls)
    if headers is None:
        headers = wire.signed_headers(body, SECRET, content_type=content_type) \
            if isinstance(body, str) else sign(body, content_type)
    resp = baton.post(body, headers=headers)
    assert baton.runtime.wait_idle(timeout=60), "deferred work did not finish"
    return resp, baton.slack.calls[start:]


def sign(raw: bytes, content_type: str, secret: str = SECRET,
         stamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if stamp is None else stamp)
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + raw, hashlib.sha256)
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": f"v0={digest.hexdigest()}"}


def payload(data: Any) -> str:
    return urlencode({"payload": json.dumps(data)})  # json escapes lone surrogates: encodable


# --- what must hold after every request --------------------------------------------------

def known_users(baton: Any) -> set[str]:
    """Users Baton holds as users (typed as mentions, chosen in pickers, acting): a mention
    of any of them may be Baton's own; a mention of anyone else came from someone's text."""
    users = {ALICE, BOB, baton.slack.bot_user_id}
    with baton.sessions() as s:
        for column in (Record.owner_id, Record.manager_id, Record.created_by,
                       Record.next_action_owner, Record.next_action_set_by,
                       Record.acknowledged_by):
            users.update(u for u in s.scalars(select(column).distinct()) if u)
        users.update(s.scalars(select(CoordinatorAssignment.user_id).distinct()))
        users.update(s.scalars(select(AuditEvent.actor).distinct()))
    return users


def assert_slack_took_everything(calls: Iterable[Call]) -> None:
    for call in calls:
        if call.status == 429:
            # Slack's pacing, not a refusal of what was sent: a burst of posts to one channel
            # (cards and their thread lines, hypothesis sends them fast) is answered 429, and
            # the request path's RateLimitErrorRetryHandler sends it again after Retry-After.
            continue
        error = call.response.get("error") if isinstance(call.response, dict) else None
        assert error not in REFUSALS and call.status < 400, \
            (call.method, call.status, call.response)


def assert_no_foreign_markup(baton: Any, calls: Iterable[Call]) -> None:
    users = known_users(baton)
    for call in calls:
        for text in mrkdwn_of_call(call.params):
            bad = foreign_markup(text, users=users, channels={CHANNEL})
            assert not bad, (call.method, bad, text[:300])


def assert_store_whole(baton: Any) -> None:
    with baton.sessions() as s:
        records = s.scalars(select(Record)).all()
        created = set(s.scalars(select(AuditEvent.record_id).where(AuditEvent.kind == "created")))
        partners = set(s.scalars(select(PartnerAgency.id)))
        used = set(s.scalars(select(Record.partner_id).distinct()))
    for record in records:
        assert record.id in created, f"{record.reference} has no 'created' audit event"
        assert record.card_ts, f"{record.reference} was written but its card never posted"
    assert partners == used, "a partner row was left without any record"


def assert_chain_intact(baton: Any) -> None:
    with baton.sessions() as s:
        report = audit.verify(s, team_id=TEAM)
    assert report.ok, report.broken


def answered(calls: list[Call], who: dict[str, str]) -> bool:
    """The caller saw something: an ephemeral, the modal they need, or a post here."""
    for call in calls:
        if call.method == "response_url" and call.params.get("_key") == who["key"]:
            return True
        if call.method == "chat.postEphemeral" and call.params.get("user") == who["user"]:
            return True
        if call.method == "views.open" and call.params.get("trigger_id") == who["trigger"]:
            return True
        if call.method in ("chat.postMessage", "chat.update") and \
                call.params.get("channel") == CHANNEL:
            return True
    return False


def record_ids(baton: Any) -> set[int]:
    with baton.sessions() as s:
        return set(s.scalars(select(Record.id)))


def check_after(baton: Any, calls: list[Call], before: set[int]) -> None:
    assert_slack_took_everything(calls)
    assert_no_foreign_markup(baton, calls)
    assert_store_whole(baton)
    new = record_ids(baton) - before
    with baton.sessions() as s:
        refs = [s.get(Record, i).reference for i in new]
    replies = " ".join(str(c.params.get("text", "")) for c in calls
                       if c.method in ("response_url", "chat.postEphemeral"))
    # A clear answer, never "something went wrong": that one means an unexpected exception.
    assert GENERIC not in replies, "an unexpected error reached the person"
    for ref in refs:
        assert f"Logged *{ref}*" in replies, f"{ref} was created but nobody was told"


# --- the properties ----------------------------------------------------------------------

def test_slash_commands_answer_whatever_is_typed(baton):
    @settings(max_examples=40, **FAST)
    @given(command=st.sampled_from(["/handoff", "/dependency", "/baton"]), data=st.data())
    def prop(command: str, data: st.DataObject) -> None:
        if command == "/baton":
            text = data.draw(baton_text)
        else:
            kind = RecordKind.HANDOFF if command == "/handoff" else RecordKind.DEPENDENCY
            text = data.draw(record_command(kind))
        before = record_ids(baton)
        resp, calls, who = slash(baton, command, text)
        assert resp.status_code == 200, resp.text
        assert answered(calls, who), ("nobody was answered", [c.method for c in calls])
        check_after(baton, calls, before)

    # One well-formed record first, so `/baton ack H-1` and the like find something.
    slash(baton, "/handoff", "person: P-1 to: Northside Home Care contact: desk due: in 3h")
    prop()
    assert_chain_intact(baton)


def _inputs(view: dict) -> dict[str, dict]:
    return {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}


@st.composite
def answers(draw: st.DrawFn, view: dict) -> dict[str, dict[str, Any]]:
    """view.state.values for `view`: each input valid, hostile, malformed or left out."""
    values: dict[str, dict[str, Any]] = {}
    for block_id, element in _inputs(view).items():
        choice = draw(st.sampled_from(["valid", "valid", "hostile", "odd", "absent"]))
        kind, state = element["type"], None
        if choice == "absent":
            continue
        if choice == "odd":  # not the shape Slack sends for this element
            state = draw(st.sampled_from([{"type": kind}, {"type": kind, "value": 7},
                                          {"type": kind, "selected_option": "x"}, None, []]))
        elif kind == "users_select":
            user = BOB if choice == "valid" else draw(st.sampled_from(
                ["U0FAKE99> <!channel", "<!here>", "U" + "A" * 60, ""]))
            state = {"type": kind, "selected_user": user}
        elif kind == "static_select":
            options = element.get("options") or []
            option = draw(st.sampled_from(options)) if choice == "valid" and options else \
                {"text": {"type": "plain_text", "text": "x"}, "value": draw(hostile)}
            state = {"type": kind, "selected_option": option}
        else:
            text = draw(st.sampled_from(VALID.get(block_id, ["call the intake desk"]))) \
                if choice == "valid" else draw(hostile)
            state = {"type": kind, "value": text}
        values[block_id] = {element.get("action_id", "value"): state}
    return values


def _record(baton: Any, ref: str) -> Any:
    kind, number = ref.split("-")
    with baton.sessions() as s:
        return s.scalars(select(Record).where(Record.number == int(number),
                                              Record.kind == ("handoff" if kind == "H"
                                                              else "dependency"))).one()


def test_modal_submissions_answer_whatever_is_entered(baton):
    slash(baton, "/handoff", "person: P-1 to: Northside Home Care contact: desk due: in 3h")
    slash(baton, "/dependency", "person: P-2 action: signature partner: County MCO "
                                "risk: emerging")
    h1, d1 = _record(baton, "H-1"), _record(baton, "D-1")
    views = {
        "handoff": blocks.create_modal(RecordKind.HANDOFF, {}, owner=ALICE, manager=None,
                                       risk=None, channel_id=CHANNEL, missing=[]).to_dict(),
        "dependency": blocks.create_modal(RecordKind.DEPENDENCY, {}, owner=ALICE,
                                          manager=None, risk=None, channel_id=CHANNEL,
                                          missing=[]).to_dict(),
        "response": blocks.response_modal(h1).to_dict(),
        "resolve": blocks.reason_modal(d1, resolve=True).to_dict(),
        "cancel": blocks.reason_modal(h1, resolve=False).to_dict(),
        "interim": pages.interim_modal(d1).to_dict(),
        "assign": roster_blocks.assign_modal(h1, meta={"surface": "home"}).to_dict(),
    }

    @settings(max_examples=35, **FAST)
    @given(name=st.sampled_from(sorted(views)), data=st.data(),
           meta=st.sampled_from([None, "{bad", "[]", json.dumps({"record": 2**70}),
                                 json.dumps({"record": True}), "[" * 3000,
                                 json.dumps({"channel": "<!channel>", "record": "1"})]))
    def prop(name: str, data: st.DataObject, meta: str | None) -> None:
        view = dict(views[name], id=f"V0H{next(_ids)}")
        if meta is not None and data.draw(st.booleans()):
            view["private_metadata"] = meta
        values = data.draw(answers(view))
        before = record_ids(baton)
        body = wire.view_submission(view=view, values=values, user=ALICE, team=TEAM)
        resp, calls = send(baton, body)
        assert resp.status_code == 200, resp.text
        if resp.text and resp.json().get("response_action") == "update":
            # The name guard's question: the same form, valid Block Kit, nothing written.
            shown = resp.json()["view"]
            assert block_kit_problem(shown["blocks"], pointer="/view/blocks") is None
            assert shown["callback_id"] == view["callback_id"]
            assert record_ids(baton) == before
        elif resp.text:
            answer = resp.json()
            assert answer["response_action"] == "errors"
            assert set(answer["errors"]) <= set(_inputs(view)), answer
            for message in answer["errors"].values():
                assert 0 < len(message) <= 150  # Slack shows no more
                assert message != GENERIC_FORM_ERROR, "an unexpected error behind the form"
            assert record_ids(baton) == before  # refused: nothing written
        elif name in ("handoff", "dependency"):
            assert len(record_ids(baton) - before) == 1, "accepted but no record"
        check_after(baton, calls, before)

    prop()
    assert_chain_intact(baton)


KNOWN_ACTIONS = [*ActionId, *GovernanceAction]


def test_button_presses_answer_whatever_they_carry(baton):
    slash(baton, "/handoff", "person: P-1 to: Northside Home Care contact: desk due: in 3h")
    h1 = _record(baton, "H-1")

    def press(action_id: str, value: Any, drop: str | None, ts: str) -> dict:
        """wire.block_actions' payload, then given a value of any type and, maybe, one
        field fewer than Slack always sends."""
        n = next(_ids)
        body = wire.block_actions(action_id=action_id, value="", user=ALICE, team=TEAM,
                                  channel=CHANNEL, message_ts=ts,
                                  trigger_id=baton.slack.issue_trigger(f"trigger-b{n}"),
                                  response_url=baton.slack.response_url(f"b{n}"))
        data = json.loads(parse_qs(body)["payload"][0])
        data["actions"][0]["value"] = value
        if drop:
            *path, last = drop.split(".")
            target = data
            for key in path:
                target = target[key] if isinstance(target, dict) else target[0]
            if isinstance(target, list):
                target = target[0]
            target.pop(last, None)
        return data

    ids = st.integers(-2**70, 2**70)  # past INTEGER too: no row, a clear answer
    values = st.one_of(
        st.just(str(h1.id)), hostile, ids.map(str),
        st.builds(lambda r, s: json.dumps({"record": r, "surface": s}),
                  st.one_of(st.just(h1.id), ids, hostile),
                  st.sampled_from(["huddle", "home", "nudge", "<!channel>"])),
        st.sampled_from(["[" * 3000, "null", "{}", "1e999", "-0", " 1 "]),
        st.integers().map(int),  # a number where Slack always sends a string
    )

    @settings(max_examples=40, **FAST)
    @given(action_id=st.one_of(st.sampled_from(KNOWN_ACTIONS), st.just("nobody_handles_this")),
           value=values, ts=st.sampled_from(["1.0", h1.card_ts, "<!here>"]),
           drop=st.sampled_from([None, None, None, "actions.action_id", "user.id",
                                 "trigger_id", "response_url", "channel", "team"]))
    def prop(action_id: str, value: Any, ts: str, drop: str | None) -> None:
        data = press(action_id, value, drop, ts)
        before = record_ids(baton)
        resp, calls = send(baton, payload(data))
        malformed = drop in ("actions.action_id", "user.id", "trigger_id") or \
            not isinstance(value, str)
        unknown = action_id not in KNOWN_ACTIONS
        # Malformed: answered 200 before any listener; an unknown button by Baton's own
        # catch-all (handlers/fallback.py), never a 404.
        assert resp.status_code == 200, resp.text
        assert record_ids(baton) == before  # a button never creates a record
        who = {"key": data.get("response_url", "/").rsplit("/", 1)[-1],
               "trigger": data.get("trigger_id", ""), "user": ALICE}
        # Told, wherever the request says where: a well-formed press through its
        # response_url (else ephemerally in its channel), a malformed one through the
        # response_url it carries.
        if not malformed or "response_url" in data:
            assert answered(calls, who), ("nobody was answered", [c.method for c in calls])
        if unknown and not malformed:  # in Baton's words
            assert any("not one Baton knows" in str(c.params) for c in calls)
        check_after(baton, calls, before)

    prop()
    assert_chain_intact(baton)


def test_bodies_slack_could_not_have_sent_are_never_a_server_error(baton):
    raw_bodies = st.one_of(
        st.binary(max_size=300),
        st.text(ANY_CHAR, max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.one_of(hostile, st.sampled_from(["{bad", "[1]", "null", '"x"', "{}", "[" * 5000,
                                            '{"type": "block_actions"}',
                                            '{"type": "view_submission", "view": 1}'])
                  ).map(lambda t: ("payload=" + t).encode("utf-8", "surrogatepass")),
        st.sampled_from([b"{bad json", b"[]", b'{"type":"event_callback"}', b"\xff\xfe{",
                         b"command=/handoff&text=x", b"command=/baton&user_id=<!channel>",
                         b"ssl_check=1&token=x"]),
    )

    @settings(max_examples=50, **FAST)
    @given(raw=raw_bodies,
           how=st.sampled_from(["signed", "signed", "unsigned", "wrong secret", "stale"]),
           content_type=st.sampled_from(["application/x-www-form-urlencoded",
                                         "application/json", "text/plain"]))
    def prop(raw: bytes, how: str, content_type: str) -> None:
        if how == "unsigned":
            headers = {"Content-Type": content_type}
        else:
            headers = sign(raw, content_type, secret="nope" if how == "wrong secret" else SECRET,
                           stamp=int(time.time()) - 600 if how == "stale" else None)
        before = record_ids(baton)
        resp, calls = send(baton, raw, headers=headers)
        if how == "signed":
            assert resp.status_code in (200, 404), (resp.status_code, resp.text)
        else:
            assert resp.status_code in (200, 401), (resp.status_code, resp.text)
            if resp.status_code == 200:  # only Slack's unsigned SSL check is answered
                assert raw.startswith(b"ssl_check=")
        assert record_ids(baton) == before
        assert_slack_took_everything(calls)
        assert_no_foreign_markup(baton, calls)

    prop()
    assert_store_whole(baton)


def test_the_word_payload_in_a_command_is_just_a_word(baton):
    """Bolt took any body containing "payload" for an interactivity payload: the command
    reached no listener (404) and nothing was logged."""
    resp, calls, _ = slash(baton, "/handoff", "person: P-1 to: Northside Home Care "
                                              "contact: desk due: in 3h note: payload=1 "
                                              "delivery")
    assert resp.status_code == 200
    assert any("Logged *H-1*" in text for text in _replies(calls))
    with baton.sessions() as s:
        assert s.scalars(select(Record.note)).one() == "payload=1 delivery"


def test_a_signed_request_without_what_slack_always_sends_is_answered_not_failed(baton):
    """Missing or mistyped fields: 200, nothing written, and a clear ephemeral where the
    request says where to answer."""
    base = {"token": "t", "team_id": TEAM, "channel_id": CHANNEL, "user_id": ALICE,
            "command": "/handoff", "text": "person: P-1 to: X contact: y due: in 2h",
            "trigger_id": "t-1", "response_url": baton.slack.response_url("m1")}
    for broken in ({"user_id": "<!channel>"}, {"channel_id": "C0CARE01> <!here"},
                   {"team_id": ""}, {"trigger_id": "t" * 300}, {"user_id": "U" + "A" * 40}):
        resp, calls = send(baton, form({**base, **broken}))
        assert resp.status_code == 200
        (reply,) = [c for c in calls if c.method == "response_url"]
        assert "couldn't read that request" in reply.params["text"]
        assert_no_foreign_markup(baton, calls)
    for missing in ("user_id", "channel_id", "team_id", "trigger_id"):
        body = {k: v for k, v in base.items() if k != missing}
        assert send(baton, form(body))[0].status_code == 200
    assert record_ids(baton) == set()


# --- mrkdwn: nobody's text becomes a mention, a link or a broadcast ------------------------

NASTY = ("<!channel> <!here> <!everyone> <@U0FAKE99> <@U0FAKE99|boss> <#C0FAKE99|general> "
         "<http://evil.example|click> <!subteam^S0FAKE99> &lt;!here&gt; & \u202e\x00 \U0001F600")


def _tick(baton: Any) -> None:
    baton.runtime.engine.run_due()
    baton.runtime.coordination.tick()
    baton.runtime.wait_idle(timeout=60)


def test_user_text_never_becomes_markup_on_any_surface(serve_factory, database_url):
    """Every free text Baton stores, full of Slack's markup, through every surface that
    shows it: cards, their threads, replies, lists, the trail, reminders, pages, nudges,
    the huddle, the App Home, the digest, partner figures and the systemic-pattern notice."""
    baton = serve_factory(database_url, BATON_GOVERNANCE_CHANNEL="C0GOVERN1",
                          BATON_COORDINATOR=BOB, BATON_PATTERN_THRESHOLD=2)
    nasty = NASTY[:150]
    for n in range(1, 4):
        slash(baton, "/handoff", f"person: P-{n} to: {nasty} contact: {nasty} due: in 30m "
                                 f"route: {nasty} risk: short-term note: {NASTY}")
    slash(baton, "/dependency", f"person: P-9 action: {NASTY} partner: {nasty} risk: same-day "
                                f"safeguard: {NASTY} until: in 1h route: {nasty}")
    assert len(record_ids(baton)) == 4
    baton.clock.advance(timedelta(hours=1))
    _tick(baton)  # overdue, tier-1 pages, nudges, the digest
    baton.runtime.governance.sweep(TEAM)
    for text in (f"respond H-1 decline {NASTY}", f"resolve H-1 {NASTY}",
                 f"cancel H-2 {NASTY}", "show H-1", "show H-2", "show D-1", "list", "mine",
                 "huddle", f"partner {nasty}", "ladder", "coordinator"):
        resp, calls, who = slash(baton, "/baton", text)
        assert resp.status_code == 200 and answered(calls, who), text
    d1 = _record(baton, "D-1")
    interim = dict(pages.interim_modal(d1).to_dict(), id="V0NASTY1")
    send(baton, wire.view_submission(view=interim, values=wire.state_for(
        interim, {"text": NASTY}), user=ALICE, team=TEAM))
    assign = dict(roster_blocks.assign_modal(d1, meta={"surface": "home"}).to_dict(),
                  id="V0NASTY2")
    send(baton, wire.view_submission(view=assign, values=wire.state_for(
        assign, {"owner": BOB, "text": NASTY, "due": "tomorrow 10am"}), user=ALICE, team=TEAM))
    home = wire.event_callback({"type": "app_home_opened", "user": ALICE, "tab": "home"},
                               team=TEAM)
    send(baton, home, content_type="application/json")
    calls = baton.slack.calls
    shown = {c.method for c in calls}
    assert {"chat.postMessage", "chat.update", "response_url", "views.publish"} <= shown
    notices = [c for c in calls if c.params.get("channel") == "C0GOVERN1"]
    assert notices, "the systemic-pattern notice was not posted"
    pages_sent = [c for c in calls if "Escalation tier" in str(c.params.get("text", ""))]
    assert pages_sent, "no page went out"
    to_bob = " ".join(str(c.params.get("text", "")) for c in calls
                      if c.params.get("channel") == baton.slack.dm_channel(BOB))
    assert "digest" in to_bob and "Coordinator nudge" in to_bob, to_bob[:300]
    assert_slack_took_everything(calls)
    assert_no_foreign_markup(baton, calls)
    # The text is still there, escaped, for people to read: nothing was thrown away.
    card = next(c for c in calls if c.method == "chat.postMessage" and "blocks" in c.params)
    assert "&lt;!channel&gt;" in json.dumps(card.json_param("blocks"))
    assert_store_whole(baton)
    assert_chain_intact(baton)


def test_an_unknown_subcommand_is_quoted_back_escaped(baton):
    resp, calls, who = slash(baton, "/baton", "<!channel>")
    assert resp.status_code == 200 and answered(calls, who)
    assert_no_foreign_markup(baton, calls)


def test_a_button_carrying_a_number_past_any_row_id_gets_a_clear_answer(baton):
    slash(baton, "/handoff", "person: P-1 to: Northside Home Care contact: desk due: in 3h")
    for action_id in (ActionId.PARTNER_ACK, ActionId.RESOLVE, ActionId.PAGE_ACK):
        body = wire.block_actions(action_id=action_id, value=str(2**63), user=ALICE, team=TEAM,
                                  channel=CHANNEL, message_ts="1.0", trigger_id="t-big",
                                  response_url=baton.slack.response_url("big"))
        resp, calls = send(baton, body)
        assert resp.status_code == 200
        assert GENERIC not in _replies(calls) and _replies(calls)


def test_a_partner_name_that_normalises_longer_is_still_logged(baton, request):
    """"⒇" is one character that normalises to "(20)": a 200-character name (the most a
    draft allows) makes a 599-character partner key."""
    resp, calls, _ = slash(baton, "/handoff", "person: P-1 to: " + "\u2487" * 200
                           + " contact: desk due: in 3h")
    assert resp.status_code == 200
    assert GENERIC not in _replies(calls)
    assert len(record_ids(baton)) == 1


def test_a_bad_record_reference_is_quoted_back_escaped(baton):
    resp, calls, who = slash(baton, "/baton", "show <!channel>")
    assert resp.status_code == 200 and answered(calls, who)
    assert_no_foreign_markup(baton, calls)


# --- Block Kit limits: long text is shortened with a pointer, never refused -----------------

def _replies(calls: list[Call]) -> list[str]:
    return [str(c.params.get("text", "")) for c in calls
            if c.method in ("response_url", "chat.postEphemeral")]


def test_ten_thousand_characters_anywhere_get_a_clear_answer_and_no_slack_error(baton):
    long = ("<&>" * 3334)[:10_000]
    # Over a field's limit: refused, named, nothing written.
    for command, text, field in [
        ("/handoff", f"person: P-1 to: X contact: y due: in 2h note: {long}", "note"),
        ("/dependency", f"person: P-1 action: x partner: y risk: same-day safeguard: {long}",
         "safeguard"),
        ("/handoff", f"person: P-{'1' * 9_998} to: X contact: y due: in 2h", "person"),
    ]:
        resp, calls, who = slash(baton, command, text)
        assert resp.status_code == 200
        (reply,) = _replies(calls)
        assert f"`{field}` is 10000 characters" in reply and "Nothing was saved" in reply
        assert_slack_took_everything(calls)
    view = dict(blocks.create_modal(RecordKind.HANDOFF, {}, owner=ALICE, manager=None,
                                    risk=None, channel_id=CHANNEL, missing=[]).to_dict(),
                id="V0LONG1")
    resp, _ = send(baton, wire.view_submission(view=view, values=wire.state_for(view, {
        "person": "P-1", "to": "X", "contact": "y", "due": "in 2h", "owner": ALICE,
        "note": long}), user=ALICE, team=TEAM))
    assert list(resp.json()["errors"]) == ["note"]
    # A person reference longer than the database keeps (64) is refused by name, not lost
    # in a database error on PostgreSQL.
    resp, calls, who = slash(baton, "/handoff", f"person: P-{'1' * 63} to: X contact: y "
                                                "due: in 2h")
    (reply,) = _replies(calls)
    assert "`person` is 65 characters; keep it under 64" in reply
    # A missing field opens the form prefilled, however long the rest.
    resp, calls, who = slash(baton, "/handoff", f"person: P-1 to: {long}")
    assert [c.method for c in calls if c.method == "views.open"] == ["views.open"]
    assert_slack_took_everything(calls)
    assert record_ids(baton) == set()

    # Where nothing limits the text (an outcome, a reason, a response, an interim action),
    # it is kept whole, and every surface shortens it with a pointer to `/baton show`.
    for n in (1, 2, 3):
        slash(baton, "/handoff", f"person: P-{n} to: Northside Home Care contact: desk "
                                 "due: in 3h")
    slash(baton, "/dependency", "person: P-4 action: signature partner: County MCO "
                                "risk: emerging")
    d1 = _record(baton, "D-1")
    interim = dict(pages.interim_modal(d1).to_dict(), id="V0LONG2")
    resp, calls = send(baton, wire.view_submission(view=interim, values=wire.state_for(
        interim, {"text": long}), user=ALICE, team=TEAM))
    assert resp.status_code == 200 and not resp.text
    for text in (f"respond H-1 decline {long}", f"resolve H-1 {long}", f"cancel H-2 {long}",
                 f"resolve D-1 {long}", "show H-1", "show H-2", "show D-1"):
        resp, calls, who = slash(baton, "/baton", text)
        assert resp.status_code == 200 and answered(calls, who)
        assert_slack_took_everything(calls)
        assert_no_foreign_markup(baton, calls)
    with baton.sessions() as s:
        h1 = s.scalars(select(Record).where(Record.number == 1,
                                            Record.kind == "handoff")).one()
    assert h1.status == "closed" and h1.outcome == long  # kept whole
    card = [c for c in baton.slack.calls if c.method == "chat.update"
            and c.params.get("ts") == h1.card_ts][-1]
    assert "`/baton show H-1` has it all" in json.dumps(card.json_param("blocks"))
    thread = [c for c in baton.slack.calls if c.params.get("thread_ts") == h1.card_ts]
    assert thread and all(len(c.params["text"]) <= blocks.SECTION_LIMIT for c in thread)
    assert any("`/baton show H-1` has it all" in c.params["text"] for c in thread)
    assert_store_whole(baton)


def test_two_hundred_records_fit_the_huddle_the_app_home_the_digest_and_lists(serve_factory,
                                                                           database_url):
    baton = serve_factory(database_url, BATON_COORDINATOR=BOB)
    runtime = baton.runtime
    draft = build_handoff({"person": "P-1", "to": ("<!channel> " * 20)[:200],
                           "contact": "&" * 200, "due": "in 3h", "route": "<" * 200,
                           "note": "<&>" * 333, "risk": "same-day"},
                          runtime.draft_context(ALICE))
    for n in range(1, 201):  # the longest escapes the drafts allow, on every row
        change = runtime.records.create_handoff(
            team_id=TEAM, channel_id=CHANNEL, actor=ALICE, request_key=f"bulk-{n}",
            draft=dataclasses.replace(draft, person_ref=f"P-{n}"))
        if n % 4 == 1:
            runtime.coordination.assign_next_action(
                team_id=TEAM, record_id=change.record.id, actor=ALICE, owner=ALICE,
                action="&" * 500, due=baton.clock.now().replace(hour=22))
    baton.slack.clear()
    for text in ("huddle", "list", "mine"):
        resp, calls, who = slash(baton, "/baton", text)
        assert resp.status_code == 200 and answered(calls, who)
    home = wire.event_callback({"type": "app_home_opened", "user": ALICE, "tab": "home"},
                               team=TEAM)
    send(baton, home, content_type="application/json")
    assert runtime.coordination.tick() == 1  # Monday 09:00: the morning digest, to BOB
    runtime.wait_idle(timeout=60)
    calls = baton.slack.calls
    assert_slack_took_everything(calls)
    assert_no_foreign_markup(baton, calls)
    huddle = next(c for c in calls if "Huddle roster" in str(c.params.get("text", "")))
    digest = next(c for c in calls if "digest" in str(c.params.get("text", "")))
    (publish,) = [c for c in calls if c.method == "views.publish"]
    for call, most in ((huddle, 50), (digest, 50)):
        shown = call.json_param("blocks")
        assert len(shown) <= most and "more, lower on the list" in json.dumps(shown)
    home_blocks = publish.json_param("view")["blocks"]
    assert len(home_blocks) <= 100 and "more, lower on the list" in json.dumps(home_blocks)
    listing = [c for c in calls if c.method == "response_url"]
    for call in listing:
        assert len(call.json_param("blocks") or []) <= 50


# --- secrets never in logs ------------------------------------------------------------------

BOT_TOKEN = "xoxb-1111111111-2222222222-SeCrEtBoTtOkEnVaLuE"
APP_TOKEN = "xapp-1-A0BATON-3333333333-SeCrEtApPtOkEnVaLuE"
SIGNING = "signing-SeCrEt-0123456789abcdef"
PASTED = "xoxp-4444444444-5555555555-someone-pasted-this"


def test_no_token_or_signing_secret_reaches_any_log_record(serve_factory, database_url,
                                                           caplog):
    """At DEBUG, through start-up, commands, a modal, a forged request, Slack failures
    with retries, the time engine and tokens someone pasted into a record: no log record
    (message, arguments or traceback) carries a token or the signing secret."""
    from bot.slack.clients import make_client

    caplog.set_level(logging.DEBUG)
    baton = serve_factory(database_url, SLACK_BOT_TOKEN=BOT_TOKEN,
                          SLACK_SIGNING_SECRET=SIGNING, SLACK_APP_TOKEN=APP_TOKEN)
    slack, runtime = baton.slack, baton.runtime

    def command(text: str, secret: str = SIGNING) -> None:
        n = next(_ids)
        body = wire.slash_command("/handoff", text, user=ALICE, channel=CHANNEL, team=TEAM,
                                  trigger_id=f"t{n}", response_url=slack.response_url(f"s{n}"))
        send(baton, body, headers=wire.signed_headers(body, secret))

    command(f"person: P-1 to: Northside contact: desk due: in 1h note: {PASTED}")
    command("person: P-2 to: Northside")  # opens the modal
    command("person: P-3 to: Northside contact: desk due: in 1h", secret="forged")
    slack.fail_next("chat.postMessage", status=500, times=2)
    command(f"person: P-4 to: {APP_TOKEN[:60]} contact: desk due: in 1h")
    slack.fail_next("chat.postMessage", error="invalid_auth", times=5)
    command(f"person: P-5 to: Northside contact: {BOT_TOKEN} due: in 1h")
    baton.clock.advance(timedelta(hours=3))
    runtime.engine.run_due()
    runtime.wait_idle(timeout=60)
    with pytest.raises(Exception):  # the emulator has no Socket Mode: the call just fails
        make_client(runtime.settings, token=APP_TOKEN).api_call("apps.connections.open")
    assert any(r.name.startswith("slack_sdk") and r.levelno == logging.DEBUG
               for r in caplog.records), "slack_sdk's DEBUG log was not captured"
    leaks = re.compile("|".join(map(re.escape, (BOT_TOKEN, APP_TOKEN, SIGNING, PASTED)))
                       + r"|(?:xox[abpersc]|xapp)-[0-9A-Za-z]")
    for record in caplog.records:
        text = "\n".join(filter(None, [record.getMessage(), record.exc_text,
                                       record.stack_info, str(record.args or "")]))
        assert not leaks.search(text), (record.name, text[:300])
    assert any("[redacted]" in r.getMessage() for r in caplog.records)


def test_the_redacting_filter_scrubs_records_made_before_it_and_elsewhere():
    from bot.redact import REDACTED, RedactSecrets, install_redaction, redact

    install_redaction(["a-long-signing-secret-value"])
    assert redact("token xoxb-1-2-abc and xapp-1-A-2-def, secret a-long-signing-secret-value") \
        == f"token {REDACTED} and {REDACTED}, secret {REDACTED}"
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "sent %s", ("xoxb-9-9-zz",),
                               None)
    try:
        raise ValueError("with a-long-signing-secret-value inside")
    except ValueError:
        import sys
        record.exc_info = sys.exc_info()
    assert RedactSecrets().filter(record)
    assert record.getMessage() == f"sent {REDACTED}"
    assert "a-long-signing-secret-value" not in record.exc_text and REDACTED in record.exc_text
    # Baton's log setup installs it.
    from bot import cli
    from tests.conftest import make_settings
    assert callable(getattr(cli, "configure_logging", None))
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    try:
        for handler in saved:
            root.removeHandler(handler)
        from bot.console.emulator import SlackEmulator
        with SlackEmulator() as emu:
            settings = make_settings("sqlite://", emu, SLACK_BOT_TOKEN=BOT_TOKEN,
                                     SLACK_CLIENT_SECRET="oauth-client-secret-1234")
        cli.configure_logging(settings, "serve")
        assert any(isinstance(f, RedactSecrets) for h in root.handlers for f in h.filters)
        for secret in (BOT_TOKEN, "oauth-client-secret-1234"):  # the install flow's too
            made = logging.getLogger("baton.test").makeRecord(
                "baton.test", logging.INFO, __file__, 1, "token %s", (secret,), None)
            assert made.getMessage() == f"token {REDACTED}", secret
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved:
            root.addHandler(handler)
        root.setLevel(level)



def test_a_form_whose_record_is_not_a_row_id_is_refused_clearly(baton):
    """private_metadata is Baton's own, but a forged one may say `true` (an int to Python:
    record 1) or a number past INTEGER (a database error): each is "lost its record"."""
    slash(baton, "/handoff", "person: P-1 to: Northside Home Care contact: desk due: in 3h")
    h1 = _record(baton, "H-1")
    forms = [roster_blocks.assign_modal(h1, meta={"surface": "home"}).to_dict(),
             pages.interim_modal(h1).to_dict(), blocks.reason_modal(h1, resolve=False).to_dict()]
    for view in forms:
        for forged in (True, 2**31, 2**70, -1, "1"):
            view = dict(view, id=f"V0F{next(_ids)}",
                        private_metadata=json.dumps({"record": forged, "surface": "home"}))
            resp, _ = send(baton, wire.view_submission(view=view, values=wire.state_for(
                view, {"owner": BOB, "text": "call the desk", "due": "tomorrow 10am"}),
                user=ALICE, team=TEAM))
            errors = resp.json()["errors"]
            assert "lost its record" in " ".join(errors.values()), (view["callback_id"], forged)
    with baton.sessions() as s:
        h1 = s.get(Record, h1.id)
    assert h1.status == "pending" and h1.interim_action is None and h1.next_action is None


def test_an_unsigned_body_dressed_as_an_ssl_check_is_never_acted_on(baton):
    """Slack's SSL check is the one request it sends unsigned, and it is only
    `ssl_check=1&token=…`. A body that merely starts like one is refused, whatever it
    carries: a command that would log a record, or an event that would suspend a workspace."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    command = wire.slash_command("/handoff", "person: P-4242 to: Northside Home Care contact: "
                                 "intake 555-0100 due: tomorrow 5pm", user=ALICE,
                                 channel=CHANNEL, team=TEAM, trigger_id="t-ssl",
                                 response_url=baton.slack.response_url("ssl"))
    uninstall = "payload=" + json.dumps({"type": "event_callback", "team_id": TEAM,
                                         "event": {"type": "app_uninstalled"}})
    before = record_ids(baton)
    for raw in (f"ssl_check=0&{command}", f"ssl_check=1&{command}",
                f"ssl_check=1&{uninstall}"):
        resp, calls = send(baton, raw.encode(), headers=form)
        assert resp.status_code == 401, (raw[:40], resp.status_code)
        assert calls == [], raw[:40]
    assert record_ids(baton) == before
    with baton.sessions() as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent)) == 0  # nothing suspended
    resp, calls = send(baton, b"ssl_check=1&token=x", headers=form)
    assert resp.status_code == 200 and calls == []  # the real SSL check: answered, no work
