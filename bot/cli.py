"""The `baton` command: migrate, serve, socket, console."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

from bot.settings import Settings, SettingsError, load_settings


class Exit(Exception):
    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _engine(settings: Settings, *, check: bool = True) -> Any:
    from sqlalchemy.exc import OperationalError

    from store.db import SchemaOutOfDate, check_schema, make_engine

    engine = make_engine(settings.database_url)
    if check:
        try:
            check_schema(engine)
        except SchemaOutOfDate as exc:
            raise Exit(str(exc)) from None
        except OperationalError as exc:
            raise Exit(f"DATABASE_URL: cannot reach the database ({_first_line(exc)})") from None
    return engine


def _first_line(exc: BaseException) -> str:
    return str(getattr(exc, "orig", exc)).strip().splitlines()[0][:200]


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from sqlalchemy.exc import OperationalError

    from store.db import migrate

    engine = _engine(settings, check=False)
    try:
        before, after = migrate(engine)
    except OperationalError as exc:
        raise Exit(f"DATABASE_URL: cannot reach the database ({_first_line(exc)})") from None
    print(f"database at {after}" + (" (already up to date)" if before == after else
                                     f" (was {before or 'empty'})"))
    return 0


def _build(settings: Settings, engine: Any) -> tuple[Any, Any]:
    from slack_sdk.errors import SlackApiError

    from bot.app import build_app, make_client
    from bot.clock import SystemClock
    from store.db import make_session_factory

    try:
        return build_app(settings, client=make_client(settings),
                         session_factory=make_session_factory(engine), clock=SystemClock())
    except SlackApiError as exc:
        raise Exit(f"SLACK_BOT_TOKEN: Slack refused it ({exc.response.get('error')})") from None


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import waitress

    from bot.app import wsgi_app
    from store.db import make_session_factory

    settings.require("slack_bot_token", "slack_signing_secret")
    port = args.port or settings.port
    engine = _engine(settings)
    app, baton = _build(settings, engine)
    logging.getLogger("baton").info("serving Slack on http://%s:%s/slack/events", args.host, port)
    server = waitress.create_server(
        wsgi_app(app, baton, make_session_factory(engine)), host=args.host, port=port,
        threads=args.threads, ident="baton",
    )

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
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_sdk.errors import SlackApiError

    settings.require("slack_bot_token", "slack_app_token")
    engine = _engine(settings)
    app, baton = _build(settings, engine)
    baton.start_engine()
    try:
        SocketModeHandler(app, settings.secret("slack_app_token")).start()
    except SlackApiError as exc:
        raise Exit("SLACK_APP_TOKEN: Slack refused to open a Socket Mode connection "
                   f"({exc.response.get('error')}); it needs an app-level token with "
                   "connections:write") from None
    finally:
        baton.close()
    return 0


def cmd_console(settings: Settings, args: argparse.Namespace) -> int:
    from bot.console import run_console

    return run_console(settings, script=args.script)


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
    sub.add_parser("ladder", help="print the escalation ladders in force (checks BATON_CONFIG)")
    args = parser.parse_args(argv)

    try:
        settings = load_settings()
        level = "WARNING" if args.command == "console" else settings.log_level.upper()
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("alembic").setLevel(logging.WARNING)
        logging.getLogger("apscheduler").setLevel(logging.WARNING)  # it only wakes the engine
        handler = {"migrate": cmd_migrate, "serve": cmd_serve, "socket": cmd_socket,
                   "console": cmd_console, "ladder": cmd_ladder}[args.command]
        return handler(settings, args)
    except (SettingsError, Exit) as exc:
        print(f"baton: {exc}", file=sys.stderr)
        return getattr(exc, "code", 2)


if __name__ == "__main__":
    raise SystemExit(main())
