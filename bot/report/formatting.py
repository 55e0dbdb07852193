"""How the report writes values for people: HTML escaping, times in the reader's zone (with
the UTC instant kept in <time datetime>), missing values, and the period's name.
Shared by bot/report/page.py, bot/report/charts.py and the summary in bot/report/__init__.py.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def local_text(when: datetime, tz: ZoneInfo) -> str:
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def when_html(when: datetime | None, tz: ZoneInfo, *, missing: str = "not recorded") -> str:
    if when is None:
        return f'<span class="none">{esc(missing)}</span>'
    iso = when.astimezone(UTC).isoformat()
    return f'<time datetime="{esc(iso)}">{esc(local_text(when, tz))}</time>'


def text_html(value: Any, *, missing: str = "not recorded") -> str:
    if value is None or value == "":
        return f'<span class="none">{esc(missing)}</span>'
    return esc(value)


def period_text(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    """Whole local days read as a date range (end inclusive); anything else as times."""
    lo, hi = start.astimezone(tz), end.astimezone(tz)
    if lo.time() == time(0) and hi.time() == time(0):
        last = hi.date() - timedelta(days=1)
        if last == lo.date():
            return f"{lo:%Y-%m-%d} ({tz.key})"
        return f"{lo:%Y-%m-%d} to {last:%Y-%m-%d} ({tz.key})"
    return f"{local_text(start, tz)} to {local_text(end, tz)} (end excluded)"
