"""The HTTP server `serve` runs (and the tests' fixture, so they test the same): waitress,
bounded for hostile traffic (idle and trickling connections, oversized bodies)."""

from __future__ import annotations

import ctypes
import platform
import time
from collections.abc import Callable, Iterable
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import MultiSocketServer, TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

from bot.settings import Settings

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

HEADER_LIMIT = 16 * 1024  # Slack's request headers are well under 2 KB


def server_options(settings: Settings, *, threads: int) -> dict[str, Any]:
    """waitress's adjustments for `serve` under hostile traffic."""
    return {
        "threads": threads,
        # Idle connections are cheap in waitress (one socket, no thread); the default limit
        # of 100 let a hundred idle clients shut Slack out. poll(), not select(): select
        # fails on a descriptor numbered over 1024.
        "connection_limit": settings.connection_limit,
        "asyncore_use_poll": True,
        "backlog": 2048,
        # A connection with nothing to do is closed after this; waitress looks every second.
        "channel_timeout": settings.idle_seconds,
        "cleanup_interval": 1,
        "max_request_header_size": HEADER_LIMIT,
        # A longer declared body is answered 413 from its headers, before it is read.
        "max_request_body_size": settings.max_body_bytes,
        "ident": "baton",
    }


class _DeadlineChannel(HTTPChannel):  # type: ignore[misc]  # waitress has no type hints
    """A connection that notes when the request it is reading began. waitress's
    channel_timeout counts from the last byte, so a client sending one header line every
    few seconds would hold its connection for ever; _DeadlineServer cuts it off once the
    request has taken longer than the server's request deadline to arrive."""

    reading_since: float | None = None

    def received(self, data: bytes) -> bool:
        before = self.request
        done = bool(super().received(data))
        if self.request is None:
            self.reading_since = None  # every request read so far is complete
        elif self.request is not before or self.reading_since is None:
            self.reading_since = time.monotonic()
        return done


class _DeadlineServer(TcpWSGIServer):  # type: ignore[misc]  # waitress has no type hints
    channel_class = _DeadlineChannel
    request_seconds = 10.0

    def maintenance(self, now: float) -> None:
        super().maintenance(now)  # idle connections (channel_timeout)
        cutoff = time.monotonic() - self.request_seconds
        for channel in list(self.active_channels.values()):
            since = getattr(channel, "reading_since", None)
            if since is not None and since < cutoff and not channel.requests:
                channel.will_close = True  # closed on the loop's next turn


# glibc's default: an allocation this large gets pages of its own, handed back when freed.
_MMAP_THRESHOLD = 128 * 1024
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number (malloc.h)


def keep_big_buffers_returnable() -> bool:
    """Fix glibc's mmap threshold at its default. glibc raises the threshold whenever a
    large block is freed (up to 32 MB), and after that, buffers of that size come from the
    heap and stay in the process when freed. Reading the name guard's 5.5 MB word lists
    raised it to megabytes, and then eight 1 MB request bodies at once left serve 52 MB
    bigger instead of 12 MB (bench/hostile.py). Setting the threshold explicitly turns the
    raising off. True when glibc took it; elsewhere nothing changes."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(None)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD))
    except (OSError, AttributeError):
        return False


def make_server(application: WSGIApp, settings: Settings, *, host: str, port: int,
                threads: int) -> Any:
    """waitress serving `application` with server_options, and a deadline for a request
    to arrive in full (BATON_REQUEST_SECONDS from its first byte). Its run() serves until
    close(); effective_listen says where."""
    keep_big_buffers_returnable()
    adj = Adjustments(host=host, port=port, **server_options(settings, threads=threads))
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(adj.threads)
    shared: dict[int, Any] = {}
    servers = []
    for sockinfo in adj.listen:
        server = _DeadlineServer(application, shared, dispatcher=dispatcher, adj=adj,
                                 sockinfo=sockinfo)
        server.request_seconds = settings.request_seconds
        servers.append(server)
    # run() serves every socket until close(), which closes the connections too.
    return MultiSocketServer(shared, adj, [(s.effective_host, s.effective_port)
                                           for s in servers], dispatcher)
