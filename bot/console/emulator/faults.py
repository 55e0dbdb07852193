"""The leniencies a test may ask for, Slack's posting rate limit, and the faults a test
injects.

Slack's refusals are the default; a test that needs a convenience Slack does not offer asks
for it by name (SlackEmulator(lenient={...}), LENIENCIES). chat.postMessage is held to about
one message a second per channel (HTTP 429 with Retry-After past a short burst). A test
injects failures with fail_next and fail_all (an outage, an error code, a 429) and a slow
Slack with set_latency.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.console.emulator.state import Workspace

# The emulator refuses what Slack refuses, with Slack's error codes. A test that needs a
# convenience Slack does not offer asks for it by name (SlackEmulator(lenient={...})):
LENIENCIES = frozenset({
    "unknown_channels",   # any channel id exists: a public channel Baton is a member of
    "unissued_triggers",  # a trigger_id the emulator never issued is taken as fresh
    "rate_limits",        # no per-channel posting limit
    "scopes",             # every scope is granted, whatever manifest.yml asks for
    "unknown_users",      # any user id can be sent a DM (a benchmark's made-up staff)
})

# What the benchmarks ask for: their channels, staff and trigger ids are made up, and they
# measure Baton, not Slack's posting limit (the engine's pacer is measured by its own test).
BENCH_LENIENCIES = frozenset({"unknown_channels", "unknown_users", "unissued_triggers",
                              "rate_limits"})

# chat.postMessage: about one message a second per channel, short bursts allowed. Slack does
# not publish the burst; ten is what Baton must survive.
POST_BURST = 10
POST_RATE = 1.0  # messages per second, refilled


@dataclass
class Failure:
    method: str | None
    status: int
    remaining: int | None  # None: until recover() (or `until` says the outage is over)
    retry_after: int | None
    error: str | None
    until: Callable[[], bool] | None = None
    channel: str | None = None  # only calls to this channel (None = any)


class Refused(Exception):
    """An answer that is not a 200 (a 429 with Retry-After), raised from a method."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        super().__init__(body.get("error"))
        self.status, self.body, self.headers = status, body, headers


class Faults(Workspace):
    """Injected failures and latency, and the posting rate limit."""

    def __init__(self, **workspace: Any) -> None:
        super().__init__(**workspace)
        self._failures: list[Failure] = []
        self._latency: dict[str | None, float] = {}  # method (None = any) -> seconds
        self._buckets: dict[str, tuple[float, float]] = {}  # channel -> (tokens, at)

    def fail_next(
        self,
        method: str | None,
        *,
        status: int | None = None,
        times: int = 1,
        retry_after: int | None = None,
        error: str | None = None,
        channel: str | None = None,
    ) -> None:
        """Make the next ``times`` calls to ``method`` (None = any) fail; with ``channel``,
        only calls to that channel.

        Without ``error`` the default status is 500; with ``error`` it is 200 and the body is
        ``{"ok": false, "error": error}`` (how Slack reports API errors).  429 answers carry
        ``Retry-After`` (``retry_after``, default 1).
        """
        if times < 1:
            return
        if status is None:
            status = 200 if error is not None else 500
        with self._cond:
            self._failures.append(Failure(method, status, times, retry_after, error,
                                           channel=channel))

    def clear_failures(self) -> None:
        """End every injected outage at once."""
        with self._cond:
            self._failures.clear()

    def fail_all(
        self,
        status: int = 503,
        *,
        method: str | None = None,
        until: Callable[[], bool] | None = None,
        retry_after: int | None = None,
        error: str | None = None,
    ) -> None:
        """An outage: every call to ``method`` (None = any) fails with ``status`` until
        :meth:`recover`, or until ``until()`` returns True. ``until`` is asked on each call,
        so an outage can follow an injected clock: ``until=lambda: clock.now() >= end``.
        Answers are shaped as in :meth:`fail_next`."""
        with self._cond:
            self._failures.append(Failure(method, status, None, retry_after, error, until))

    def recover(self) -> None:
        """The outage is over: end every injected failure (fail_all and fail_next alike)."""
        self.clear_failures()

    def set_latency(self, seconds: float, method: str | None = None) -> None:
        """A slow Slack: each call to ``method`` (None = any) is answered ``seconds`` after
        it was received and recorded (so a client that gives up, or dies, in the meantime
        has still been "heard" by Slack). 0 removes it."""
        with self._cond:
            if seconds > 0:
                self._latency[method] = seconds
            else:
                self._latency.pop(method, None)

    # ------------------------------------------------------------------ applied (locked)

    def _take_failure(self, method: str, params: dict[str, Any] | None = None
                      ) -> tuple[int, dict[str, Any], dict[str, str]] | None:
        for failure in list(self._failures):
            if failure.method is not None and failure.method != method:
                continue
            if failure.channel is not None and (params or {}).get("channel") != failure.channel:
                continue
            if failure.until is not None and failure.until():
                self._failures.remove(failure)  # that outage is over
                continue
            if failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
            break
        else:
            return None
        extra: dict[str, str] = {}
        if failure.status == 429 or failure.retry_after is not None:
            extra["Retry-After"] = str(
                failure.retry_after if failure.retry_after is not None else 1
            )
        if failure.error is not None:
            error = failure.error
        elif failure.status == 429:
            error = "ratelimited"
        elif failure.status >= 500:
            error = "internal_error"
        else:
            error = "emulated_failure"
        return failure.status, {"ok": False, "error": error}, extra

    def _take_post_slot(self, channel: str) -> None:
        """About one message a second per channel after a short burst; past it, HTTP 429
        with Retry-After (the message is not posted)."""
        if "rate_limits" in self.lenient:
            return
        now = self.monotonic()
        tokens, at = self._buckets.get(channel, (float(POST_BURST), now))
        tokens = min(float(POST_BURST), tokens + (now - at) * POST_RATE)
        if tokens < 1.0:
            self._buckets[channel] = (tokens, now)
            wait = max(1, int((1.0 - tokens) / POST_RATE + 0.999))
            raise Refused(429, {"ok": False, "error": "ratelimited"},
                           {"Retry-After": str(wait)})
        self._buckets[channel] = (tokens - 1.0, now)
