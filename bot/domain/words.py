"""Counts in people's words: "1 event", "2 events". Every count a person reads (Slack
messages, the report, the command line) goes through plural()."""

from __future__ import annotations


def plural(count: int, one: str, many: str | None = None) -> str:
    """`count` with its noun agreeing; `many` for a plural that is not `one` + "s"."""
    return f"{count} {one if count == 1 else (many or one + 's')}"
