"""The `baton` command: migrate, serve, socket, console."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from bot.domain.words import plural
from bot.settings import Settings, SettingsError, load_settings


class Exit(Exception):
    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


class BrokenReport(RuntimeError):
    """store.audit.verify said a chain is not intact but named no broken link."""


def _engine(settings: Settings, *, check: bool = True, threads: int = 0) -> Any:
    from sqlalchemy.exc import OperationalError

    from store.db import SchemaOutOfDate, check_schema, make_engine

    # A connection for each thread that may want one at once (request threads, workers,
    # the engine and housekeeping): a request must not queue for a connection behind work.
    engine = make_engine(settings.database_url, pool_size=max(10, threads + settings.workers
                                                                 + 4))
    if check:
        try:
            check_schema(engine)
        except SchemaOutOfDate as exc:
            raise Exit(str(exc)) from None
        except OperationalError as exc:
            raise Exit(f"DATABASE_URL: cannot reach the database ({_first_line(exc)})") from None
    return engine


_HELD: list[Any] = []  # this process's SQLite lock: held until it exits


def _sole_writer(settings: Settings) -> None:
    """serve, socket and console each run the time engine and redo saved requests: on a
    SQLite file only one of them may run (a second is refused in one line, exit code 2).
    PostgreSQL is shared by replicas, and SQLite in memory by nobody."""
    from store.db import DatabaseInUse, sole_writer

    try:
        lock = sole_writer(settings.database_url)
    except DatabaseInUse as exc:
        raise Exit(str(exc)) from None
    if lock is not None:
        _HELD.append(lock)


def _first_line(exc: BaseException) -> str:
    return str(getattr(exc, "orig", exc)).strip().splitlines()[0][:200]


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy.exc import OperationalError

    from store.db import DatabaseInUse, current_revision, head_revision, migrate, sole_writer

    engine = _engine(settings, check=False)
    before: str | None
    try:
        if current_revision(engine) == head_revision():
            before = after = head_revision()  # nothing to do: fine beside a running Baton
        else:
            # An upgrade under a running Baton on the same SQLite file would change the
            # schema beneath code that checked it at start: it must stop first.
            try:
                lock = sole_writer(settings.database_url)
            except DatabaseInUse as exc:
                raise Exit(f"{exc}; the schema upgrade was not started") from None
            try:
                before, after = migrate(engine)
            finally:
                if lock is not None:
                    lock.release()
    except OperationalError as exc:
        raise Exit(f"DATABASE_URL: cannot reach the database ({_first_line(exc)})") from None
    print(f"database at {after}" + (" (already up to date)" if before == after else
                                     f" (was {before or 'empty'})"))
    return 0


def _build(settings: Settings, engine: Any, *,
           redo: Literal["http", "socket"]) -> tuple[Any, Any]:
    from slack_sdk.errors import SlackApiError, SlackClientError

    from bot.app import build_app
    from bot.clock import SystemClock
    from bot.slack.clients import make_client
    from store.db import make_session_factory

    try:
        return build_app(settings, client=make_client(settings),
                         session_factory=make_session_factory(engine), clock=SystemClock(),
                         redo=redo)
    except SlackApiError as exc:
        raise Exit(f"SLACK_BOT_TOKEN: Slack refused it ({exc.response.get('error')})") from None
    except (SlackClientError, OSError) as exc:  # no answer at all: DNS, refused, timed out
        raise Exit(f"SLACK_API_URL: Slack could not be reached at {settings.slack_api_url} "
                   f"({type(exc).__name__}); check the network, or try again") from None


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from bot.app import wsgi_app
    from bot.web.server import make_server
    from store.db import make_session_factory

    settings.require_credentials()  # one bot token, or the install flow's client ID/secret
    port = args.port if args.port is not None else settings.port
    if not 0 <= port <= 65535:  # 0: any free port (serve says which once it listens)
        raise Exit(f"--port {port}: a port is a number from 1 to 65535 (0 for any free one)")
    _sole_writer(settings)
    engine = _engine(settings, threads=args.threads)
    app, baton = _build(settings, engine, redo="http")
    # Hostile traffic (idle and trickling connections, oversized bodies) is bounded by
    # bot.web.server.server_options; the tests' server is made the same way.
    try:
        server = make_server(wsgi_app(app, baton, make_session_factory(engine)), settings,
                             host=args.host, port=port, threads=args.threads)
    except OSError as exc:
        baton.close(drain=0)
        raise Exit(f"--port {port}: cannot listen on {args.host}:{port} "
                   f"({exc.strerror or exc}); is another baton serve using it?") from None
    bound = server.effective_listen[0][1]  # where it listens, said once it does
    logging.getLogger("baton").info("serving Slack on http://%s:%s/slack/events", args.host,
                                    bound)

    def stop(*_: Any) -> None:
        server.close()

    signal.signal(signal.SIGTERM, stop)
    baton.start_engine()
    try:
        server.run()
    except (KeyboardInterrupt, OSError):
        pass
    finally:
        baton.close()
    return 0


def cmd_socket(settings: Settings, args: argparse.Namespace) -> int:
    import threading

    from slack_sdk.errors import SlackApiError

    from bot.app import socket_handler

    if settings.oauth:
        raise Exit("Socket Mode serves the one workspace of SLACK_BOT_TOKEN: unset "
                   "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET, or use `baton serve` for Slack's "
                   "install flow")
    settings.require("slack_bot_token", "slack_app_token")
    _sole_writer(settings)
    engine = _engine(settings)
    # Envelopes answered by a process that died are redone by the next start, as Socket
    # Mode envelopes (bot/web/inbox.py).
    app, baton = _build(settings, engine, redo="socket")
    handler = socket_handler(app, baton)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    try:
        try:
            handler.connect()
        except SlackApiError as exc:
            raise Exit("SLACK_APP_TOKEN: Slack refused to open a Socket Mode connection "
                       f"({exc.response.get('error')}); it needs an app-level token with "
                       "connections:write") from None
        baton.start_engine()
        logging.getLogger("baton").info("connected to Slack in Socket Mode")
        stopping.wait()
    except KeyboardInterrupt:
        pass
    finally:
        handler.close()  # no new envelopes; what was acknowledged gets baton.close's drain
        baton.close()
    return 0


def cmd_console(settings: Settings, args: argparse.Namespace) -> int:
    import shutil

    from bot.console.terminal import run_console

    if args.script is not None:
        try:
            with open(args.script, encoding="utf-8") as script:
                script.read()
        except OSError as exc:
            raise Exit(f"--script {args.script}: cannot read it ({_os_reason(exc)})") from None
        except UnicodeDecodeError:
            raise Exit(f"--script {args.script}: not a text file (UTF-8)") from None
    fresh = None
    if args.fresh:
        # A new empty database for this session only (DATABASE_URL is not used): an
        # example runs the same however often it is run in one folder.
        fresh = tempfile.mkdtemp(prefix="baton-console-")
        settings = settings.model_copy(
            update={"database_url": f"sqlite:///{Path(fresh) / 'baton.db'}"})
    try:
        _sole_writer(settings)
        return run_console(settings, script=args.script, files_dir=args.files)
    finally:
        if fresh is not None:
            while _HELD:
                _HELD.pop().release()
            shutil.rmtree(fresh, ignore_errors=True)


def cmd_ladder(settings: Settings, args: argparse.Namespace) -> int:
    config = settings.ladders
    source = "from BATON_CONFIG" if "ladder" in settings.config_data else \
        "built in (no [ladder] tables in BATON_CONFIG)"
    print(f"# escalation ladders, {source}")
    for ladder in config.ladders.values():
        print("\n".join(ladder.describe()))
        print()
    if config.for_risk:
        print("[ladder_for_risk]")
        for risk, name in config.for_risk.items():
            print(f'{risk.value} = "{name}"')
    return 0


def cmd_report(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta
    from pathlib import Path
    from zoneinfo import ZoneInfo

    from bot.clock import SystemClock
    from bot.report import field_map_lines, write_report
    from store import queries
    from store.db import make_session_factory

    def day(text: str, flag: str) -> Any:
        try:
            return datetime.strptime(text, "%Y-%m-%d").date()
        except ValueError:
            raise Exit(f"{flag}: “{text}” is not a date like 2026-11-01") from None

    first, last = day(args.date_from, "--from"), day(args.date_to, "--to")
    if last < first:
        raise Exit(f"--to ({last}) is before --from ({first})")
    tz = ZoneInfo(settings.default_timezone)
    sessions = make_session_factory(_engine(settings))
    team = args.team
    if team is None:
        with sessions() as s:
            teams = queries.known_teams(s)
        if len(teams) > 1:
            raise Exit(f"several workspaces in this database ({', '.join(teams)}): "
                       "choose one with --team")
        team = teams[0] if teams else ""
    start = datetime.combine(first, datetime.min.time(), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(),
                           tzinfo=tz).astimezone(UTC)
    out = Path(args.out)
    _writable_folder(out)
    try:
        summary = write_report(sessions, team_id=team, start=start, end=end,
                               channel_id=args.channel, out_dir=out,
                               now=SystemClock().now(), tz=tz,
                               agencies=settings.templates.agencies)
    except OSError as exc:  # the folder was writable a moment ago: full, or taken away
        raise Exit(f"--out {out}: the report could not be written there ({_os_reason(exc)}); "
                   "nothing of it was kept") from None
    print(summary.headline_text())
    for path in summary.paths:
        print(f"wrote {path}")
    print("\n".join(["", *field_map_lines()]))
    return 0


def _os_reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


def _writable_folder(out: Path) -> None:
    """`--out` is a folder Baton can make and write in, or one line (Exit) says why."""
    if out.exists() and not out.is_dir():
        raise Exit(f"--out {out}: that is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
        why = f"{blocker} is a file, not a folder" if blocker else _os_reason(exc)
        raise Exit(f"--out {out}: cannot make that folder ({why})") from None
    try:  # a folder that exists may still refuse writes (permissions, a read-only mount)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise Exit(f"--out {out}: cannot write in that folder ({_os_reason(exc)})") from None


def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    """`baton audit verify`: walk each workspace's hash chain; exit 1 at a broken link."""
    from store import audit
    from store.db import make_session_factory

    sessions = make_session_factory(_engine(settings))
    with sessions() as s:
        teams = [args.team] if args.team else audit.teams(s)
    if not teams:
        print("No audit events yet: nothing to verify.")
        return 0
    broken = 0
    for team in teams:
        with sessions() as s:
            report = audit.verify(s, team_id=team)
        if report.ok:
            print(f"{team}: {plural(report.events, 'event')}, chain intact. "
                  f"Head: {report.head_hash}")
            continue
        broken += 1
        b = report.broken
        if b is None:
            raise BrokenReport(f"{team}: the chain is reported broken with no link named")
        if b.event_id is not None:
            loc = ", ".join(x for x in (
                f"event id {b.event_id}", f"number {b.seq}",
                report.at.isoformat() if report.at is not None else "",
                report.kind or "", report.record_ref or "") if x)
        else:
            loc = f"the end of the chain (number {b.seq})"
        print(f"{team}: BROKEN at {loc}: {b.reason}. The "
              f"{plural(report.events, 'event')} before it verify.")
    return 1 if broken else 0


