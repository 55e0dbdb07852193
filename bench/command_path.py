"""Benchmark (not a test): the /handoff command path through `baton serve`.

8 concurrent clients send signed /handoff requests over HTTP to a real `baton serve`
process with 100,000 records already stored; we time Slack's 200 and the arrival of the
record card's chat.postMessage at the Slack emulator. Each client behaves like a person:
it sends the next command once it has seen its card (an open loop would only measure how
long a queue it can build). The same run measures a bare Bolt app
that only acks, with default settings and with process_before_response=True (the floor).

    python bench/command_path.py [--requests 2000] [--records 100000] [--database-url URL]
                                 [--quick]

--quick: 200 requests a run, 2,000 records (a check that it runs, in seconds).

Targets: p50 to the 200 < 3 ms, p99 < 15 ms; p99 to the card < 100 ms.
"""

from __future__ import annotations

import argparse
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import emulator_proc  # noqa: E402
from bot.slack import wire  # noqa: E402
from store import audit  # noqa: E402
from store.db import make_engine, migrate  # noqa: E402
from store.models import PartnerAgency, Record, ReferenceCounter  # noqa: E402

SECRET = "bench-secret"
TEAM = "T0BENCH"
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "8"))


class Emulated:
    """The emulator process, seen from here: its base URL and its response URLs."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def response_url(self, key: str) -> str:
        return emulator_proc.response_url(self.base_url, key)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def seed(url: str, n: int) -> float:
    started = time.monotonic()
    engine = make_engine(url)
    migrate(engine)
    now = datetime.now(UTC)
    with engine.begin() as c:
        c.execute(insert(PartnerAgency), [
            {"team_id": TEAM, "key": f"partner {i}", "display_name": f"Partner {i}",
             "created_at": now} for i in range(1, 51)])
        batch = []
        for i in range(1, n + 1):
            batch.append({
                "team_id": TEAM, "kind": "handoff", "number": i, "person_ref": f"P-{i}",
                "partner_id": i % 50 + 1, "status": "pending" if i % 3 else "closed",
                "due_at": now + timedelta(hours=i % 500), "owner_id": f"U{i % 40:08d}",
                "channel_id": f"C{i % 20:08d}", "created_by": "U00000001", "created_at": now,
                "updated_at": now, "receiving_contact": "intake", "version": 1,
            })
            if len(batch) == 5000:
                c.execute(insert(Record), batch)
                batch = []
        if batch:
            c.execute(insert(Record), batch)
        c.execute(insert(ReferenceCounter), [{"team_id": TEAM, "kind": "handoff", "last": n}])
        audit.write_sealed(c, [  # chained like any other events
            {"team_id": TEAM, "record_id": i, "record_ref": f"H-{i}", "at": now,
             "actor": "U00000001", "kind": "created", "field": None, "before": None,
             "after": None, "note": None} for i in range(1, n + 1, 10)])
    engine.dispose()
    return time.monotonic() - started


def wait_healthy(port: int, path: str, proc: subprocess.Popen[Any]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise SystemExit("server did not come up")


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used (Linux /proc), to tell Baton's own cost apart
    from the emulator's and the clients' on the same two cores."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


CARD_SEEN: dict[str, threading.Event] = {}


def drive(port: int, slack: Emulated, total: int, *, label: str,
          card_times: dict[str, float] | None) -> tuple[list[float], list[float]]:
    to_200: list[float] = []
    sent: dict[str, float] = {}
    lock = threading.Lock()
    errors = 0
    per_client = total // CLIENTS

    def client(k: int) -> None:
        nonlocal errors
        # A lean keep-alive client (http.client), so the figure is the server's time and not
        # a heavy Python HTTP stack's, sharing one interpreter with seven other clients.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            for i in range(per_client):
                person = f"P-9{1 if label == 'warm' else 2}{k}{i:05d}"
                seen = CARD_SEEN.setdefault(person, threading.Event())
                text = (f"person: {person} to: Northside Home Care contact: intake desk "
                        f"due: 2031-01-15 17:00 risk: short-term")
                body = wire.slash_command("/handoff", text, user=f"U0BENCH{k:03d}",
                                          channel="C0BENCH01", team=TEAM,
                                          trigger_id=f"{label}-{k}-{i}",
                                          response_url=slack.response_url(f"{k}-{i}"))
                headers = wire.signed_headers(body, SECRET)
                t0 = time.monotonic()
                with lock:
                    sent[person] = t0
                conn.request("POST", "/slack/events", body=body.encode(), headers=headers)
                r = conn.getresponse()
                r.read()
                dt = time.monotonic() - t0
                with lock:
                    if r.status == 200:
                        to_200.append(dt * 1000)
                    else:
                        errors += 1
                if card_times is not None:
                    seen.wait(5)
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    to_card: list[float] = []
    if card_times is not None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(card_times) < len(sent):
            time.sleep(0.05)
        to_card = [(card_times[p] - t0) * 1000 for p, t0 in sent.items() if p in card_times]
    if errors:
        print(f"  {label}: {errors} requests did not get 200")
    return to_200, to_card


def line(name: str, to_200: list[float], to_card: list[float]) -> str:
    out = (f"{name:<44} n={len(to_200):>5}  200: p50 {pct(to_200, 50):6.2f} ms  "
           f"p99 {pct(to_200, 99):6.2f} ms")
    if to_card:
        out += f"   card: p50 {pct(to_card, 50):6.2f} ms  p99 {pct(to_card, 99):6.2f} ms"
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=None,
                    help="per run (default 2,000; 200 with --quick)")
    ap.add_argument("--records", type=int, default=None,
                    help="stored (default 100,000; 2,000 with --quick)")
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--quick", action="store_true",
                    help="a check that it runs (a few seconds), not figures to compare")
    args = ap.parse_args()
    args.requests = args.requests or (200 if args.quick else 2000)
    args.records = args.records or (2000 if args.quick else 100_000)
    warm = 40 if args.quick else 200

    tmp = tempfile.mkdtemp(prefix="baton-bench-")
    url = args.database_url or f"sqlite:///{tmp}/bench.db"
    print(f"seeding {args.records:,} records into {url.split('@')[-1]} ...", flush=True)
    print(f"  seeded in {seed(url, args.records):.1f} s")

    card_times: dict[str, float] = {}
    users = [f"U0BENCH{k:03d}" for k in range(CLIENTS)]
    emu_proc, base_url = emulator_proc.start("cards", TEAM, users)
    slack = Emulated(base_url)

    def read_cards() -> None:
        assert emu_proc.stdout is not None
        for out in emu_proc.stdout:
            parts = out.split()
            if len(parts) == 3 and parts[0] == "CARD":
                card_times.setdefault(parts[2], float(parts[1]))
                CARD_SEEN.setdefault(parts[2], threading.Event()).set()

    threading.Thread(target=read_cards, daemon=True).start()
    try:
        env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SECRET,
               "DATABASE_URL": url, "SLACK_API_URL": slack.base_url, "BATON_LOG_LEVEL": "WARNING"}
        results = []

        port = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "serve", "--port", str(port),
                                 "--host", "127.0.0.1"], env=env, cwd=ROOT,
                                stderr=subprocess.PIPE)
        try:
            wait_healthy(port, "/healthz", proc)
            drive(port, slack, warm, label="warm", card_times=card_times)  # warm caches, pools
            card_times.clear()
            CARD_SEEN.clear()
            cpu_before, wall_before = cpu_seconds(proc.pid), time.monotonic()
            figures = drive(port, slack, args.requests, label="baton", card_times=card_times)
            cpu = cpu_seconds(proc.pid) - cpu_before
            wall = time.monotonic() - wall_before
            results.append(line("baton serve (/handoff, card posted)", *figures))
            results.append(f"  baton serve used {cpu * 1000 / args.requests:.2f} ms of CPU per "
                           f"command ({cpu / wall:.0%} of one core over {wall:.1f} s, "
                           f"{args.requests / wall:.0f} commands/s); the emulator and the "
                           f"clients share the machine's {os.cpu_count()} cores")
        finally:
            proc.terminate()
            proc.wait(10)

        for mode in ("default", "process_before_response"):
            port = free_port()
            proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "_bare_bolt.py"),
                                     str(port), SECRET, slack.base_url, mode],
                                    cwd=ROOT, stderr=subprocess.PIPE)
            try:
                wait_healthy(port, "/", proc)
                drive(port, slack, warm, label="warm", card_times=None)
                to_200, _ = drive(port, slack, args.requests, label=mode, card_times=None)
                results.append(line(f"bare Bolt app, ack only ({mode})", to_200, []))
            finally:
                proc.terminate()
                proc.wait(10)

    finally:
        emulator_proc.close(emu_proc)

    print(f"{CLIENTS} concurrent clients, {args.requests} signed /handoff requests each run, "
          f"{args.records:,} records stored")
    for r in results:
        print(r)
    print("targets: baton p50 to 200 < 3 ms, p99 < 15 ms; p99 to card < 100 ms")


if __name__ == "__main__":
    main()
