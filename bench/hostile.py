"""Benchmark (not a test): a real `baton serve` under hostile traffic.

1. 300 idle connections and a slowloris (one header line every 2 s) held open while signed
   /baton help commands and /healthz are sent, each on a new connection: their p50/p99.
2. serve's RSS idle, and at its highest while eight clients at once send 5 MB unsigned
   bodies (refused 413 from their headers), then eight ~1 MB unsigned ones (401 without
   being parsed): how long their answers took.
3. With PostgreSQL (--admin-url): the database made read-only while due work waits; log
   lines per minute from serve, what /healthz says, and whether the due work goes out once
   writes work again.

    python bench/hostile.py [--quick] [--admin-url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text, update

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import emulator_proc  # noqa: E402
from bench.command_path import Emulated, free_port, pct, seed, wait_healthy  # noqa: E402
from bot.domain.ladder import LadderConfig  # noqa: E402
from bot.slack import wire  # noqa: E402
from store.db import make_engine  # noqa: E402
from store.models import DueWork, Record  # noqa: E402
from tests.fakes.traffic import one_request  # noqa: E402

SECRET = "bench-secret"
TEAM = "T0BENCH"
USER = "U0BENCH000"


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Serve:
    """`baton serve` in a process of its own; its stderr lines are kept, timed."""

    def __init__(self, url: str, slack: Emulated, **env: str) -> None:
        self.port = free_port()
        full = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SECRET,
                "DATABASE_URL": url, "SLACK_API_URL": slack.base_url, **env}
        self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port",
                                      str(self.port), "--host", "127.0.0.1"], env=full,
                                     cwd=ROOT, stderr=subprocess.PIPE, text=True)
        self.lines: list[tuple[float, str]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        wait_healthy(self.port, "/healthz", self.proc)

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> tuple[int, float]:
        return one_request(self.port, method, path, body, headers, timeout=30)

    def command(self, slack: Emulated, n: int) -> tuple[int, float]:
        body = wire.slash_command("/baton", "help", user=USER, channel="C0BENCH01", team=TEAM,
                                  trigger_id=f"hostile-{n}-{uuid.uuid4().hex[:6]}",
                                  response_url=slack.response_url(f"h{n}"))
        return self.request("POST", "/slack/events", body.encode(),
                            wire.signed_headers(body, SECRET))

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def slowloris(port: int, stop: threading.Event, every: float, cuts: list[float]) -> None:
    """Trickles a request's headers, one line every `every` seconds, reconnecting whenever
    the server cuts it off (counted in `cuts`: seconds it held the connection)."""
    while not stop.is_set():
        opened = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"POST /slack/events HTTP/1.1\r\nHost: baton\r\n")
                n = 0
                while not stop.is_set():
                    s.sendall(f"X-Trickle-{n}: a\r\n".encode())
                    n += 1
                    stop.wait(every)
        except OSError:
            pass
        if not stop.is_set():
            cuts.append(time.monotonic() - opened)


def part_connections(serve: Serve, slack: Emulated, n: int) -> None:
    idle: list[socket.socket] = []
    stop = threading.Event()
    cuts: list[float] = []
    loris = threading.Thread(target=slowloris, args=(serve.port, stop, 2.0, cuts), daemon=True)
    try:
        for _ in range(300):
            idle.append(socket.create_connection(("127.0.0.1", serve.port), timeout=10))
        loris.start()
        commands, health, errors = [], [], 0
        for i in range(n):
            status, took = serve.command(slack, i)
            commands.append(took * 1000)
            errors += status != 200
            status, took = serve.request("GET", "/healthz")
            health.append(took * 1000)
            errors += status != 200
        print(f"p99 signed /baton help with 300 idle connections + slowloris: "
              f"{pct(commands, 99):.1f} ms (p50 {pct(commands, 50):.1f} ms, max "
              f"{max(commands):.1f} ms, n={n}); /healthz p99 {pct(health, 99):.1f} ms; "
              f"{errors} errors")
        if cuts:
            print(f"  the slowloris was cut off {len(cuts)} times, after "
                  f"{min(cuts):.1f}-{max(cuts):.1f} s each (BATON_REQUEST_SECONDS=10)")
    finally:
        stop.set()
        for s in idle:
            with contextlib.suppress(OSError):
                s.close()
        loris.join(5)


def _blast(port: int, size: int, declared: int) -> float:
    """An unsigned body sent as fast as the server takes it; seconds to the answer."""
    t0 = time.monotonic()
    head = (b"POST /slack/events HTTP/1.1\r\nHost: baton\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"X-Slack-Request-Timestamp: %d\r\nX-Slack-Signature: v0=%s\r\n"
            b"Content-Length: %d\r\n\r\n" % (int(time.time()), b"0" * 64, declared))
    chunk = b"k=" + b"v&k=" * 16383  # form fields, about 64 KB
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        try:
            s.sendall(head)
            sent = 0
            while sent < size:
                s.sendall(chunk[: size - sent])
                sent += len(chunk[: size - sent])
        except OSError:
            pass  # the server answered and closed before taking it all: what we want
        with contextlib.suppress(OSError):
            s.recv(64)
    return time.monotonic() - t0


def _eight(port: int, size: int) -> list[float]:
    out: list[float] = []
    threads = [threading.Thread(target=lambda: out.append(_blast(port, size, size)))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def _during(pid: int, burst: object, rounds: int, idle: float) -> tuple[float, list[float]]:
    """serve's highest RSS (sampled every 10 ms) while `burst` runs `rounds` times."""
    peak = [idle]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], rss_mb(pid))
            stop.wait(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    times: list[float] = []
    try:
        for _ in range(rounds):
            times += burst()  # type: ignore[operator]
    finally:
        stop.set()
        sampler.join()
    return peak[0], times


def part_bodies(serve: Serve, rounds: int) -> None:
    idle = 0.0
    for _ in range(5):  # after the warm-up and part 1: serve's settled size
        idle = max(idle, rss_mb(serve.proc.pid))
        time.sleep(0.1)
    for label, size in (("5 MB", 5_000_000), ("1 MB", 1024 * 1024 - 4096)):
        peak, times = _during(serve.proc.pid, lambda size=size: _eight(serve.port, size),
                              rounds, idle)
        if peak - idle > 50:
            raise SystemExit(f"serve grew by {peak - idle:.0f} MB under eight {label} bodies "
                             "(the bound is 50 MB)")
        if label == "5 MB":
            print(f"RSS idle {idle:.1f} MB; during eight 5 MB unsigned bodies at once "
                  f"({rounds} rounds) at most {peak:.1f} MB (+{peak - idle:.1f} MB); each "
                  f"answered (413) in at most {max(times) * 1000:.0f} ms")
        else:
            print(f"  eight ~1 MB unsigned bodies at once: at most {peak:.1f} MB "
                  f"(+{peak - idle:.1f} MB); each answered (401) in at most "
                  f"{max(times) * 1000:.0f} ms")


def part_unwritable(admin_url: str, slack: Emulated, seconds: float) -> None:
    name = f"baton_hostile_{uuid.uuid4().hex[:8]}"
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    serve = None
    try:
        seed(url, 20)
        engine = make_engine(url)
        with engine.begin() as c:  # record 1 on the built-in ladder (seed leaves it bare)
            c.execute(update(Record).where(Record.id == 1)
                      .values(ladder=LadderConfig().ladders["default"].to_json()))
        serve = Serve(url, slack, BATON_LOG_LEVEL="INFO")
        time.sleep(3)  # past its first sweep and housekeeping (the morning digest, ...)

        def read_only(on: bool) -> None:
            with admin.connect() as c:
                c.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = '
                               f'{"on" if on else "off"}'))
                # Connections open before keep their setting: end them (serve reconnects).
                c.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})

        # serve is running when the database stops taking writes (a disk filling up), and
        # record 1's deadline passed a minute ago: due now, and it can't be claimed.
        t0 = time.monotonic()
        read_only(True)
        now = datetime.now(UTC)
        with engine.connect() as c:
            c.execute(text("SET TRANSACTION READ WRITE"))  # this one transaction only
            c.execute(insert(DueWork), [{
                "team_id": TEAM, "record_id": 1, "kind": "deadline",
                "due_at": now - timedelta(minutes=1), "ready_at": now - timedelta(minutes=1),
                "state": "pending", "attempts": 0, "created_at": now}])
            c.commit()
        engine.dispose()
        deadline = t0 + seconds
        status = 0
        while time.monotonic() < deadline:
            status, _ = serve.request("GET", "/healthz")
            time.sleep(0.5)
        window = [line for at, line in serve.lines if t0 <= at < deadline]
        per_minute = len(window) / seconds * 60
        sweeps = [line for line in window if "sweep failed" in line]
        print(f"log lines per minute with the database unwritable: {per_minute:.0f} "
              f"({len(window)} lines in {seconds:.0f} s, {len(sweeps)} failed sweeps)")
        print(f"  /healthz while unwritable: {status}")
        if os.environ.get("BENCH_SHOW_LOG"):
            for line in window:
                print("   |", line[:300])
        read_only(False)
        back = time.monotonic()
        sent = False
        check = make_engine(url)
        try:
            while time.monotonic() - back < 75 and not sent:
                with check.connect() as c:
                    sent = c.execute(text("SELECT state FROM due_work WHERE kind = 'deadline'")
                                     ).scalar() == "done"
                time.sleep(0.25)
        finally:
            check.dispose()
        status, _ = serve.request("GET", "/healthz")
        print(f"  writes back: the due deadline {'was handled' if sent else 'was NOT handled'} "
              f"{time.monotonic() - back:.1f} s later; /healthz {status}")
        if not sent:
            for _, line in serve.lines[-40:]:
                print("   |", line[:300])
            raise SystemExit("due work was not handled after the database came back")
    finally:
        if serve is not None:
            serve.stop()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer requests, shorter windows")
    ap.add_argument("--admin-url", default=None,
                    help="a PostgreSQL database to create the unwritable run's database from")
    args = ap.parse_args()
    n, rounds, seconds = (50, 2, 16.0) if args.quick else (1000, 10, 120.0)

    emu, base_url = emulator_proc.start("cards", TEAM, [USER])
    slack = Emulated(base_url)
    out = emu.stdout
    threading.Thread(target=lambda: [None for _ in out or ()], daemon=True).start()
    try:
        tmp = tempfile.mkdtemp(prefix="baton-hostile-")
        url = f"sqlite:///{tmp}/bench.db"
        seed(url, 100)
        serve = Serve(url, slack, BATON_LOG_LEVEL="WARNING")
        try:
            for i in range(20):  # warm up
                serve.command(slack, 10_000 + i)
            part_connections(serve, slack, n)
            part_bodies(serve, rounds)
        finally:
            serve.stop()
        if args.admin_url:
            part_unwritable(args.admin_url, slack, seconds)
        else:
            print("log lines per minute with the database unwritable: skipped (give "
                  "--admin-url postgresql://…)")
    finally:
        emulator_proc.close(emu)


if __name__ == "__main__":
    main()
