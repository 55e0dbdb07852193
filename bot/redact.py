"""Secrets never reach a log record.

slack_sdk's DEBUG log writes out every request it sends (message text, blocks, views), so a
token someone pasted into a note would be logged; an exception can carry one too. Baton's
own secrets (every secret Settings holds: configured_secrets) and anything shaped like a
Slack token (xoxb-…, xoxp-…, xapp-…) are replaced by [redacted] in every record as it is
made: install_redaction(), which every entry point calls with its Settings (bot/cli.py's
configure_logging, and build_app in bot/app.py for the console and tests), wraps the log
record factory, so it holds whichever handler (a file, the console, pytest's
caplog) the record then goes to. RedactSecrets is the same as a logging.Filter, for
handlers that receive records made elsewhere.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr

from bot.settings import Settings

REDACTED = "[redacted]"

# Slack's token kinds: bot, user, app-level, workspace, refresh, configuration. No word
# boundary in front: in a repr'd payload a token follows "\n" as the letters "\" and "n".
TOKEN = re.compile(r"(?:xox[abpersc]|xapp)-[0-9A-Za-z][0-9A-Za-z-]*")

_MIN_SECRET = 8  # shorter "secrets" (tests' placeholders) would redact ordinary words

_lock = threading.Lock()
_secrets: set[str] = set()
_installed: list[Callable[..., logging.LogRecord]] = []


def redact(text: str) -> str:
    """`text` with every known secret and token-shaped value replaced."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return TOKEN.sub(REDACTED, text)


def _scrub(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string: leave it to logging to report
        return
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class RedactSecrets(logging.Filter):
    """A filter that redacts (never drops) a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        _scrub(record)
        return True


def configured_secrets(settings: Settings) -> list[str]:
    """Every secret `settings` holds: each SecretStr setting (the bot and app-level tokens,
    the signing secret, the OAuth client secret, and any secret setting added later) and
    DATABASE_URL's password, as written and decoded."""
    found = [value.get_secret_value() for name in type(settings).model_fields
             if isinstance(value := getattr(settings, name), SecretStr)]
    try:
        password = urlsplit(settings.database_url).password
    except ValueError:  # not a URL urllib can split: SQLAlchemy will say so
        password = None
    if password:
        found += [password, unquote(password)]
    return found


def install_redaction(secrets: Settings | Iterable[str | None] = (),
                      handlers: Iterable[logging.Handler] | None = None) -> None:
    """Redact these secrets (given as Settings: all of configured_secrets) and token-shaped
    values from every log record from now on. Idempotent; later calls add secrets.
    `handlers` (default: the root logger's) also get the filter, for records made before
    this was called or by a foreign record factory."""
    if isinstance(secrets, Settings):
        secrets = configured_secrets(secrets)
    with _lock:
        _secrets.update(s for s in secrets if s and len(s) >= _MIN_SECRET)
        if not _installed:
            previous = logging.getLogRecordFactory()

            def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
                record = previous(*args, **kwargs)
                _scrub(record)
                return record

            _installed.append(previous)
            logging.setLogRecordFactory(factory)
    for handler in (logging.getLogger().handlers if handlers is None else handlers):
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())
