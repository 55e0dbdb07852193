"""Several workspaces from one deployment: Slack's OAuth install flow through `serve` (Bolt's
OAuth with slack_sdk's SQLAlchemy installation and state stores in Baton's database), then
each workspace's requests and pages go out with that workspace's own bot token."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from sqlalchemy import func, select

from bot.slack import wire
from store import audit
from store.models import AuditEvent, DueWork, Record
from tests.conftest import ALICE, SECRET, TEAM

T1, T2, T3 = "T0AGENCY1", "T0AGENCY2", "T0NOTINST"
TOKENS = {T1: "xoxb-agency-one", T2: "xoxb-agency-two"}
HANDOFF = ("person: P-1042 to: Northside Home Care contact: intake desk 555-0100 "
           "due: tomorrow 5pm risk: short-term")


@pytest.fixture
def baton(serve_factory, database_url, slack):
    for team, token in TOKENS.items():
        slack.grant(f"code-{team}", team_id=team, team_name=f"Agency {team[-1]}",
                    bot_token=token, installer=ALICE)
    return serve_factory(database_url, SLACK_BOT_TOKEN="", SLACK_CLIENT_ID="1111.2222",
                         SLACK_CLIENT_SECRET="oauth-client-secret")


def install(baton, team: str) -> httpx.Response:
    """Add to Slack, as a browser does it: the install page, Slack's consent, the redirect."""
    with httpx.Client(base_url=baton.url, follow_redirects=False, timeout=10) as browser:
        page = browser.get("/slack/install")
        assert page.status_code in (200, 302), page.text
        link = page.headers.get("location") or re.search(
            r'href="(https://slack.com/oauth/v2/authorize[^"]+)"', page.text).group(1)
        query = parse_qs(urlparse(link.replace("&amp;", "&")).query)
        assert query["client_id"] == ["1111.2222"]
        assert "chat:write" in query["scope"][0].split(",")
        # The browser hands back the state cookie Bolt set (it is Secure: sent by hand here,
        # over loopback http).
        cookie = page.headers["set-cookie"].split(";")[0]
        return browser.get("/slack/oauth_redirect", headers={"cookie": cookie},
                           params={"code": f"code-{team}", "state": query["state"][0]})


def tokens_used(baton, method: str) -> list[str]:
    return [c.headers.get("Authorization", c.headers.get("authorization", ""))
            .removeprefix("Bearer ") for c in baton.slack.calls_to(method)]


def test_two_agencies_install_and_each_is_answered_with_its_own_token(baton):
    for team in (T1, T2):
        done = install(baton, team)
        assert done.status_code == 200, done.text
    store = SQLAlchemyInstallationStore(client_id="1111.2222", engine=baton.engine)
    assert store.find_bot(enterprise_id=None, team_id=T1).bot_token == TOKENS[T1]
    assert store.find_bot(enterprise_id=None, team_id=T2).bot_token == TOKENS[T2]

    baton.command("/handoff", HANDOFF, team=T1)
    baton.command("/handoff", HANDOFF.replace("P-1042", "P-2077"), team=T2)
    posts = [c for c in baton.slack.calls_to("chat.postMessage") if c.response.get("ok")]
    assert len(posts) == 2 and all("H-1" in c.params["text"] for c in posts)  # own numbering
    assert tokens_used(baton, "chat.postMessage") == [TOKENS[T1], TOKENS[T2]]

    # The engine pages each agency's overdue record with that agency's token.
    with baton.sessions() as s:
        due = max(s.scalars(select(Record.due_at)))
    baton.clock.set(due + timedelta(minutes=5))
    baton.runtime.engine.run_due()
    pages = [c for c in baton.slack.calls_to("chat.postMessage")
             if "Escalation tier 1" in c.params.get("text", "")]
    assert len(pages) == 2
    by_token = {c.headers.get("Authorization", "").removeprefix("Bearer ") for c in pages}
    assert by_token == {TOKENS[T1], TOKENS[T2]}


def test_a_workspace_that_never_installed_gets_nothing(baton):
    install(baton, T1)
    resp = baton.command("/handoff", HANDOFF, team=T3)
    assert resp.status_code in (200, 401)
    with baton.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Record)) == 0
    assert not [t for t in tokens_used(baton, "chat.postMessage") if t]


def test_a_forged_or_reused_state_installs_nothing(baton):
    with httpx.Client(base_url=baton.url, follow_redirects=False, timeout=10) as browser:
        resp = browser.get("/slack/oauth_redirect",
                           params={"code": f"code-{T1}", "state": "made-up"})
    assert resp.status_code >= 400
    assert not baton.slack.calls_to("oauth.v2.access")


def test_install_flow_config_is_one_line():
    from bot.settings import SettingsError, load_settings

    both = load_settings({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_CLIENT_ID": "1.2",
                          "SLACK_CLIENT_SECRET": "s", "SLACK_SIGNING_SECRET": "x"})
    with pytest.raises(SettingsError, match="both set"):
        both.require_credentials()
    half = load_settings({"SLACK_CLIENT_ID": "1.2", "SLACK_SIGNING_SECRET": "x"})
    with pytest.raises(SettingsError, match="SLACK_CLIENT_SECRET is not set"):
        half.require_credentials()


