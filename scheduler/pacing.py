"""Pacing: Slack takes about one message a second per channel. The time engine's sends
(scheduler/sending.py) wait their turn here."""

from __future__ import annotations

import time
from collections.abc import Callable


class Pacer:
    """Keeps to Slack's about one message per second per channel."""

    def __init__(self, interval: float, *, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._interval = interval
        self._monotonic = monotonic
        self._sleep = sleep
        self._next: dict[str, float] = {}

    def wait(self, channel: str) -> None:
        if self._interval <= 0:
            return
        now = self._monotonic()
        ready = self._next.get(channel, now)
        if ready > now:
            self._sleep(ready - now)
            now = ready
        self._next[channel] = now + self._interval
