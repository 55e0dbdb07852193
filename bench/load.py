"""Benchmark (not a test): Baton under sustained mixed load, on one replica and then on two.

A PostgreSQL database with 100,000 records (handoffs and dependencies in every state, their
due work and their hash-chained audit events) is seeded once and cloned for each run. Each
run starts a Slack emulator in its own process (bench/_load_emulator.py) and `baton serve`
(one process; then two on different ports sharing the database, the time engine running in
both, the clients split across them), and 50 concurrent clients (asyncio, one keep-alive
connection each, raw HTTP/1.1) send signed Slack requests for 60 s. Each client is one
person in Slack: it sends its next request once it sees Baton's answer to the last one (the
reply to the response_url, or for a button the card or page edited in place), as a person
acts on what they were shown; `--pace none` instead sends the next request as soon as the
200 comes back, which no person can do (a saturation test: Baton turns away what it can't
take, and says so). The requests: /handoff and /dependency, `/baton list`,
`/baton show REF`, and button clicks: Partner acknowledged (by the owner, on pending
handoffs) and Acknowledge (by the person paged, on pages seeded as sent and on pages the
engine sends during the run). Meanwhile a few hundred handoffs fall due, so the engine pages
their owners under load; a tenth of them are acknowledged right at their deadline, racing
the engine.

Printed per run: requests/s, p50/p99/max latency to Slack's HTTP 200 and to the answer each
person saw, non-200s and
connection errors, per request kind; what became of the work each 200 deferred (records
created, replies to the response_url and how long they took, sorted into ok / refused /
"try again" / Baton's generic failure; whether it was all done within --drain seconds after
the load); `serve`'s CPU and the errors and warnings in its log; what PostgreSQL's busy
backends were doing during the load; the pages the emulator received against the due work
and the 'paged' audit events ("every due page sent exactly once: yes/no (duplicates N,
missing M)"); the audit chain verified; PostgreSQL's deadlock count.

    python bench/load.py [--database-url postgresql://postgres@127.0.0.1:5432/baton_load]
                         [--seconds 60] [--clients 50] [--records 100000] [--due 300]
                         [--replicas 1,2] [--drain 120] [--pace answer|none] [--quick]
                         [--keep-database]

--quick: 10 s, 10 clients, 10,000 records, 60 due, 10 s drain (a smoke run, ~1.5 min in
all). The URL's database is dropped and recreated for each run (<name>_seed holds the
seeded copy); both are dropped at the end unless --keep-database. Every subprocess is
stopped on the way out, Ctrl-C included.

Targets: zero errors (non-200s, connection errors, requests turned away as overloaded);
p99 to the 200 < 100 ms; every due page sent exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine as SAEngine
from sqlalchemy import bindparam, create_engine, func, insert, make_url, select, text, update

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from command_path import cpu_seconds, free_port, pct  # noqa: E402

from bot.slack import wire  # noqa: E402
from bot.domain.ladder import DEFAULT_LADDER  # noqa: E402
from bot.slack.ids import ActionId  # noqa: E402
from store import audit  # noqa: E402
from store.db import make_engine, make_session_factory, migrate  # noqa: E402
from store.models import (  # noqa: E402
    AuditEvent,
    DueWork,
    PartnerAgency,
    Record,
    ReferenceCounter,
)

TEAM = "T0LOAD"
SECRET = "load-secret"
TOKEN = "xoxb-load"
TZ_NAME = "America/New_York"
LADDER = DEFAULT_LADDER.to_json()
CHANNELS = [f"C0LOAD{i:03d}" for i in range(20)]
PARTNERS = 50
BATCH = 10_000
TARGET_P99_MS = 100.0
ANSWER_WAIT = 10.0  # --pace answer: a person gives up waiting for the answer after this

# Request kinds, their share of the traffic, and how they are printed.
MIX = {"handoff": 20, "dependency": 10, "list": 20, "show": 30, "partner_ack": 12,
       "page_ack": 8}
LABEL = {"handoff": "/handoff", "dependency": "/dependency", "list": "/baton list",
         "show": "/baton show REF", "partner_ack": "click Partner acknowledged",
         "page_ack": "click Acknowledge (page)"}
REPLIES = ("handoff", "dependency", "list", "show")  # kinds answered through response_url


# --- subprocesses: every one is stopped on the way out, whatever the way out is ---

PROCS: list[subprocess.Popen[Any]] = []


def spawn(args: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
    # Own session: a Ctrl-C reaches only this process, which stops the others in order.
    proc = subprocess.Popen(args, cwd=ROOT, start_new_session=True, **kwargs)
    PROCS.append(proc)
    return proc


def stop(procs: list[subprocess.Popen[Any]], timeout: float) -> set[int]:
    """SIGTERM to all at once, then SIGKILL to those still running after `timeout`.
    Returns the pids that had to be killed."""
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
    deadline = time.monotonic() + timeout
    killed = set()
    for proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            killed.add(proc.pid)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(5)
        if proc in PROCS:
            PROCS.remove(proc)
    return killed


def stop_all() -> None:
    for proc in PROCS:
        with contextlib.suppress(Exception):
            if proc.stdin is not None:
                proc.stdin.close()
    stop(list(PROCS), timeout=5.0)


def _interrupted(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# --- the database ---

class Databases:
    """The run's database (the URL's) and its seeded template, <name>_seed, on the same
    server; the run's is recreated from the template for each run."""

    def __init__(self, url: str) -> None:
        u = make_url(url)
        if not u.drivername.startswith("postgresql") or not u.database:
            raise SystemExit("--database-url: a postgresql:// URL naming a database")
        self.name = u.database
        self.seed_name = f"{self.name}_seed"
        self.url = u.set(drivername="postgresql").render_as_string(False)
        self.seed_url = u.set(drivername="postgresql",
                              database=self.seed_name).render_as_string(False)
        self._admin = create_engine(u.set(drivername="postgresql+psycopg", database="postgres"),
                                    isolation_level="AUTOCOMMIT")

    def _run(self, sql: str) -> None:
        with self._admin.connect() as c:
            c.execute(text(sql))

    def fresh_seed(self) -> None:
        self._run(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._run(f'DROP DATABASE IF EXISTS "{self.seed_name}" WITH (FORCE)')
        self._run(f'CREATE DATABASE "{self.seed_name}"')

    def clone(self) -> None:
        self._run(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._run(f'CREATE DATABASE "{self.name}" TEMPLATE "{self.seed_name}"')

    def activity(self) -> list[tuple[str, str, str]]:
        """The run database's client backends now: (state, wait event, statement start)."""
        with self._admin.connect() as c:
            rows = c.execute(text(
                "SELECT state, coalesce(wait_event_type || '/' || wait_event, ''), "
                "left(regexp_replace(query, '\\s+', ' ', 'g'), 60) FROM pg_stat_activity "
                "WHERE datname = :d AND backend_type = 'client backend' "
                "AND pid <> pg_backend_pid()"), {"d": self.name}).all()
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    def deadlocks(self) -> int:
        with self._admin.connect() as c:
            return int(c.scalar(text("SELECT deadlocks FROM pg_stat_database WHERE datname = :d"),
                                {"d": self.name}) or 0)

    def drop_all(self, keep: bool) -> None:
        if not keep:
            self._run(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._run(f'DROP DATABASE IF EXISTS "{self.seed_name}" WITH (FORCE)')
        self._admin.dispose()


@dataclass
class Seeded:
    records: int
    handoffs: int  # H-1 .. H-handoffs exist
    dependencies: int  # D-1 .. D-dependencies exist
    pending: list[tuple[int, str]]  # pending handoffs, (record id, owner): to acknowledge
    pages: list[tuple[int, str, str]]  # sent tier-1 pages: (work id, owner, channel)
    seconds: float


# Record columns some seeded rows set and others not (an executemany wants the same keys).
OPTIONAL = dict.fromkeys(("missing_action", "interim_safeguard", "closed_at", "outcome",
                          "receiving_contact", "escalation_tier", "acknowledged_at",
                          "acknowledged_by", "response_category"))


def seed(url: str, n: int, users: list[str]) -> Seeded:
    """Bulk Core inserts in batches; the audit events through audit.write_sealed, so the
    hash chain holds. Open records are due 2 to 32 days ahead (nothing of theirs falls due
    during a run); some handoffs are overdue with their tier-1 page sent 5 minutes ago."""
    started = time.monotonic()
    engine = make_engine(url)
    migrate(engine)
    t0 = datetime.now(UTC).replace(microsecond=0)
    page_target = min(3000, n // 30)
    handoffs = dependencies = overdue = 0
    pending: list[tuple[int, str]] = []
    with engine.begin() as c:
        c.execute(insert(PartnerAgency), [
            {"team_id": TEAM, "key": f"partner agency {i}", "display_name": f"Partner Agency {i}",
             "created_at": t0} for i in range(PARTNERS)])
        partner_ids = list(c.scalars(select(PartnerAgency.id).order_by(PartnerAgency.id)))
    for start in range(1, n + 1, BATCH):
        records: list[dict[str, Any]] = []
        works: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for i in range(start, min(start + BATCH, n + 1)):
            future = t0 + timedelta(days=2, seconds=(i * 7919) % (30 * 86400))
            past = t0 - timedelta(days=1 + i % 60)
            created = min(past, t0 - timedelta(days=3))
            row: dict[str, Any] = {
                "id": i, "team_id": TEAM, "person_ref": f"P-{i}",
                "partner_id": partner_ids[i % PARTNERS], "owner_id": users[i % len(users)],
                "channel_id": CHANNELS[i % len(CHANNELS)],
                "created_by": users[(i + 7) % len(users)],
                "created_at": created, "updated_at": created, "ladder": LADDER, "tz": TZ_NAME,
                "risk": ("same-day", "short-term", "emerging")[i % 3], "version": 1,
            }
            if i % 5 == 0:
                dependencies += 1
                is_open = dependencies % 4 != 0
                row.update(kind="dependency", number=dependencies,
                           missing_action="unsigned authorization",
                           interim_safeguard="temporary hold" if i % 3 == 0 else None,
                           status="open" if is_open else "resolved",
                           due_at=future if is_open else past,
                           closed_at=None if is_open else past,
                           outcome=None if is_open else "authorization signed")
                kind = "review"
            else:
                handoffs += 1
                bucket = handoffs % 10
                row.update(kind="handoff", number=handoffs, receiving_contact="intake desk")
                if bucket == 6 and overdue < page_target:
                    overdue += 1
                    row.update(status="overdue", due_at=t0 - timedelta(minutes=5),
                               escalation_tier=1)
                elif bucket < 4:
                    row.update(status="pending", due_at=future)
                    pending.append((i, row["owner_id"]))
                elif bucket == 4:
                    row.update(status="acknowledged", due_at=future, acknowledged_at=created,
                               acknowledged_by=row["owner_id"])
                elif bucket == 5:
                    row.update(status="responded", due_at=future, acknowledged_at=created,
                               acknowledged_by=row["owner_id"], response_category="accept")
                else:
                    row.update(status="closed", due_at=past, closed_at=past,
                               outcome="service started")
                is_open = row["status"] == "pending"
                kind = "overdue"
            records.append({**OPTIONAL, **row})
            ref = f"{'D' if row['kind'] == 'dependency' else 'H'}-{row['number']}"
            events.append({"team_id": TEAM, "record_id": i, "record_ref": ref, "at": created,
                           "actor": row["created_by"], "kind": "created", "field": None,
                           "before": None, "after": None, "note": None})
            if row["status"] == "overdue":
                sent = row["due_at"]
                works += [
                    _work(i, "deadline", sent, state="done", reason="overdue", sent_at=sent),
                    _work(i, "page", sent, state="done", tier=1, reason="overdue", sent_at=sent),
                    _work(i, "page", sent + timedelta(hours=1), tier=2, reason="overdue"),
                ]
            elif is_open:
                due = row["due_at"]
                works += [_work(i, "reminder", due - timedelta(hours=24)),
                          _work(i, "reminder", due - timedelta(hours=2)),
                          _work(i, "deadline", due, reason=kind)]
        with engine.begin() as c:
            c.execute(insert(Record), records)
            c.execute(insert(DueWork), works)
            audit.write_sealed(c, events)  # numbered and hash-linked like any other events
    with engine.begin() as c:
        c.execute(insert(ReferenceCounter), [
            {"team_id": TEAM, "kind": "handoff", "last": handoffs},
            {"team_id": TEAM, "kind": "dependency", "last": dependencies}])
        c.execute(text("SELECT setval(pg_get_serial_sequence('records', 'id'), :n)"), {"n": n})
        pages = [(int(r.id), str(r.owner_id), str(r.channel_id)) for r in c.execute(
            select(DueWork.id, Record.owner_id, Record.channel_id)
            .join(Record, Record.id == DueWork.record_id)
            .where(DueWork.kind == "page", DueWork.state == "done"))]
    with engine.connect() as c:
        c.execute(text("ANALYZE"))
        c.commit()
    engine.dispose()
    return Seeded(n, handoffs, dependencies, pending, pages, time.monotonic() - started)


def _work(record_id: int, kind: str, due: datetime, *, state: str = "pending",
          tier: int | None = None, reason: str | None = None,
          sent_at: datetime | None = None) -> dict[str, Any]:
    return {"team_id": TEAM, "record_id": record_id, "kind": kind, "due_at": due,
            "ready_at": due, "tier": tier, "reason": reason, "state": state, "attempts": 0,
            "sent_at": sent_at, "created_at": due - timedelta(days=3)}


def add_due(engine: SAEngine, count: int, *, first_due: datetime, spread: float,
            users: list[str]) -> list[tuple[int, datetime, str, str]]:
    """`count` pending handoffs whose deadlines fall due from `first_due` over `spread`
    seconds, written while `serve` runs (numbers taken from the counter as Baton takes
    them). Returns (record id, due at, channel, owner) for each."""
    now = datetime.now(UTC)
    table = ReferenceCounter.__table__
    with engine.begin() as c:
        last = c.execute(update(table).where(table.c.team_id == TEAM, table.c.kind == "handoff")
                         .values(last=table.c.last + count).returning(table.c.last)).scalar_one()
        partner_ids = list(c.scalars(select(PartnerAgency.id).order_by(PartnerAgency.id)))
        rows = []
        for j in range(count):
            number = last - count + 1 + j
            rows.append({
                "team_id": TEAM, "kind": "handoff", "number": number,
                "person_ref": f"P-{9_000_000 + number}",
                "partner_id": partner_ids[j % len(partner_ids)], "status": "pending",
                "due_at": first_due + timedelta(seconds=spread * j / max(1, count - 1)),
                "owner_id": users[j % len(users)], "channel_id": CHANNELS[j % len(CHANNELS)],
                "created_by": users[(j + 3) % len(users)], "created_at": now, "updated_at": now,
                "receiving_contact": "intake desk", "ladder": LADDER, "tz": TZ_NAME,
                "risk": "short-term", "version": 1})
        ids = list(c.scalars(insert(Record.__table__).returning(
            Record.__table__.c.id, sort_by_parameter_order=True), rows))
        c.execute(insert(DueWork), [_work(rid, "deadline", r["due_at"], reason="overdue")
                                    | {"created_at": now} for rid, r in zip(ids, rows,
                                                                           strict=True)])
        audit.write_sealed(c, [
            {"team_id": TEAM, "record_id": rid, "record_ref": f"H-{r['number']}", "at": now,
             "actor": r["created_by"], "kind": "created", "field": None, "before": None,
             "after": None, "note": None} for rid, r in zip(ids, rows, strict=True)])
    return [(rid, r["due_at"], r["channel_id"], r["owner_id"])
            for rid, r in zip(ids, rows, strict=True)]


# --- the Slack emulator (helper process) ---

class Emulated:
    """bench/_load_emulator.py, seen from here: page messages as they arrive (by work id,
    with every time each was received), and its counters on request."""

    def __init__(self, users: list[str]) -> None:
        self.proc = spawn([sys.executable, str(ROOT / "bench" / "_load_emulator.py"), TEAM,
                           ",".join(users)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          text=True)
        assert self.proc.stdout is not None and self.proc.stdin is not None
        first = self.proc.stdout.readline().split()
        if len(first) != 2 or first[0] != "URL":
            raise SystemExit(f"the Slack emulator did not start: {first}")
        self.base_url = first[1]
        self.response_base = self.base_url.replace("/api/", "/response/")
        self._cond = threading.Condition()
        self.received: dict[int, list[float]] = defaultdict(list)  # page work id -> times
        self.page_messages = 0
        self.live: deque[tuple[int, str, str]] = deque()  # pages to click: id, user, channel
        self.page_ts: dict[int, tuple[str, str]] = {}  # page work id -> its message
        self._cards: dict[str, list[str]] = {}
        # --pace answer: what a person sees come back ("A key", "U channel ts"), handed to
        # the clients' event loop as it arrives.
        self.loop: asyncio.AbstractEventLoop | None = None
        self.on_answer: Any = None
        self._stats: dict[str, Any] | None = None
        self._rng = random.Random(7)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(("A ", "U ")):
                loop, on_answer = self.loop, self.on_answer
                if loop is not None and on_answer is not None:
                    token = line.rstrip("\n").replace(" ", ":", 2)
                    with contextlib.suppress(RuntimeError):  # the loop has closed
                        loop.call_soon_threadsafe(on_answer, token)
            elif line.startswith("P "):
                _, at, channel, user, ids, ts = line.split()
                with self._cond:
                    self.page_messages += 1
                    for wid in map(int, ids.split(",")):
                        self.received[wid].append(float(at))
                        self.page_ts[wid] = (channel, ts)
                        if user != "-" and self._rng.random() < 0.5:
                            self.live.append((wid, user, channel))  # half get acknowledged
            elif line.startswith("S "):
                with self._cond:
                    self._stats = json.loads(line[2:])
                    self._cond.notify_all()
            elif line.startswith("C "):
                _, channel, tss = line.split()
                with self._cond:
                    self._cards[channel] = tss.split(",")
                    self._cond.notify_all()

    def give_cards(self, engine: SAEngine, records: list[tuple[int, str]]) -> None:
        """A card message in the emulator for each (record id, channel), pointed at by the
        record, as `/handoff` leaves it: buttons on the record then edit a card in place."""
        assert self.proc.stdin is not None
        by_channel: dict[str, list[int]] = defaultdict(list)
        for rid, channel in records:
            by_channel[channel].append(rid)
        ids: list[int] = []
        chans: list[str] = []
        tss: list[str] = []
        for channel, rids in by_channel.items():
            with self._cond:
                self._cards.pop(channel, None)
                self.proc.stdin.write(f"CARDS {channel} {len(rids)}\n")
                self.proc.stdin.flush()
                if not self._cond.wait_for(lambda ch=channel: ch in self._cards, timeout=60):
                    raise SystemExit("the Slack emulator did not make the cards")
                made = self._cards.pop(channel)
            ids += rids
            chans += [channel] * len(rids)
            tss += made
        with engine.begin() as c:
            c.execute(text(
                "UPDATE records AS r SET card_channel = v.ch, card_ts = v.ts FROM (SELECT "
                "unnest(CAST(:ids AS integer[])) AS id, unnest(CAST(:chs AS text[])) AS ch, "
                "unnest(CAST(:tss AS text[])) AS ts) AS v WHERE r.id = v.id"),
                {"ids": ids, "chs": chans, "tss": tss})

    def stats(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        with self._cond:
            self._stats = None
            self.proc.stdin.write("STATS\n")
            self.proc.stdin.flush()
            if not self._cond.wait_for(lambda: self._stats is not None, timeout=30):
                raise SystemExit("the Slack emulator stopped answering")
            assert self._stats is not None
            return self._stats

    def reset(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("RESET\n")
        self.proc.stdin.flush()

    def wait_idle(self, quiet: float, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.stats()["idle"] >= quiet:
                return True
            time.sleep(0.2)
        return False

    def place_pages(self, engine: SAEngine, pages: list[tuple[int, str, str]]) -> None:
        """Post a message for each group of seeded pages (20 a message, as Baton groups them)
        and point their due work at it, so Acknowledge can refresh the message in place."""
        by_channel: dict[str, list[int]] = defaultdict(list)
        for wid, _owner, channel in pages:
            by_channel[channel].append(wid)
        rows = []
        with httpx.Client(timeout=10) as h:
            for channel, ids in by_channel.items():
                for k in range(0, len(ids), 20):
                    r = h.post(self.base_url + "chat.postMessage",
                               data={"channel": channel, "text": "(seeded page)"},
                               headers={"Authorization": f"Bearer {TOKEN}"}).json()
                    rows += [{"wid": wid, "ch": r["channel"], "mts": r["ts"]}
                             for wid in ids[k:k + 20]]
                    self.page_ts.update((wid, (r["channel"], r["ts"])) for wid in ids[k:k + 20])
        table = DueWork.__table__
        if rows:
            with engine.begin() as c:
                c.execute(update(table).where(table.c.id == bindparam("wid"))
                          .values(channel_id=bindparam("ch"), message_ts=bindparam("mts")), rows)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        stop([self.proc], timeout=10.0)


class DbWaits(threading.Thread):
    """Samples pg_stat_activity every 0.2 s: what the busy backends (active, or idle in a
    transaction the client holds open) are doing or waiting on."""

    def __init__(self, dbs: Databases) -> None:
        super().__init__(daemon=True)
        self._dbs = dbs
        self._halt = threading.Event()
        self.samples = 0
        self.busy: Counter[str] = Counter()

    def run(self) -> None:
        while not self._halt.wait(0.2):
            with contextlib.suppress(Exception):
                rows = self._dbs.activity()
                self.samples += 1
                for state, wait, query in rows:
                    if state == "idle in transaction":
                        self.busy["idle in transaction (held open by Baton between "
                                  "statements)"] += 1
                    elif state == "active":
                        self.busy[f"{wait or 'running'}: {query}"] += 1

    def finish(self) -> None:
        self._halt.set()
        self.join(5)

    def lines(self) -> list[str]:
        total = sum(self.busy.values())
        if not self.samples or not total:
            return []
        out = [f"PostgreSQL during the load: {total / self.samples:.1f} backends busy on "
               "average; of their time:"]
        out += [f"    {n / total:4.0%}  {what}" for what, n in self.busy.most_common(5)]
        return out


# --- baton serve ---

@dataclass
class Replica:
    port: int
    proc: subprocess.Popen[Any]
    log: Path
    cpu0: float = 0.0
    cpu: float = 0.0
    killed: bool = False


def start_replica(url: str, slack: Emulated, log: Path) -> Replica:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "SLACK_BOT_TOKEN": TOKEN,
           "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack.base_url,
           "BATON_SWEEP_SECONDS": "1", "BATON_LOG_LEVEL": "WARNING"}
    env.pop("BATON_CONFIG", None)
    with log.open("w") as fh:
        proc = spawn([sys.executable, "-m", "bot.cli", "serve", "--port", str(port),
                      "--host", "127.0.0.1"], env=env, stdout=fh, stderr=subprocess.STDOUT)
    return Replica(port, proc, log)


def wait_healthy(r: Replica) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if r.proc.poll() is not None:
            raise SystemExit(f"baton serve exited ({r.proc.returncode}):\n"
                             + r.log.read_text()[-3000:])
        conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.1)
    raise SystemExit(f"baton serve did not come up on port {r.port}:\n"
                     + r.log.read_text()[-3000:])


def log_findings(path: Path) -> tuple[Counter[str], Counter[str]]:
    """The errors and the warnings in a `serve` log, each message (without its timestamp;
    an error followed by the exception its traceback ends with) counted."""
    errors: Counter[str] = Counter()
    warnings: Counter[str] = Counter()
    lines = path.read_text(errors="replace").splitlines()
    for i, line in enumerate(lines):
        message = line.split(" ", 2)[-1][:300]  # "LEVEL logger: message"
        if " ERROR " in line or " CRITICAL " in line:
            for nxt in lines[i + 1:i + 100]:
                if nxt[:4].isdigit():
                    break  # the next log line
                if nxt and not nxt.startswith((" ", "Traceback", "During handling",
                                               "The above exception")):
                    message += f" -> {nxt.strip()[:200]}"
            errors[message] += 1
        elif " WARNING " in line:
            warnings[message] += 1
    return errors, warnings


# --- the clients ---

class Conn:
    """One keep-alive HTTP/1.1 connection on raw asyncio streams: a request is one write of
    prebuilt bytes, the answer is read by Content-Length (or chunks). Nothing else."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def post(self, request: bytes) -> tuple[int, bool]:
        """The status, and whether Baton turned the request away as overloaded."""
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        if b"transfer-encoding: chunked" in lower:
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    while await self.reader.readuntil(b"\r\n") != b"\r\n":
                        pass
                    break
                await self.reader.readexactly(size + 2)
        else:
            at = lower.find(b"content-length:")
            if at < 0:
                raise ValueError("no Content-Length")
            length = int(lower[at + 15:lower.index(b"\r\n", at)])
            if length:
                await self.reader.readexactly(length)
        if b"connection: close" in lower:
            self.close()
        return status, b"x-baton-shed: 1" in lower


def http_request(body: str) -> bytes:
    """The whole request as bytes, signed as Slack signs it (bot/slack/wire.py)."""
    headers = wire.signed_headers(body, SECRET)
    data = body.encode()
    return (f"POST /slack/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: {headers['Content-Type']}\r\n"
            f"X-Slack-Request-Timestamp: {headers['X-Slack-Request-Timestamp']}\r\n"
            f"X-Slack-Signature: {headers['X-Slack-Signature']}\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode() + data


@dataclass
class Tally:
    ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    status: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    conn_errors: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    sent: Counter[str] = field(default_factory=Counter)
    shed: Counter[str] = field(default_factory=Counter)
    shed_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    # --pace answer: from sending the request to seeing Baton's answer (the reply, or the
    # card or page edited in place), and the requests whose answer never came in time.
    answer_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    unanswered: Counter[str] = field(default_factory=Counter)


class Traffic:
    """What the clients send: each request a fresh signed body, on records that exist."""

    def __init__(self, seeded: Seeded, slack: Emulated, users: list[str], salt: str,
                 rng: random.Random) -> None:
        self.seeded = seeded
        self.slack = slack
        self.users = users
        self.salt = salt
        self.pending = list(seeded.pending)
        rng.shuffle(self.pending)
        self.pages = list(seeded.pages)
        rng.shuffle(self.pages)
        # Due handoffs to acknowledge at their deadline: (monotonic due, record, channel, owner)
        self.race: deque[tuple[float, int, str, str]] = deque()
        self.raced: list[int] = []
        self.cards: dict[int, tuple[str, str]] = {}  # record id -> its card message
        self._waiting: dict[str, list[asyncio.Future[float]]] = defaultdict(list)

    def expect(self, tokens: list[str]) -> list[asyncio.Future[float]]:
        """Futures that resolve when the emulator reports one of `tokens` (in the loop)."""
        loop = asyncio.get_running_loop()
        futures = []
        for token in tokens:
            f: asyncio.Future[float] = loop.create_future()
            self._waiting[token].append(f)
            futures.append(f)
        return futures

    def answered(self, token: str) -> None:
        for f in self._waiting.pop(token, []):
            if not f.done():
                f.set_result(time.perf_counter())

    def forget(self, tokens: list[str], futures: list[asyncio.Future[float]]) -> None:
        for token, f in zip(tokens, futures, strict=True):
            left = [x for x in self._waiting.get(token, []) if x is not f]
            if left:
                self._waiting[token] = left
            else:
                self._waiting.pop(token, None)

    def request(self, k: int, kind: str, seq: int, rng: random.Random, tag: str
                ) -> tuple[str, bytes, list[str]]:
        """The kind actually sent, the request, and what its person would see come back:
        the reply to its response_url, or for a button the card (or page) edited."""
        user = self.users[k % len(self.users)]
        key = f"{kind}.{k}.{seq}.{int(time.monotonic() * 1000)}"  # the emulator times replies
        common = {"team": TEAM, "trigger_id": f"{self.salt}{tag}.{k}.{seq}",
                  "response_url": self.slack.response_base + key}
        if (kind == "partner_ack" and not self.seeded.pending) or (
                kind == "page_ack" and not self.seeded.pages and not self.slack.live):
            kind = "show"  # a store too small to have any (--records under 30)
        channel = CHANNELS[rng.randrange(len(CHANNELS))]
        partner = f"Partner Agency {rng.randrange(PARTNERS)}"
        edits: list[str] = []
        day = f"2031-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        if kind == "handoff":
            risk = ("short-term", "emerging", "same-day")[seq % 3]
            body = wire.slash_command(
                "/handoff", f"person: P-{k + 1}{seq:06d} to: {partner} contact: intake desk "
                f"555-0100 due: {day} 17:00 risk: {risk}", user=user, channel=channel, **common)
        elif kind == "dependency":
            risk = "risk: same-day safeguard: temporary hold on start" if seq % 5 == 0 \
                else "risk: emerging"
            body = wire.slash_command(
                "/dependency", f"person: P-{k + 1}{seq:06d} action: unsigned authorization "
                f"partner: {partner} {risk} review: {day} 09:00", user=user, channel=channel,
                **common)
        elif kind == "list":
            body = wire.slash_command("/baton", "list", user=user, channel=channel, **common)
        elif kind == "show":
            ref = (f"D-{rng.randint(1, self.seeded.dependencies)}" if rng.random() < 0.25
                   else f"H-{rng.randint(1, self.seeded.handoffs)}")
            body = wire.slash_command("/baton", f"show {ref}", user=user, channel=channel,
                                      **common)
        elif kind == "partner_ack":  # by the record's owner (one of the record's people)
            if self.race and self.race[0][0] <= time.monotonic():
                _, record_id, channel, user = self.race.popleft()  # race the engine
                self.raced.append(record_id)
            else:
                # all taken: a second click, answered "already acknowledged"
                record_id, user = self.pending.pop() if self.pending \
                    else rng.choice(self.seeded.pending)
                channel = CHANNELS[record_id % len(CHANNELS)]
            card = self.cards.get(record_id)
            body = wire.block_actions(action_id=ActionId.PARTNER_ACK, value=str(record_id),
                                      user=user, channel=channel,
                                      message_ts=card[1] if card else "1700000000.000100",
                                      **common)
            if card:
                edits = [f"U:{card[0]}:{card[1]}"]
        else:  # page_ack, by the person paged (tier 1 pages the owner)
            if self.slack.live:
                work_id, user, channel = self.slack.live.popleft()
            elif self.pages:
                work_id, user, channel = self.pages.pop()
            else:
                work_id, user, channel = rng.choice(self.seeded.pages)
            page = self.slack.page_ts.get(work_id)
            body = wire.block_actions(action_id=ActionId.PAGE_ACK, value=str(work_id),
                                      user=user, channel=channel, block_id=f"page:{work_id}",
                                      message_ts=page[1] if page else "1700000000.000200",
                                      **common)
            if page:
                edits = [f"U:{page[0]}:{page[1]}"]
        return kind, http_request(body), [f"A:{key}", *edits]


async def client(k: int, port: int, traffic: Traffic, tally: Tally, *,
                 kinds: list[str] | None = None, until: float = 0.0, tag: str = "",
                 pace: str = "answer") -> None:
    """One person's Slack session. pace "answer": the next request goes once this one's
    answer is seen (as a person acts on what Baton showed them), or after 10 s without one;
    pace "none": as soon as the 200 comes back (a saturation test: no person does that)."""
    rng = random.Random(f"{traffic.salt}.{k}")
    names, weights = list(MIX), list(MIX.values())
    conn = Conn(port)
    seq = 0
    try:
        while True:
            if kinds is not None:
                if seq >= len(kinds):
                    break
                kind = kinds[seq]
            elif time.monotonic() >= until:
                break
            else:
                kind = rng.choices(names, weights)[0]
            kind, request, tokens = traffic.request(k, kind, seq, rng, tag)
            seq += 1
            tally.sent[kind] += 1
            futures = traffic.expect(tokens) if pace == "answer" else []
            t0 = time.perf_counter()
            try:
                async with asyncio.timeout(30):
                    status, shed = await conn.post(request)
            except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                    TimeoutError, ValueError) as exc:
                traffic.forget(tokens, futures)
                tally.conn_errors[kind][type(exc).__name__] += 1
                conn.close()
                await asyncio.sleep(0.05)
                continue
            dt = (time.perf_counter() - t0) * 1000
            if status == 200 and shed:
                tally.shed[kind] += 1  # "very busy, try again": answered, nothing taken
                tally.shed_ms[kind].append(dt)
            elif status == 200:
                tally.ms[kind].append(dt)
            else:
                tally.status[kind][status] += 1
            if futures and status == 200 and not shed:
                done, _ = await asyncio.wait(futures, timeout=ANSWER_WAIT,
                                             return_when=asyncio.FIRST_COMPLETED)
                if done:
                    tally.answer_ms[kind].append((min(f.result() for f in done) - t0) * 1000)
                else:
                    tally.unanswered[kind] += 1
            traffic.forget(tokens, futures)
    finally:
        conn.close()


# --- one run ---

@dataclass
class Run:
    label: str
    salt: str
    replicas: list[Replica]
    tally: Tally
    elapsed: float
    client_cpu: float
    replies: dict[str, Counter[str]]
    reply_ms: dict[str, dict[str, float]]
    samples: dict[str, list[str]]
    api_errors: Counter[str]
    settled: float | None  # due pages all handled, seconds after the load stopped
    drained: float | None  # deferred work all done (emulator quiet), likewise
    waited: float  # how long after the load stopped we waited for it
    stopped_at: datetime
    created: int  # records the run's /handoff and /dependency made, by the end of the wait
    last_created: datetime | None
    written: Counter[str]  # audit events by kind, from the start of the load to the end
    waits: list[str]  # what PostgreSQL's busy backends did during the load
    due: list[tuple[int, datetime, str, str]]
    raced: list[int]
    slack: Emulated
    deadlocks: int


def run(dbs: Databases, seeded: Seeded, *, replicas: int, clients: int, seconds: float,
        due_count: int, users: list[str], tmp: Path, drain: float, pace: str) -> Run:
    label = "one replica" if replicas == 1 else f"{replicas} replicas"
    print(f"\n== {label}: {clients} clients for {seconds:g} s"
          + ("" if replicas == 1 else f", split across {replicas} `baton serve` processes "
             "sharing the database, the engine running in each") + " ==", flush=True)
    dbs.clone()
    db = make_engine(dbs.url)
    slack = Emulated(users)
    procs: list[Replica] = []
    try:
        slack.place_pages(db, seeded.pages)
        with db.connect() as c:  # the records a button can be pressed on get their cards
            carded = [(int(rid), str(ch)) for rid, ch in c.execute(
                select(Record.id, Record.channel_id)
                .where(Record.status.in_(("pending", "overdue"))))]
        slack.give_cards(db, carded)
        for i in range(replicas):
            procs.append(start_replica(dbs.url, slack, tmp / f"serve-{replicas}-{i + 1}.log"))
        for r in procs:
            wait_healthy(r)
        deadlocks0 = dbs.deadlocks()
        salt = f"r{replicas}"
        traffic = Traffic(seeded, slack, users, salt=salt, rng=random.Random(replicas))
        with db.connect() as c:
            traffic.cards = {int(rid): (str(ch), str(ts)) for rid, ch, ts in c.execute(
                select(Record.id, Record.card_channel, Record.card_ts)
                .where(Record.card_ts.is_not(None)))}
        got: dict[str, Any] = {}

        async def drive() -> None:
            slack.loop, slack.on_answer = asyncio.get_running_loop(), traffic.answered
            # Warm-up, not counted: each client sends one request of each kind.
            await asyncio.gather(*(client(k, procs[k % replicas].port, traffic, Tally(),
                                          kinds=list(MIX), tag="w", pace=pace)
                                   for k in range(clients)))
            slack.wait_idle(quiet=1.0, timeout=30)
            got["before"] = slack.stats()
            slack.reset()
            lead = min(2.0, seconds / 5)
            spread = max(1.0, seconds - lead - min(5.0, seconds / 4))
            due = add_due(db, due_count, first_due=datetime.now(UTC) + timedelta(seconds=lead),
                          spread=spread, users=users)
            slack.give_cards(db, [(rid, channel) for rid, _, channel, _ in due])
            with db.connect() as c:
                traffic.cards.update((rid, (channel, ts)) for rid, channel, ts in c.execute(
                    select(Record.id, Record.card_channel, Record.card_ts)
                    .where(Record.id.in_([d[0] for d in due]))))
            mono_now, wall_now = time.monotonic(), datetime.now(UTC)
            for rid, due_at, channel, owner in due[::10]:  # a tenth: acknowledged right at
                traffic.race.append(((due_at - wall_now).total_seconds() + mono_now, rid,
                                     channel, owner))  # the deadline, racing the engine
            tally = Tally()
            cpu0 = time.process_time()
            for r in procs:
                r.cpu0 = cpu_seconds(r.proc.pid)
            t0 = time.monotonic()
            got["started_at"] = datetime.now(UTC)
            waits = DbWaits(dbs)
            waits.start()
            await asyncio.gather(*(client(k, procs[k % replicas].port, traffic, tally,
                                          until=t0 + seconds, pace=pace)
                                   for k in range(clients)))
            waits.finish()
            got["waits"] = waits.lines()
            got.update(elapsed=time.monotonic() - t0, tally=tally, due=due,
                       cpu=time.process_time() - cpu0)
            for r in procs:
                r.cpu = cpu_seconds(r.proc.pid) - r.cpu0

        asyncio.run(drive())
        t_end, stopped_at = time.monotonic(), datetime.now(UTC)
        before = got["before"]

        # After the load: the due pages first (the engine), then the deferred work.
        settled = wait_settled(db, [d[0] for d in got["due"]], until=t_end + max(60.0, seconds))
        drained = None
        while time.monotonic() < t_end + max(drain, settled or 0.0):
            idle = slack.stats()["idle"]
            if idle >= 2.0:
                drained = time.monotonic() - idle - t_end
                break
            time.sleep(0.5)
        waited = time.monotonic() - t_end
        after = slack.stats()
        replies: dict[str, Counter[str]] = {}
        for kind, counts in after["replies"].items():
            c = Counter(counts)
            c.subtract(before["replies"].get(kind, {}))
            replies[kind] = +c
        api_errors = Counter(after["api_errors"])
        api_errors.subtract(before["api_errors"])
        with db.connect() as c:  # at the same moment as the emulator's counters
            created, last_created = c.execute(
                select(func.count(), func.max(Record.created_at))
                .where(Record.request_key.like(f"{salt}.%"))).one()
            written = Counter(dict(c.execute(
                select(AuditEvent.kind, func.count()).where(AuditEvent.at >= got["started_at"])
                .group_by(AuditEvent.kind)).all()))
        result = Run(label, salt, procs, got["tally"], got["elapsed"], got["cpu"], replies,
                     after["reply_ms"], after["samples"], +api_errors, settled, drained, waited,
                     stopped_at, created, last_created, written, got["waits"], got["due"],
                     list(traffic.raced), slack, dbs.deadlocks() - deadlocks0)
        killed = stop([r.proc for r in procs], timeout=10.0)  # first: their logs complete
        for r in procs:
            r.killed = r.proc.pid in killed
        report(result, db)
        return result
    finally:
        stop([r.proc for r in procs], timeout=5.0)
        slack.close()
        db.dispose()


def wait_settled(db: SAEngine, due_ids: list[int], *, until: float) -> float | None:
    """Seconds from now until every due deadline and tier-1 page of the run is handled
    (sent, or cancelled by an acknowledgement); None if not by `until` (monotonic)."""
    started = time.monotonic()
    while time.monotonic() < until:
        with db.connect() as c:
            unsettled = c.scalar(select(func.count()).select_from(DueWork).where(
                DueWork.record_id.in_(due_ids), DueWork.state.in_(("pending", "claimed")),
                (DueWork.kind == "deadline") | ((DueWork.kind == "page") & (DueWork.tier == 1))))
        if not unsettled:
            return time.monotonic() - started
        time.sleep(0.5)
    return None


# --- the figures ---

def report(r: Run, db: SAEngine) -> None:
    t = r.tally
    print(f"{'request kind':<27} {'sent':>6} {'200/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'max ms':>7} {'non-200':>7} {'conn err':>8}  {'reply p50 s':>11} {'p99 s':>6}"
          f"  replies ok/refused/try again/failed")
    all_ms: list[float] = []
    non200 = conn_err = 0
    for kind in MIX:
        ms = t.ms.get(kind, [])
        all_ms += ms
        bad = sum(t.status[kind].values())
        cerr = sum(t.conn_errors[kind].values())
        non200 += bad
        conn_err += cerr
        rep = r.replies.get(kind, Counter())
        lat = r.reply_ms.get(kind)
        reply_p = (f"{lat['p50'] / 1000:>11.2f} {lat['p99'] / 1000:>6.2f}" if lat
                   else f"{'-':>11} {'-':>6}")
        counts = f"{rep['ok']}/{rep['refused']}/{rep['try_again']}/{rep['failed']}"
        if kind not in REPLIES:
            counts += " (no reply on success)"
        print(f"{LABEL[kind]:<27} {t.sent[kind]:>6} {len(ms) / r.elapsed:>7.1f} "
              f"{_p(ms, 50):>7} {_p(ms, 99):>7} {_max(ms):>7} {bad:>7} {cerr:>8}  {reply_p}"
              f"  {counts}")
    print(f"{'all':<27} {sum(t.sent.values()):>6} {len(all_ms) / r.elapsed:>7.1f} "
          f"{_p(all_ms, 50):>7} {_p(all_ms, 99):>7} {_max(all_ms):>7} {non200:>7} "
          f"{conn_err:>8}")
    for kind in MIX:
        for status, n in t.status[kind].items():
            print(f"  {LABEL[kind]}: {n} answered HTTP {status}")
        for name, n in t.conn_errors[kind].items():
            print(f"  {LABEL[kind]}: {n} connection errors ({name})")
    shed = sum(t.shed.values())
    if shed:
        shed_ms = [x for kind in MIX for x in t.shed_ms.get(kind, [])]
        print(f"turned away as overloaded (200 with Baton's 'very busy, try again', nothing "
              f"taken): {shed} ({shed / max(sum(t.sent.values()), 1):.0%} of requests), "
              f"p50 {_p(shed_ms, 50)} ms, p99 {_p(shed_ms, 99)} ms; not in the rows above")
    if any(t.answer_ms.values()) or t.unanswered:
        print("what each person saw come back (--pace answer: the reply, or the card or page "
              "edited in place), from sending the request:")
        for kind in MIX:
            ms = t.answer_ms.get(kind, [])
            late = t.unanswered.get(kind, 0)
            print(f"  {LABEL[kind]:<27} {len(ms):>6} seen  p50 {_p(ms, 50):>7} ms  p99 "
                  f"{_p(ms, 99):>7} ms" + (f"  {late} not seen within {ANSWER_WAIT:g} s"
                                          if late else ""))
    p99 = pct(all_ms, 99) if all_ms else float("inf")
    print(f"throughput {len(all_ms) / r.elapsed:.1f} requests/s answered 200 over "
          f"{r.elapsed:.1f} s; the clients used {r.client_cpu / r.elapsed:.0%} of a core "
          f"(the machine has {os.cpu_count()} cores)")
    for i, rep_ in enumerate(r.replicas, 1):
        errors, warnings = log_findings(rep_.log)
        print(f"baton serve #{i} (port {rep_.port}): {rep_.cpu / r.elapsed:.0%} of a core under "
              f"load; its log: {errors.total()} errors, {warnings.total()} warnings ({rep_.log})"
              + ("; killed: still busy with queued deferred work 10 s after SIGTERM"
                 if rep_.killed else ""))
        for label, found in (("error", errors), ("warning", warnings)):
            for message, n in found.most_common(5):
                print(f"    {label} x{n}: {message}")

    for line in r.waits:
        print(line)

    # What the 200s promised: the deferred work.
    sent_creates = len(t.ms.get("handoff", [])) + len(t.ms.get("dependency", []))
    created, last = r.created, r.last_created
    expected = sum(len(t.ms.get(k, [])) for k in REPLIES)
    answered = sum(sum(r.replies.get(k, Counter()).values()) for k in REPLIES)
    totals = Counter()
    for c_ in r.replies.values():
        totals.update(c_)
    done = (f"all of it done {r.drained:.1f} s after the load stopped" if r.drained is not None
            else f"NOT all done {r.waited:.0f} s after the load stopped: {expected - answered} "
                 "replies still queued")
    print(f"after the 200 (the deferred work): {created:,} records created for "
          f"{sent_creates:,} /handoff and /dependency 200s"
          + (f" (the last {(last - r.stopped_at).total_seconds():.1f} s after the load "
             "stopped)" if last else "")
          + f"; {answered:,}/{expected:,} command replies; {done}")
    print(f"  replies: ok {totals['ok']}, refused {totals['refused']} (a :warning: the person "
          f"sees, e.g. already acknowledged), try again {totals['try_again']}, failed "
          f"{totals['failed']} (Baton's generic error)")
    for key, texts in sorted(r.samples.items()):
        kind, verdict = key.split(" ", 1)
        print(f"    {verdict} reply to {LABEL.get(kind, kind)}: {texts[0][:160]!r}")
    print("  audit events written from the start of the load to the end of the wait: "
          + ", ".join(f"{k} {n}" for k, n in r.written.most_common()))
    if r.api_errors:
        print("  Slack API errors answered to Baton: "
              + ", ".join(f"{k} x{n}" for k, n in r.api_errors.most_common(6)))

    exact = check_pages(r, db)
    with make_session_factory(db)() as s:
        chain = audit.verify(s, team_id=TEAM)
    print(f"audit chain: {'intact' if chain.ok else 'BROKEN: ' + str(chain.broken)} "
          f"({chain.events:,} events); deadlocks PostgreSQL counted: {r.deadlocks}")
    errors_total = non200 + conn_err + shed
    print(f"targets: zero errors: {'met' if errors_total == 0 else 'MISSED'} ({non200} non-200, "
          f"{conn_err} connection errors, {shed} turned away as overloaded); p99 to the 200 "
          f"< {TARGET_P99_MS:g} ms: "
          f"{'met' if p99 < TARGET_P99_MS else 'MISSED'} ({p99:.1f} ms); every due page sent "
          f"exactly once: {'met' if exact else 'MISSED'}")


def check_pages(r: Run, db: SAEngine) -> bool:
    due_ids = [d[0] for d in r.due]
    due_at = {d[0]: d[1] for d in r.due}
    with db.connect() as c:
        deadlines = Counter(c.execute(select(DueWork.state).where(
            DueWork.record_id.in_(due_ids), DueWork.kind == "deadline")).scalars())
        pages = c.execute(select(DueWork.id, DueWork.record_id, DueWork.state)
                          .where(DueWork.record_id.in_(due_ids), DueWork.kind == "page",
                                 DueWork.tier == 1)).all()
        paged = Counter(c.execute(select(AuditEvent.record_id).where(
            AuditEvent.record_id.in_(due_ids), AuditEvent.kind == "paged")).scalars())
        acked = c.scalar(select(func.count()).select_from(Record).where(
            Record.id.in_(r.raced or [-1]), Record.acknowledged_at.is_not(None)))
    with r.slack._cond:
        received = {wid: list(times) for wid, times in r.slack.received.items()}
        messages = r.slack.page_messages
    page_ids = {p.id for p in pages}
    states = Counter(p.state for p in pages)
    got = [p for p in pages if p.id in received]
    duplicates = sum(len(received[p.id]) - 1 for p in got)
    # Missing: a due page not received (unless cancelled before it was sent: acknowledged
    # at its deadline), and a deadline never handled (its page was never even planned).
    missing = sum(1 for p in pages if p.id not in received and p.state != "cancelled")
    missing += deadlines["pending"] + deadlines["claimed"]
    extra_events = sum(n - 1 for n in paged.values() if n > 1)
    lag = [(received[p.id][0] - due_at[p.record_id].timestamp()) * 1000 for p in got]
    other = sum(len(v) for wid, v in received.items() if wid not in page_ids)
    settled = (f"all handled {r.settled:.1f} s after the load stopped" if r.settled is not None
               else "NOT all handled by the end of the wait")
    print(f"engine: {len(r.due)} handoffs fell due during the run, {len(r.raced)} of them "
          f"clicked Partner acknowledged at their deadline ({acked} recorded by the end); "
          f"deadlines {dict(deadlines)}; tier-1 pages {dict(states)}; {settled}")
    print(f"pages sent: the emulator received {sum(len(v) for v in received.values())} page "
          f"rows in {messages} page messages ({len(got)} distinct due pages"
          + (f", {other} other" if other else "") + "); 'paged' audit events "
          f"{sum(paged.values())} for {len(paged)} records"
          + (f" ({extra_events} extra)" if extra_events else "")
          + (f"; lag due -> Slack p50 {pct(lag, 50) / 1000:.2f} s, p99 "
             f"{pct(lag, 99) / 1000:.2f} s, max {max(lag) / 1000:.2f} s" if lag else ""))
    sent_anyway = sum(1 for p in got if p.state != "done")
    if sent_anyway:
        print(f"  {sent_anyway} of them reached Slack though their due work is now "
              f"'cancelled': acknowledged while the page was on its way (allowed)")
    exact = duplicates == 0 and missing == 0 and extra_events == 0
    print(f"every due page sent exactly once: {'yes' if exact else 'no'} "
          f"(duplicates {duplicates + extra_events}, missing {missing})")
    return exact


def _p(ms: list[float], p: float) -> str:
    return f"{pct(ms, p):.1f}" if ms else "-"


def _max(ms: list[float]) -> str:
    return f"{max(ms):.1f}" if ms else "-"


@contextlib.contextmanager
def cleanup(dbs: Databases, keep: bool) -> Iterator[None]:
    atexit.register(stop_all)
    old = {s: signal.signal(s, _interrupted) for s in (signal.SIGTERM, signal.SIGHUP)}
    # Ctrl-C, even when started with SIGINT ignored (a background job of a script)
    old[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    except KeyboardInterrupt:
        print("\ninterrupted: stopping the servers and the emulator", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        stop_all()
        with contextlib.suppress(Exception):
            dbs.drop_all(keep)
        for s, h in old.items():
            signal.signal(s, h)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/baton_load",
                    help="recreated for each run (its seeded copy is <name>_seed)")
    ap.add_argument("--seconds", type=float, default=None, help="load per run (default 60)")
    ap.add_argument("--clients", type=int, default=None, help="concurrent clients (default 50)")
    ap.add_argument("--records", type=int, default=None, help="stored (default 100,000)")
    ap.add_argument("--due", type=int, default=None,
                    help="handoffs falling due during each run (default 300)")
    ap.add_argument("--replicas", default="1,2",
                    help="the runs, as numbers of `serve` processes (default 1,2)")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 10 s, 10 clients, 10,000 records, 60 due")
    ap.add_argument("--drain", type=float, default=None,
                    help="after the load, wait up to this long for the deferred work "
                    "(default 120 s; 10 s with --quick)")
    ap.add_argument("--pace", choices=("answer", "none"), default="answer",
                    help="answer (default): each client acts again once it sees Baton's "
                    "answer; none: as soon as the 200 comes back (saturation)")
    ap.add_argument("--keep-database", action="store_true",
                    help="leave the last run's database for inspection")
    args = ap.parse_args()
    seconds = args.seconds or (10.0 if args.quick else 60.0)
    clients = args.clients or (10 if args.quick else 50)
    records = args.records or (10_000 if args.quick else 100_000)
    due = args.due or (60 if args.quick else 300)
    drain = args.drain if args.drain is not None else (10.0 if args.quick else 120.0)
    runs = [int(x) for x in args.replicas.split(",") if x.strip()]
    if not runs or min(runs) < 1 or max(runs) > clients:
        raise SystemExit("--replicas: numbers of serve processes, 1 to --clients, e.g. 1,2")
    users = [f"U0LOAD{i:03d}" for i in range(max(50, clients))]

    dbs = Databases(args.database_url)
    tmp = Path(tempfile.mkdtemp(prefix="baton-load-"))
    with cleanup(dbs, args.keep_database):
        print(f"seeding {records:,} records into {dbs.seed_url.split('@')[-1]} ...", flush=True)
        dbs.fresh_seed()
        seeded = seed(dbs.seed_url, records, users)
        print(f"  seeded in {seeded.seconds:.1f} s: {seeded.handoffs:,} handoffs, "
              f"{seeded.dependencies:,} dependencies, {len(seeded.pending):,} pending, "
              f"{len(seeded.pages):,} overdue with a sent page; each run gets a copy")
        for n in runs:
            run(dbs, seeded, replicas=n, clients=clients, seconds=seconds, due_count=due,
                users=users, tmp=tmp, drain=drain, pace=args.pace)
    print(f"\n(serve logs in {tmp})")


if __name__ == "__main__":
    main()
