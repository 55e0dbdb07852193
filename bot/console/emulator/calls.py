"""The calls the emulator answered, recorded for assertions and for the console (which
prints each through on_call): what went on the wire, decoupled from live state that later
calls mutate.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.console.emulator.protocol import Headers, maybe_json
from bot.console.emulator.state import Workspace

log = logging.getLogger("bot.console.emulator")  # one logger for the whole emulator


@dataclass(frozen=True)
class Call:
    """One request the emulator answered, as recorded for assertions and the console."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    status: int
    response: dict[str, Any]

    def json_param(self, name: str) -> Any:
        """``params[name]`` decoded if it is a JSON string (blocks, view...), else as is."""
        return maybe_json(self.params.get(name))


def json_default(value: Any) -> Any:
    # Multipart file parts are bytes; echoing them (api.test) must not break the answer.
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


class CallLog(Workspace):
    """Every call answered, in order; observers told of each, outside the lock."""

    def __init__(self, **workspace: Any) -> None:
        super().__init__(**workspace)
        self._calls: list[Call] = []
        self._counts: Counter[str] = Counter()
        self._observers: list[Callable[[Call], None]] = []

    @property
    def calls(self) -> list[Call]:
        with self._cond:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        with self._cond:
            return [c for c in self._calls if c.method == method]

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        with self._cond:
            reached = self._cond.wait_for(lambda: self._counts[method] >= count, timeout)
            if not reached:
                seen = [c.method for c in self._calls]
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {count} call(s) to {method!r} "
                    f"(got {self._counts[method]}); methods seen: {seen}"
                )
            return [c for c in self._calls if c.method == method]

    def clear(self) -> None:
        with self._cond:
            self._calls.clear()
            self._counts.clear()

    def on_call(self, callback: Callable[[Call], None]) -> None:
        with self._cond:
            self._observers.append(callback)

    def _record(
        self, method: str, params: dict[str, Any], headers: Headers, status: int,
        response: dict[str, Any],
    ) -> tuple[bytes, Call]:
        payload = json.dumps(response, separators=(",", ":"), default=json_default).encode()
        # Record what went on the wire, decoupled from live state that later calls mutate.
        call = Call(method, params, headers, status, json.loads(payload))
        self._calls.append(call)
        self._counts[method] += 1
        self._cond.notify_all()
        return payload, call

    def _notify(self, call: Call) -> None:
        # Outside the lock: observers may call back into the emulator (e.g. messages()).
        with self._cond:
            observers = list(self._observers)
        for callback in observers:
            try:
                callback(call)
            except Exception:
                log.exception("slack emulator on_call observer failed")