def configure_logging(settings: Settings, command: str) -> None:
    """Baton's log setup, for every command: one line a record, and no configured secret
    in any record (bot.redact: every secret Settings holds), whatever logs it (slack_sdk
    logs whole requests at DEBUG)."""
    from bot.redact import install_redaction

    level = "WARNING" if command == "console" else settings.log_level.upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # it only wakes the engine
    install_redaction(settings)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="baton", description="Baton: owned, timed, escalated "
                                     "cross-agency handoffs and dependencies, in Slack.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create or upgrade the database schema")
    serve = sub.add_parser("serve", help="HTTP mode: Slack posts to /slack/events")
    serve.add_argument("--port", type=int, default=None, help="default: PORT or 3000")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--threads", type=int, default=16)
    sub.add_parser("socket", help="Socket Mode (SLACK_APP_TOKEN), no public URL needed")
    console = sub.add_parser("console", help="try Baton offline against a built-in Slack emulator")
    console.add_argument("--script", default=None, help="read lines from this file, not stdin")
    console.add_argument("--fresh", action="store_true",
                         help="a new empty database for this session, deleted at exit "
                              "(DATABASE_URL is not used)")
    console.add_argument("--files", default=None, metavar="DIR",
                         help="save the files Baton uploads (reports) here "
                              "(default ./baton-console-files)")
    sub.add_parser("ladder", help="print the escalation ladders in force (checks BATON_CONFIG)")
    report = sub.add_parser("report", help="write the commissioner's evidence report (CSV "
                            "files and one offline HTML file)")
    report.add_argument("--from", dest="date_from", required=True, help="first day, YYYY-MM-DD")
    report.add_argument("--to", dest="date_to", required=True, help="last day, YYYY-MM-DD")
    report.add_argument("--channel", default=None, help="only this channel's records")
    report.add_argument("--team", default=None, help="the workspace (when there are several)")
    report.add_argument("--out", required=True, help="folder to write into")
    audit = sub.add_parser("audit", help="check the tamper-evident audit trail")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="walk each workspace's hash chain and report "
                                  "the first broken link (exit 1)")
    verify.add_argument("--team", default=None, help="only this workspace")
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
        configure_logging(settings, args.command)
        handler = {"migrate": cmd_migrate, "serve": cmd_serve, "socket": cmd_socket,
                   "console": cmd_console, "ladder": cmd_ladder,
                   "report": cmd_report, "audit": cmd_audit}[args.command]
        return handler(settings, args)
    except (SettingsError, Exit) as exc:
        print(f"baton: {exc}", file=sys.stderr)
        return getattr(exc, "code", 2)


if __name__ == "__main__":
    raise SystemExit(main())
