import re
from datetime import UTC, datetime

import pytest
import yaml
from sqlalchemy import select

from bot.settings import SettingsError, load_settings
from bot.slack.ids import COMMANDS
from store import queries
from store.db import SchemaOutOfDate, check_schema, make_engine, make_session_factory
from store.models import AppendOnlyError, AuditEvent
from store.queries import parse_reference, partner_key


def test_audit_events_cannot_be_updated_or_deleted(sqlite_url):
    sessions = make_session_factory(make_engine(sqlite_url))
    with sessions.begin() as s:
        queries.add_event(s, record=None, team_id="T1", at=datetime.now(UTC), actor="U1",
                          kind="created")
    with pytest.raises(AppendOnlyError), sessions.begin() as s:
        ev = s.scalars(select(AuditEvent)).one()
        ev.kind = "tampered"
    with pytest.raises(AppendOnlyError), sessions.begin() as s:
        s.delete(s.scalars(select(AuditEvent)).one())
    with sessions() as s:
        assert s.scalars(select(AuditEvent)).one().kind == "created"


def test_times_come_back_aware_utc_and_naive_is_refused(sqlite_url):
    sessions = make_session_factory(make_engine(sqlite_url))
    when = datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    with sessions.begin() as s:
        queries.add_event(s, record=None, team_id="T1", at=when, actor="U1", kind="created")
    with sessions() as s:
        assert s.scalars(select(AuditEvent)).one().at == when
    with pytest.raises(Exception, match="naive"), sessions.begin() as s:
        queries.add_event(s, record=None, team_id="T1", at=datetime(2026, 1, 1), actor="U1",
                          kind="x")
    with pytest.raises(AppendOnlyError, match="add_event"), sessions.begin() as s:
        s.add(AuditEvent(team_id="T1", at=when, actor="U1", kind="x", seq=2, prev_hash="0",
                         hash="0"))  # around the chain: refused


def test_unmigrated_database_is_refused_with_one_line(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SchemaOutOfDate, match="run `baton migrate`"):
        check_schema(engine)


def test_references_and_partner_keys():
    assert parse_reference("h-12") == ("handoff", 12)
    assert parse_reference("D3") == ("dependency", 3)
    assert parse_reference("X-1") is None
    assert partner_key("  Northside  Home-Care ") == partner_key("northside home care")
    assert partner_key("St. Mary's") == "st mary s"


def test_settings_errors_name_the_setting():
    with pytest.raises(SettingsError, match=r"^PORT:"):
        load_settings({"PORT": "eighty"})
    with pytest.raises(SettingsError, match="BATON_CONFIG: no such file"):
        load_settings({"BATON_CONFIG": "/nonexistent/baton.toml"})
    with pytest.raises(SettingsError, match="SLACK_SIGNING_SECRET is not set"):
        load_settings({"SLACK_BOT_TOKEN": "x"}).require("slack_bot_token", "slack_signing_secret")


def test_settings_from_toml_with_environment_winning(tmp_path):
    cfg = tmp_path / "baton.toml"
    cfg.write_text('database_url = "sqlite:///file.db"\nend_of_day = "18:30"\n'
                   'holidays = ["2026-12-25"]\nperson_ref_pattern = "MRN\\\\d+"\n')
    s = load_settings({"BATON_CONFIG": str(cfg), "DATABASE_URL": "sqlite:///env.db"})
    assert s.database_url == "sqlite:///env.db"
    assert s.end_of_day.hour == 18 and s.end_of_day.minute == 30
    assert s.person_ref_pattern == r"MRN\d+" and str(s.holidays[0]) == "2026-12-25"


def test_manifest_declares_the_commands_baton_handles():
    with open("manifest.yml") as fh:
        manifest = yaml.safe_load(fh)
    commands = manifest["features"]["slash_commands"]
    assert tuple(c["command"] for c in commands) == COMMANDS
    assert all(c["should_escape"] is True for c in commands)
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "users:read", "im:write"} <= scopes


def test_the_install_flow_asks_for_the_scopes_the_manifest_declares():
    with open("manifest.yml") as fh:
        manifest = yaml.safe_load(fh)
    settings = load_settings({"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "s"})
    assert settings.oauth
    assert sorted(settings.scopes) == sorted(manifest["oauth_config"]["scopes"]["bot"])


def test_each_workspace_may_name_its_own_channels(tmp_path):
    cfg = tmp_path / "baton.toml"
    cfg.write_text('governance_channel = "C0GLOBAL1"\n'
                   '[workspaces.T0AGENCY1]\n'
                   'governance_channel = "C0GOVONE1"\ncoordination_channel = "C0COORD01"\n')
    s = load_settings({"BATON_CONFIG": str(cfg)})
    assert s.channel_for("T0AGENCY1", "governance_channel") == "C0GOVONE1"
    assert s.channel_for("T0AGENCY1", "coordination_channel") == "C0COORD01"
    assert s.channel_for("T0AGENCY2", "governance_channel") == "C0GLOBAL1"
    assert s.channel_for("T0AGENCY2", "coordination_channel") is None
    for table, message in [
        ('[workspaces.agency]\ngovernance_channel = "C0GOVONE1"\n', "workspaces.agency: a table"),
        ('[workspaces.T0AGENCY1]\ngovernance_channel = "#gov"\n',
         "workspaces.T0AGENCY1.governance_channel: “#gov” is not a Slack channel ID"),
        ('[workspaces.T0AGENCY1]\nladder = "x"\n', "workspaces.T0AGENCY1.ladder: unknown"),
    ]:
        cfg.write_text(table)
        with pytest.raises(SettingsError, match=re.escape(message)):
            load_settings({"BATON_CONFIG": str(cfg)})


def test_settings_hidden_from_libraries_puts_the_environment_back(monkeypatch):
    import os

    from bot.settings import settings_hidden_from_libraries

    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-kept")
    with pytest.raises(RuntimeError), settings_hidden_from_libraries():
        assert "SLACK_BOT_TOKEN" not in os.environ
        raise RuntimeError("a library failed to build")
    assert os.environ["SLACK_BOT_TOKEN"] == "xoxb-kept"
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    with settings_hidden_from_libraries():
        pass
    assert "SLACK_BOT_TOKEN" not in os.environ  # nothing invented