def test_an_enterprise_grid_workspace_finds_its_token(sqlite_url):
    from datetime import UTC, datetime

    from slack_sdk.oauth.installation_store import Installation

    from bot.slack.clients import Installations
    from store.db import make_engine

    engine = make_engine(sqlite_url)
    store = SQLAlchemyInstallationStore(client_id="1111.2222", engine=engine)
    store.save(Installation(app_id="A0BATON", enterprise_id="E0GRID01", team_id=T1,
                            user_id=ALICE, bot_token="xoxb-grid-old", bot_id="B1",
                            bot_user_id="UBATONBOT", installed_at=datetime(2026, 1, 1,
                                                                           tzinfo=UTC)))
    store.save(Installation(app_id="A0BATON", enterprise_id="E0GRID01", team_id=T1,
                            user_id=ALICE, bot_token="xoxb-grid-new", bot_id="B1",
                            bot_user_id="UBATONBOT"))
    assert Installations(store).token(T1) == "xoxb-grid-new"  # the newest install wins
    assert Installations(store).token(T2) is None
    engine.dispose()


def _event(baton, event: dict, team: str) -> None:
    body = wire.event_callback(event, team=team)
    resp = baton.post(body, headers=wire.signed_headers(body, SECRET,
                                                        content_type="application/json"))
    assert resp.status_code == 200
    baton.runtime.wait_idle()


def _work(baton, team: str) -> list[DueWork]:
    with baton.sessions() as s:
        return list(s.scalars(select(DueWork).where(DueWork.team_id == team)))


def _calls_with(baton, token: str, since: int = 0) -> list:
    return [c for c in baton.slack.calls[since:]
            if c.headers.get("Authorization", c.headers.get("authorization", ""))
            == f"Bearer {token}"]


@pytest.mark.parametrize("removal", [
    {"type": "app_uninstalled"},
    {"type": "tokens_revoked", "tokens": {"oauth": [ALICE], "bot": ["UBATONBOT"]}},
])
def test_a_removed_workspace_loses_its_token_and_its_due_work_waits_for_a_reinstall(
        baton, removal):
    for team in (T1, T2):
        done = install(baton, team)
        assert done.status_code == 200, done.text  # an install failing says so here
        baton.command("/handoff", HANDOFF, team=team)
    store = SQLAlchemyInstallationStore(client_id="1111.2222", engine=baton.engine)
    assert {w.state for w in _work(baton, T1)} == {"pending"}
    with baton.sessions() as s:
        chain_before = s.scalar(select(func.count()).select_from(AuditEvent)
                                .where(AuditEvent.team_id == T1))

    baton.slack.revoke_token(TOKENS[T1])  # Slack has revoked it by the time the event comes
    _event(baton, removal, T1)
    assert store.find_bot(enterprise_id=None, team_id=T1) is None
    assert store.find_bot(enterprise_id=None, team_id=T2).bot_token == TOKENS[T2]
    assert {w.state for w in _work(baton, T1)} == {"suspended"}
    assert {w.state for w in _work(baton, T2)} == {"pending"}
    with baton.sessions() as s:
        (suspended,) = s.scalars(select(AuditEvent).where(AuditEvent.team_id == T1,
                                                          AuditEvent.kind == "work_suspended"))
        assert suspended.record_ref == "H-1" and removal["type"] in suspended.note
        # Records and the audit chain stay, the chain unbroken.
        assert s.scalar(select(func.count()).select_from(Record)
                        .where(Record.team_id == T1)) == 1
        assert s.scalar(select(func.count()).select_from(AuditEvent)
                        .where(AuditEvent.team_id == T1)) == chain_before + 1
        assert audit.verify(s, team_id=T1).ok

    # Past the deadline: T2 is paged, T1 is not even tried.
    with baton.sessions() as s:
        due = max(s.scalars(select(Record.due_at)))
    baton.clock.set(due + timedelta(hours=2))
    since = len(baton.slack.calls)
    baton.runtime.engine.run_due()
    assert not _calls_with(baton, TOKENS[T1], since)
    assert [c.params["text"] for c in _calls_with(baton, TOKENS[T2], since)
            if c.method == "chat.postMessage" and "Escalation tier 1" in c.params["text"]]
    t1 = _work(baton, T1)
    assert {w.state for w in t1} == {"suspended"} and {w.attempts for w in t1} == {0}

    # Installed again (a new token): what fell due meanwhile goes out now, marked late.
    again = "xoxb-agency-one-again"
    baton.slack.grant(f"code-{T1}", team_id=T1, team_name="Agency 1", bot_token=again,
                      installer=ALICE)
    assert install(baton, T1).status_code == 200
    assert "suspended" not in {w.state for w in _work(baton, T1)}
    with baton.sessions() as s:
        assert s.scalars(select(AuditEvent).where(AuditEvent.team_id == T1,
                                                  AuditEvent.kind == "work_resumed")).all()
    since = len(baton.slack.calls)
    baton.runtime.engine.run_due()
    (page,) = [c for c in _calls_with(baton, again, since) if c.method == "chat.postMessage"
               and "Escalation tier 1" in c.params["text"]]
    assert page.response["ok"] and "late" in page.params["text"].lower()


def test_with_one_bot_token_an_uninstall_suspends_the_due_work_too(serve_factory, database_url):
    single = serve_factory(database_url)  # SLACK_BOT_TOKEN: no installation store
    single.command("/handoff", HANDOFF)
    _event(single, {"type": "app_uninstalled"}, TEAM)
    assert {w.state for w in _work(single, TEAM)} == {"suspended"}
    with single.sessions() as s:
        due = max(s.scalars(select(Record.due_at)))
    single.clock.set(due + timedelta(hours=1))
    since = len(single.slack.calls)
    single.runtime.engine.run_due()
    assert not [c for c in single.slack.calls[since:] if c.method == "chat.postMessage"]
