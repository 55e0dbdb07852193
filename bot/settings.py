"""Settings: the only module that reads the environment.

Sources, highest first: environment variables, then the TOML file named by BATON_CONFIG,
then defaults. A missing or invalid setting becomes one SettingsError line naming it.
"""

from __future__ import annotations

import os
import re
import threading
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, time
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.domain import slack_ids
from bot.domain.ladder import LadderConfig, LadderError, parse_ladders
from bot.domain.permissions import RoleConfig, RolesError, parse_roles
from bot.domain.tracker_config import TemplateConfig, TemplateError, parse_templates

DEFAULT_SLACK_API_URL = "https://slack.com/api/"


class SettingsError(Exception):
    """A setting is missing or invalid; str() is one line naming it."""


# The bot scopes manifest.yml asks for; the install flow requests the same.
DEFAULT_SCOPES = ("chat:write,chat:write.public,commands,users:read,im:write,usergroups:read,"
                  "files:write,channels:history,groups:history")


# The databases Baton runs on, with the drivers it installs (the first is the one it uses).
_DATABASES = {"sqlite": ("pysqlite",), "postgresql": ("psycopg",)}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    slack_bot_token: SecretStr | None = Field(default=None, validation_alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias="SLACK_SIGNING_SECRET"
    )
    slack_app_token: SecretStr | None = Field(default=None, validation_alias="SLACK_APP_TOKEN")
    # Slack's OAuth install flow (one deployment, many workspaces) instead of one bot token.
    slack_client_id: str | None = Field(default=None, validation_alias="SLACK_CLIENT_ID")
    slack_client_secret: SecretStr | None = Field(default=None,
                                                  validation_alias="SLACK_CLIENT_SECRET")
    slack_scopes: str = Field(default=DEFAULT_SCOPES, validation_alias="SLACK_SCOPES")
    database_url: str = Field(default="sqlite:///baton.db", validation_alias="DATABASE_URL")
    slack_api_url: str = Field(default=DEFAULT_SLACK_API_URL, validation_alias="SLACK_API_URL")
    port: int = Field(default=3000, ge=1, le=65535, validation_alias="PORT")
    log_level: str = Field(default="INFO", validation_alias="BATON_LOG_LEVEL")
    # Person references are codes, never names: shared channels must not carry names.
    person_ref_pattern: str = Field(default=r"P-\d+", validation_alias="BATON_PERSON_REF_PATTERN")
    # A date typed without a time means the end of that working day.
    end_of_day: time = Field(default=time(17, 0), validation_alias="BATON_END_OF_DAY")
    holidays: list[date] = Field(default_factory=list)
    # Used only when Slack cannot tell a user's own time zone.
    default_timezone: str = Field(default="America/New_York", validation_alias="BATON_TIMEZONE")
    # Managers (Slack user or user group IDs): the older spelling of [roles] managers.
    managers: list[str] = Field(default_factory=list)
    # Fallback coordinator of the day (a Slack user ID) until a rota names one.
    coordinator: str | None = Field(default=None, validation_alias="BATON_COORDINATOR")
    # The engine: how often it sweeps besides its one-shot wake at the next due time, and
    # the gap it keeps between posts to one channel (Slack allows about one a second).
    sweep_seconds: float = Field(default=10.0, gt=0, le=300, validation_alias="BATON_SWEEP_SECONDS")
    channel_post_interval: float = Field(default=1.0, ge=0, le=10)
    # Coordinator of the day: the morning digest's local time (in default_timezone) on
    # working days, and the channel told when nobody is coordinator (else every channel
    # with open records).
    digest_time: time = Field(default=time(8, 30), validation_alias="BATON_DIGEST_TIME")
    # Work answered 200 but not yet done, per process, beyond which requests are turned away
    # with a "try again" (a few seconds of work; it is in memory until done).
    max_backlog: int = Field(default=200, ge=10, le=100_000, validation_alias="BATON_MAX_BACKLOG")
    coordination_channel: str | None = Field(default=None,
                                             validation_alias="BATON_COORDINATION_CHANNEL")
    # Partner trends: a route missing this many acknowledgement deadlines within the window
    # is posted as a "systemic pattern" to the governance channel.
    governance_channel: str | None = Field(default=None,
                                           validation_alias="BATON_GOVERNANCE_CHANNEL")
    pattern_threshold: int = Field(default=3, ge=2, le=100,
                                   validation_alias="BATON_PATTERN_THRESHOLD")
    pattern_window_days: int = Field(default=30, ge=1, le=365,
                                     validation_alias="BATON_PATTERN_WINDOW_DAYS")
    # Server-side worker threads for Slack's follow-up work (cards, modals, messages).
    workers: int = Field(default=8, ge=1, le=64, validation_alias="BATON_WORKERS")
    # `serve` under hostile traffic (bot.web.server.server_options): a body larger than this is
    # refused with 413 before it is read (Slack's own payloads are a few hundred KB at most);
    # open connections beyond the limit wait in the kernel's backlog; a connection idle this
    # long is closed; a request whose headers and body are not all in within
    # BATON_REQUEST_SECONDS of its first byte is cut off, however steadily it trickles in.
    max_body_bytes: int = Field(default=1024 * 1024, ge=64 * 1024, le=64 * 1024 * 1024,
                                validation_alias="BATON_MAX_BODY_BYTES")
    connection_limit: int = Field(default=2000, ge=50, le=50_000,
                                  validation_alias="BATON_CONNECTION_LIMIT")
    idle_seconds: float = Field(default=15.0, gt=0, le=600, validation_alias="BATON_IDLE_SECONDS")
    request_seconds: float = Field(default=10.0, gt=0, le=600,
                                   validation_alias="BATON_REQUEST_SECONDS")
    # /healthz writes a tiny row at most this often, and answers from the last result between.
    health_probe_seconds: float = Field(default=5.0, ge=0, le=300,
                                        validation_alias="BATON_HEALTH_PROBE_SECONDS")

    @field_validator("person_ref_pattern")
    @classmethod
    def _pattern_compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a regular expression ({exc})") from exc
        return v

    @field_validator("default_timezone")
    @classmethod
    def _zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {v!r} (use an IANA name like America/Chicago)"
            ) from None
        return v

    @field_validator("database_url")
    @classmethod
    def _database(cls, v: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(v)
        except ArgumentError:
            raise ValueError("not a database URL: use sqlite:///baton.db or "
                             "postgresql://user@host/baton") from None
        backend, _, driver = url.drivername.partition("+")  # read, not loaded
        if backend == "postgres":
            raise ValueError("write postgresql://, not postgres:// (SQLAlchemy's spelling)")
        if backend not in _DATABASES:
            raise ValueError(f"Baton keeps its data in SQLite or PostgreSQL, not {backend}: "
                             "use sqlite:///baton.db or postgresql://user@host/baton")
        if driver and driver not in _DATABASES[backend]:
            raise ValueError(f"the {driver} driver is not one Baton installs: write "
                             f"{backend}:// (Baton uses {_DATABASES[backend][0]})")
        return v

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v if v.endswith("/") else v + "/"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_settings merges the environment over the TOML file and passes the result
        # in; nothing here reads os.environ behind its back.
        return (init_settings,)

    def require(self, *names: str) -> None:
        """Fail with one line if a setting a mode needs is not set."""
        for name in names:
            if getattr(self, name) in (None, ""):
                alias = type(self).model_fields[name].validation_alias
                raise SettingsError(f"{alias or name} is not set: this mode needs it.")

    @property
    def oauth(self) -> bool:
        """Serve many workspaces through Slack's install flow (SLACK_CLIENT_ID and
        SLACK_CLIENT_SECRET) rather than one (SLACK_BOT_TOKEN)."""
        return bool(self.slack_client_id or self.slack_client_secret)

    def require_credentials(self) -> None:
        """HTTP mode needs one of the two ways in, not both; one line if not."""
        if self.oauth:
            if self.slack_bot_token is not None:
                raise SettingsError("SLACK_BOT_TOKEN and SLACK_CLIENT_ID are both set: give "
                                    "one bot token (one workspace) or the client ID and "
                                    "secret (Slack's install flow, many workspaces), not both.")
            self.require("slack_client_id", "slack_client_secret", "slack_signing_secret")
        else:
            self.require("slack_bot_token", "slack_signing_secret")

    def channel_for(self, team_id: str, name: str) -> str | None:
        """A workspace's own governance or coordination channel ([workspaces.T…] in
        BATON_CONFIG), else the one setting for all."""
        own = getattr(self, "_workspaces", {}).get(team_id, {})
        return own.get(name) or getattr(self, name) or None

    @property
    def scopes(self) -> list[str]:
        return [s.strip() for s in self.slack_scopes.split(",") if s.strip()]

    def secret(self, name: str) -> str:
        value = getattr(self, name)
        return value.get_secret_value() if value is not None else ""

    @property
    def config_data(self) -> dict[str, Any]:
        return dict(getattr(self, "_config_data", {}))

    @property
    def ladders(self) -> LadderConfig:
        return getattr(self, "_ladders", None) or LadderConfig()

    @property
    def templates(self) -> TemplateConfig:
        """Pathway tracker templates: the built-in ones, with BATON_CONFIG's over them."""
        found = getattr(self, "_templates", None)
        return found if found is not None else parse_templates({})

    @property
    def roles(self) -> RoleConfig:
        found = getattr(self, "_roles", None)
        return found if found is not None else parse_roles({}, legacy_managers=self.managers)


def _read_toml(path: str) -> dict[str, Any]:
    p = Path(path)
    try:
        with p.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise SettingsError(f"BATON_CONFIG: no such file {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"BATON_CONFIG: {path} is not valid TOML ({exc})") from None


# Tables the file may hold besides the settings themselves (each read by its own parser,
# which names its own bad keys).
_TABLES = ("ladder", "ladder_for_risk", "roles", "workspaces", "template", "agencies")


def _refuse_unknown_keys(data: Mapping[str, Any]) -> None:
    """A mistyped key must not be ignored: `end_of_dya` would leave the default in force
    with nobody told. SettingsError names the key and the nearest valid one."""
    import difflib

    known = sorted({*Settings.model_fields, *_TABLES})
    for key in data:
        if key in known:
            continue
        near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = (f"did you mean `{near[0]}`?" if near else
                "it is not a setting; README's “Running it for real” lists them")
        raise SettingsError(f"BATON_CONFIG: unknown key `{key}`: {hint}")


_TEAM = slack_ids.TEAM_ID
_CHANNEL = slack_ids.POSTING_CHANNEL_ID  # a channel to post in: never a DM
_PER_WORKSPACE = ("governance_channel", "coordination_channel")


def _read_workspaces(table: Any) -> dict[str, dict[str, str]]:
    """[workspaces.T0123ABCD] governance_channel / coordination_channel: each workspace's
    own channels when one deployment serves several. SettingsError names the key."""
    if not isinstance(table, dict):
        raise SettingsError("workspaces: must be tables, e.g. [workspaces.T0123ABCD]")
    out: dict[str, dict[str, str]] = {}
    for team, values in table.items():
        if not _TEAM.match(str(team)) or not isinstance(values, dict):
            raise SettingsError(f"workspaces.{team}: a table named by a Slack workspace ID "
                                "(T…), e.g. [workspaces.T0123ABCD]")
        own: dict[str, str] = {}
        for key, value in values.items():
            if key not in _PER_WORKSPACE:
                raise SettingsError(f"workspaces.{team}.{key}: unknown; a workspace may set "
                                    f"{' and '.join(_PER_WORKSPACE)}")
            if not isinstance(value, str) or not _CHANNEL.match(value):
                raise SettingsError(f"workspaces.{team}.{key}: “{str(value)[:40]}” is not a "
                                    "Slack channel ID (C… or G…)")
            own[key] = value
        out[str(team)] = own
    return out


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    data: dict[str, Any] = {}
    config_path = env.get("BATON_CONFIG")
    if config_path:
        data = _read_toml(config_path)
        _refuse_unknown_keys(data)
    values: dict[str, Any] = {k: v for k, v in data.items() if not isinstance(v, dict)}
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, str) and env.get(alias, "") != "":
            values.pop(name, None)
            values[alias] = env[alias]
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "settings"
        bad = Settings.model_fields.get(str(err["loc"][0])) if err["loc"] else None
        named = (bad.validation_alias if bad and bad.validation_alias else loc)
        raise SettingsError(f"{named}: {err['msg'].removeprefix('Value error, ')}") from None
    object.__setattr__(settings, "_config_data", data)
    object.__setattr__(settings, "_workspaces", _read_workspaces(data.get("workspaces", {})))
    try:
        object.__setattr__(settings, "_ladders", parse_ladders(data))
        object.__setattr__(settings, "_roles",
                           parse_roles(data, legacy_managers=settings.managers))
        object.__setattr__(settings, "_templates", parse_templates(data))
    except (LadderError, RolesError, TemplateError) as exc:
        raise SettingsError(str(exc)) from None
    return settings


# Settings Baton has read that a library would read from the environment again by itself:
# slack_bolt's App falls back to SLACK_BOT_TOKEN when it is given no token, and then, as
# Baton always gives it a client built from these settings, logs "As you gave `client` as
# well, `token` will be unused" at every start.
_READ_AGAIN_BY_LIBRARIES = ("SLACK_BOT_TOKEN",)
_hiding = threading.Lock()


@contextmanager
def settings_hidden_from_libraries() -> Iterator[None]:
    """Build a library object (Bolt's App) that must take Baton's settings from Baton, not
    from the environment behind its back: the variables above are out of os.environ inside
    the block and put back as they were after it."""
    with _hiding:
        kept = {name: os.environ.pop(name) for name in _READ_AGAIN_BY_LIBRARIES
                if name in os.environ}
        try:
            yield
        finally:
            os.environ.update(kept)
