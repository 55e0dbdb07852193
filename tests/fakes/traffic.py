"""Client-side traffic shared by the hostile-traffic tests and bench/hostile.py."""

from __future__ import annotations

import http.client
import time


def one_request(port: int, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None, *,
                timeout: float = 20) -> tuple[int, float]:
    """One request on a connection of its own (a new client, as Slack's are), timed:
    the status and the seconds to the whole answer."""
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        resp.read()
        return resp.status, time.monotonic() - t0
    finally:
        conn.close()
