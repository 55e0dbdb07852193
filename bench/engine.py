"""Benchmark (not a test): the time engine (scheduler/engine.py) with a million open records.

1. Empty sweep: `Engine.claim()` when nothing is due, with 10,000 and then 1,000,000 open
   handoffs stored (each with two reminders and a deadline in the future). Its cost must grow
   with the due work, not with the records stored.
2. 1,000 due at once: one `claim()` of 1,000 deadlines (batch=1000), then `process()` (marks
   them overdue, plans the tier-1 pages) and `run_due()` (sends the grouped pages to the
   Slack emulator).
3. Lag: 10,000 deadlines falling due evenly over a few minutes, the engine on the real clock
   woken by scheduler.wake.Waker (1 s interval plus its one-shot wake at the next due time);
   lag = when the emulator received the tier-1 page minus when the deadline fell due.
4. Peak RSS of this process.

The Slack emulator runs in a helper process (bench/emulator_proc.py --watch pages), so it
neither shares this interpreter's lock nor counts in its RSS.

    python bench/engine.py [--records 1000000] [--database-url URL] [--quick]
                           [--lag-records 10000] [--spread-seconds 180]

With a postgresql:// URL the benchmark creates a fresh database baton_bench_<random> through
that server (connecting to the URL's database, e.g. `test`) and drops it at the end.

Targets: empty sweep p99 < 5 ms at 1,000,000 records; claiming 1,000 due items < 2 s;
lag p99 < 2 s; peak RSS < 250 MB.
"""

from __future__ import annotations

import argparse
import logging
import resource
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Engine as SAEngine
from sqlalchemy import Table, create_engine, func, insert, make_url, select, text, update

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import emulator_proc  # noqa: E402
from bot.clock import Clock, FixedClock, SystemClock  # noqa: E402
from bot.domain.ladder import DEFAULT_LADDER, shift  # noqa: E402
from bot.services.escalation import Authority, ConfiguredCoordinator  # noqa: E402
from bot.services.records import RecordService  # noqa: E402
from bot.settings import load_settings  # noqa: E402
from bot.slack.clients import make_client  # noqa: E402
from scheduler.engine import Engine, Pacer  # noqa: E402
from scheduler.wake import Waker  # noqa: E402
from store.db import make_engine, make_session_factory, migrate  # noqa: E402
from store.models import DueWork, PartnerAgency, Record, ReferenceCounter  # noqa: E402

TEAM = "T0BENCH"
TZ_NAME = "America/New_York"
TZ = ZoneInfo(TZ_NAME)
LADDER = DEFAULT_LADDER.to_json()
CHANNELS = 50
PARTNERS = 50
BATCH = 20_000
SWEEPS = 200
RISKS = ("same-day", "short-term", "emerging")

TARGET_SWEEP_MS = 5.0
TARGET_CLAIM_S = 2.0
TARGET_LAG_MS = 2000.0
TARGET_RSS_MB = 250.0


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# --- the database ---

class Database:
    """The benchmark's own database: a SQLite file in a temp dir, or a fresh PostgreSQL
    database created through the given server and dropped at the end."""

    def __init__(self, url: str | None) -> None:
        self._tmp: str | None = None
        self._admin: SAEngine | None = None
        self._pg_name: str | None = None
        if url is None:
            self._tmp = tempfile.mkdtemp(prefix="baton-bench-engine-")
            self.url = f"sqlite:///{self._tmp}/bench.db"
        elif url.startswith("postgresql"):
            admin_url = make_url(url).set(drivername="postgresql+psycopg")
            self._pg_name = f"baton_bench_{uuid.uuid4().hex[:10]}"
            self._admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
            with self._admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{self._pg_name}"'))
            self.url = make_url(url).set(drivername="postgresql",
                                         database=self._pg_name).render_as_string(False)
        else:
            self.url = url

    @property
    def shown(self) -> str:
        return self.url.split("@")[-1]

    def close(self) -> None:
        if self._admin is not None and self._pg_name is not None:
            with self._admin.connect() as c:
                c.execute(text(f'DROP DATABASE IF EXISTS "{self._pg_name}" WITH (FORCE)'))
            self._admin.dispose()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)


class Seeder:
    """Bulk Core inserts (executemany) in batches: never more than one batch of rows in
    memory, never an ORM object."""

    def __init__(self, engine: SAEngine, t0: datetime) -> None:
        self.engine = engine
        self.t0 = t0
        self.next_id = 1
        with engine.begin() as c:
            c.execute(insert(PartnerAgency), [
                {"team_id": TEAM, "key": f"partner {i}", "display_name": f"Partner Agency {i}",
                 "created_at": t0} for i in range(PARTNERS)])
            self.partners = list(c.scalars(select(PartnerAgency.id).order_by(PartnerAgency.id)))

    def record(self, i: int, due_at: datetime, channel: int) -> dict[str, Any]:
        return {
            "id": i, "team_id": TEAM, "kind": "handoff", "number": i, "person_ref": f"P-{i}",
            "partner_id": self.partners[i % PARTNERS], "risk": RISKS[i % 3],
            "status": "pending", "due_at": due_at, "owner_id": f"U0OWNER{channel:03d}",
            "channel_id": f"C0BENCH{channel:03d}", "created_by": "U0BENCH000",
            "created_at": self.t0, "updated_at": self.t0, "receiving_contact": "intake desk",
            "ladder": LADDER, "tz": TZ_NAME, "version": 1,
        }

    def work(self, record_id: int, kind: str, due_at: datetime) -> dict[str, Any]:
        return {"team_id": TEAM, "record_id": record_id, "kind": kind, "due_at": due_at,
                "ready_at": due_at, "tier": None,
                "reason": "overdue" if kind == "deadline" else None,
                "state": "pending", "attempts": 0, "created_at": self.t0}

    def add(self, count: int, due: Callable[[int], datetime], *,
            reminders: bool) -> tuple[int, int]:
        """Add `count` open handoffs (ids continue from the last), each with its deadline and
        (if `reminders`) its two reminders. Returns the first and last record id."""
        first = self.next_id
        last = first + count - 1
        remind = [-offset for offset in DEFAULT_LADDER.remind_before]
        for start in range(first, last + 1, BATCH):
            records: list[dict[str, Any]] = []
            works: list[dict[str, Any]] = []
            for i in range(start, min(start + BATCH, last + 1)):
                due_at = due(i)
                records.append(self.record(i, due_at, i % CHANNELS))
                if reminders:
                    works.extend(self.work(i, "reminder", shift(due_at, d, TZ)) for d in remind)
                works.append(self.work(i, "deadline", due_at))
            with self.engine.begin() as c:
                c.execute(insert(Record), records)
                c.execute(insert(DueWork), works)
            done = start + len(records) - first
            if count >= 200_000 and done % 200_000 < BATCH:
                print(f"    ... {done:,} records", flush=True)
        self.next_id = last + 1
        with self.engine.begin() as c:
            c.execute(update(cast(Table, ReferenceCounter.__table__)).values(last=last))
            if self.engine.dialect.name == "postgresql":
                c.execute(text("SELECT setval(pg_get_serial_sequence('records', 'id'), :n)"),
                          {"n": last})
        return first, last

    def analyze(self) -> None:
        """PostgreSQL only: what autovacuum would do shortly after a bulk load (the planner
        needs row counts). SQLite is left as an application leaves it (no ANALYZE)."""
        if self.engine.dialect.name == "postgresql":
            with self.engine.connect() as c:
                c.execute(text("ANALYZE"))
                c.commit()


def background_due(t0: datetime) -> Callable[[int], datetime]:
    # Every background deadline 2 to 32 days ahead: its reminders (24 h and 2 h before)
    # are still at least a day ahead, so nothing of it falls due during the run.
    return lambda i: t0 + timedelta(days=2, seconds=(i * 7919) % (30 * 86400))


# --- the Slack emulator (helper process) ---

class Emulated:
    """bench/emulator_proc.py --watch pages, seen from here."""

    def __init__(self) -> None:
        self.proc, self.base_url = emulator_proc.start("pages", TEAM)
        self._cond = threading.Condition()
        self.posts = 0  # every chat.postMessage answered
        self.page_posts = 0  # top-level messages carrying page rows
        self.paged: dict[int, float] = {}  # page work id -> wall time the emulator got it
        self.page_sizes: list[int] = []
        self._synced = 0
        self.end: tuple[float, int] | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for out in self.proc.stdout:
            parts = out.split()
            with self._cond:
                if parts[0] == "P":
                    self.posts += 1
                    if parts[4] != "-":
                        ids = [int(x) for x in parts[4].split(",")]
                        self.page_posts += 1
                        self.page_sizes.append(len(ids))
                        at = float(parts[1])
                        for work_id in ids:
                            self.paged.setdefault(work_id, at)
                elif parts[0] == "SYNC":
                    self._synced = int(parts[1])
                elif parts[0] == "END":
                    self.end = (float(parts[1]), int(parts[2]))
                self._cond.notify_all()

    def sync(self) -> None:
        """Wait until every line the emulator wrote so far has been read."""
        assert self.proc.stdin is not None
        with self._cond:
            want = self._synced + 1
        self.proc.stdin.write(f"SYNC {want}\n")
        self.proc.stdin.flush()
        with self._cond:
            if not self._cond.wait_for(lambda: self._synced >= want, timeout=30):
                raise SystemExit("the emulator stopped answering")

    def snapshot(self) -> tuple[int, int, int]:
        self.sync()
        with self._cond:
            return self.posts, self.page_posts, len(self.paged)

    def wait_paged(self, count: int, timeout: float, progress: Callable[[int], None]) -> None:
        """Wait until pages for `count` records in all have been received (or the timeout)."""
        deadline = time.monotonic() + timeout
        last_report = time.monotonic()
        with self._cond:
            while len(self.paged) < count and time.monotonic() < deadline:
                if time.monotonic() - last_report > 30:
                    progress(len(self.paged))
                    last_report = time.monotonic()
                self._cond.wait(timeout=1.0)

    def stop(self) -> None:
        emulator_proc.close(self.proc, timeout=15)
        self._reader.join(5)


# --- the engine ---

class CountingEngine(Engine):
    """The engine as it is, counted from outside: how often the Waker ran a sweep, how many
    found another sweep already under way, and how often it asked for the next due time."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sweeps = self.busy = self.handled_sweeps = self.next_calls = 0
        self.sweep_seconds = 0.0

    def run_due(self, *, max_rounds: int = 1000) -> int:
        t = time.perf_counter()
        handled = super().run_due(max_rounds=max_rounds)
        dt = time.perf_counter() - t
        self.sweeps += 1
        if handled:
            self.handled_sweeps += 1
            self.sweep_seconds += dt
        elif dt < 0.0002:
            self.busy += 1  # returned at once: another sweep holds the engine
        return handled

    def next_ready_at(self) -> datetime | None:
        self.next_calls += 1
        return super().next_ready_at()


class SkippedRuns(logging.Filter):
    """Counts (and keeps off the output) APScheduler's "Execution of job ... skipped:
    maximum number of running instances reached": a wake that never ran."""

    def __init__(self) -> None:
        super().__init__()
        self.by_job: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if "maximum number of running instances" in record.msg and record.args:
            job = record.args[0] if isinstance(record.args, tuple) else None
            key = str(getattr(job, "id", "?"))
            self.by_job[key] = self.by_job.get(key, 0) + 1
            return False
        return True


def make_time_engine(db_engine: SAEngine, slack: Emulated, clock: Clock, *,
                     batch: int) -> CountingEngine:
    settings = load_settings({"SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_API_URL": slack.base_url})
    client = make_client(settings, interactive=False)
    sessions = make_session_factory(db_engine)
    # No managers, no user groups, no coordinator: what the bench pages (tier 1) is the owner.
    authority = Authority(ConfiguredCoordinator(None), [], is_manager=lambda user: False,
                          group_members=lambda group: frozenset())
    return CountingEngine(sessions=sessions, client=client, clock=clock, authority=authority,
                  records=RecordService(sessions, clock), pacer=Pacer(0), batch=batch)


def time_calls(fn: Callable[[], Any], n: int) -> list[float]:
    for _ in range(5):  # warm the pool, the statement caches and the database's pages
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def sweep_line(label: str, records: int, claims: list[float], nexts: list[float]) -> str:
    return (f"empty sweep, {records:>9,} open records: claim() p50 {pct(claims, 50):6.2f} ms  "
            f"p99 {pct(claims, 99):6.2f} ms  max {max(claims):6.2f} ms   "
            f"(next_ready_at() p50 {pct(nexts, 50):5.2f} ms  p99 {pct(nexts, 99):5.2f} ms)"
            f"{label}")


class Results:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.verdicts: list[tuple[str, bool, str]] = []

    def say(self, line: str) -> None:
        self.lines.append(line)
        print(line, flush=True)

    def judge(self, what: str, ok: bool, detail: str) -> None:
        self.verdicts.append((what, ok, detail))


def scenario_sweep(res: Results, eng: Engine, seeder: Seeder, db_engine: SAEngine,
                   records: int, t0: datetime) -> None:
    small = min(10_000, records)
    started = time.monotonic()
    seeder.add(small, background_due(t0), reminders=True)
    seeder.analyze()
    res.say(f"  seeded {small:,} records + {3 * small:,} due work in "
            f"{time.monotonic() - started:.1f} s")
    claims = time_calls(lambda: eng.claim(), SWEEPS)
    nexts = time_calls(lambda: eng.next_ready_at(), SWEEPS)
    assert not eng.claim(), "nothing should be due"
    res.say(sweep_line("", small, claims, nexts))
    small_p50, small_p99 = pct(claims, 50), pct(claims, 99)

    started = time.monotonic()
    if records > small:
        seeder.add(records - small, background_due(t0), reminders=True)
        seeder.analyze()
    with db_engine.connect() as c:
        n_rec = c.scalar(select(func.count()).select_from(Record))
        n_work = c.scalar(select(func.count()).select_from(DueWork))
    res.say(f"  seeded up to {n_rec:,} records + {n_work:,} due work in "
            f"{time.monotonic() - started:.1f} s (peak RSS so far {rss_mb():.0f} MB)")
    claims = time_calls(lambda: eng.claim(), SWEEPS)
    nexts = time_calls(lambda: eng.next_ready_at(), SWEEPS)
    assert not eng.claim(), "nothing should be due"
    p50, p99 = pct(claims, 50), pct(claims, 99)
    res.say(sweep_line(f"   [{p50 / small_p50:.1f}x the p50, {p99 / small_p99:.1f}x the p99 "
                       f"at {small:,}]", records, claims, nexts))
    res.judge(f"empty sweep p99 at {records:,} records < {TARGET_SWEEP_MS:g} ms",
              p99 < TARGET_SWEEP_MS, f"{p99:.2f} ms")
    res.judge(f"empty sweep flat from {small:,} to {records:,} records (p50 within 2x)",
              p50 <= 2 * small_p50, f"p50 {small_p50:.2f} ms -> {p50:.2f} ms, "
              f"p99 {small_p99:.2f} ms -> {p99:.2f} ms")


def scenario_burst(res: Results, eng: Engine, seeder: Seeder, db_engine: SAEngine,
                   slack: Emulated, t0: datetime, n: int) -> None:
    first, last = seeder.add(n, lambda i: t0, reminders=False)
    posts0, pages0, paged0 = slack.snapshot()

    t = time.perf_counter()
    ids = eng.claim()
    claim_s = time.perf_counter() - t
    res.say(f"{len(ids):,} due at once: claim() (batch={n}) {claim_s * 1000:8.1f} ms  "
            f"(claimed {len(ids):,}, handed to the sender)")
    res.judge(f"claim {n:,} due items < {TARGET_CLAIM_S:g} s", claim_s < TARGET_CLAIM_S
              and len(ids) == n, f"{claim_s * 1000:.0f} ms, {len(ids):,} claimed")

    t = time.perf_counter()
    eng.process(ids)
    process_s = time.perf_counter() - t
    posts1, _, _ = slack.snapshot()
    with db_engine.connect() as c:
        overdue = c.scalar(select(func.count()).select_from(Record).where(
            Record.id.between(first, last), Record.status == "overdue"))
        planned = c.scalar(select(func.count()).select_from(DueWork).where(
            DueWork.record_id.between(first, last), DueWork.kind == "page",
            DueWork.tier == 1, DueWork.state == "pending"))
    res.say(f"  process() of the {len(ids):,} deadlines {process_s * 1000:8.1f} ms  "
            f"({process_s * 1000 / max(1, len(ids)):.2f} ms each): {overdue:,} marked "
            f"overdue, {planned:,} tier-1 pages planned, {posts1 - posts0} chat.postMessage "
            "(no cards posted in this benchmark)")

    t = time.perf_counter()
    handled = eng.run_due()
    run_s = time.perf_counter() - t
    posts2, pages2, paged2 = slack.snapshot()
    res.say(f"  run_due() sending the pages {run_s * 1000:8.1f} ms: handled {handled:,}, "
            f"{posts2 - posts1} chat.postMessage, {pages2 - pages0} page messages, "
            f"{paged2 - paged0:,} records paged (up to 20 a message, grouped by channel and "
            "tier)")
    res.say(f"  claim + process + send, all {n:,}: {(claim_s + process_s + run_s):.2f} s")
    with db_engine.begin() as c:  # the later tiers (1 h, 2 h on) must not leak into the lag run
        c.execute(update(DueWork).where(DueWork.record_id.between(first, last),
                                        DueWork.state == "pending").values(state="cancelled"))


def scenario_lag(res: Results, db_engine: SAEngine, seeder: Seeder, slack: Emulated, *,
                 n: int, spread: float, interval: float) -> None:
    clock = SystemClock()
    eng = make_time_engine(db_engine, slack, clock, batch=500)
    lead = 5.0
    base = clock.now() + timedelta(seconds=lead)
    step = spread / n
    first = seeder.next_id
    first, last = seeder.add(n, lambda i: base + timedelta(seconds=(i - first) * step),
                             reminders=False)
    lead_left = (base - clock.now()).total_seconds()
    res.say(f"lag: {n:,} deadlines due over {spread:g} s ({n / spread:.0f}/s) in {CHANNELS} "
            f"channels, first due {lead_left:.1f} s after seeding; Waker(interval="
            f"{interval:g} s) on the real clock; Pacer(0): the 1 msg/s per-channel pacing is "
            "off (with it, pages queued for one channel wait a second each)")
    skipped = SkippedRuns()
    logging.getLogger("apscheduler.scheduler").addFilter(skipped)
    waker = Waker(eng, clock, interval=interval)
    paged_before = slack.snapshot()[2]
    t_start = time.monotonic()
    waker.start()
    try:
        def progress(seen: int) -> None:
            print(f"  ... {seen - paged_before:,} records paged after "
                  f"{time.monotonic() - t_start:.0f} s", flush=True)

        slack.wait_paged(paged_before + n, spread + lead + 180, progress)
        slack.sync()
    finally:
        waker.stop()
    elapsed = time.monotonic() - t_start
    logging.getLogger("apscheduler.scheduler").removeFilter(skipped)

    with db_engine.connect() as c:
        deadlines = c.execute(select(DueWork.due_at, DueWork.sent_at, DueWork.state).where(
            DueWork.record_id.between(first, last), DueWork.kind == "deadline")).all()
        pages = c.execute(select(DueWork.id, DueWork.due_at, DueWork.sent_at).where(
            DueWork.record_id.between(first, last), DueWork.kind == "page",
            DueWork.tier == 1)).all()
    done = [(d.sent_at - d.due_at).total_seconds() * 1000 for d in deadlines
            if d.state == "done" and d.sent_at is not None]
    received = [(slack.paged[p.id] - p.due_at.timestamp()) * 1000 for p in pages
                if p.id in slack.paged]
    marked = [(p.sent_at - p.due_at).total_seconds() * 1000 for p in pages
              if p.sent_at is not None]
    with slack._cond:
        sizes = list(slack.page_sizes)
    res.say(f"  ran {elapsed:.0f} s: {len(done):,}/{n:,} deadlines handled, {len(received):,}/"
            f"{n:,} tier-1 pages received by the emulator "
            f"(avg {sum(sizes) / max(1, len(sizes)):.1f} records a page message overall)")
    res.say(f"  Waker: {eng.sweeps:,} run_due() calls ({eng.handled_sweeps:,} handled work, "
            f"{eng.sweep_seconds:.1f} s in them; {eng.busy:,} returned at once, a sweep "
            f"already running), {eng.next_calls:,} next_ready_at() calls; APScheduler "
            f"skipped {skipped.by_job.get('wake', 0):,} one-shot wakes and "
            f"{skipped.by_job.get('sweep', 0):,} interval sweeps (max_instances=1)")
    if done:
        res.say(f"  deadline handled (sent_at - due_at):     p50 {pct(done, 50):7.1f} ms  "
                f"p99 {pct(done, 99):7.1f} ms  max {max(done):7.1f} ms")
    if marked:
        res.say(f"  tier-1 page marked sent (sent_at):       p50 {pct(marked, 50):7.1f} ms  "
                f"p99 {pct(marked, 99):7.1f} ms  max {max(marked):7.1f} ms")
    if received:
        res.say(f"lag, due -> page received by Slack:        p50 {pct(received, 50):7.1f} ms  "
                f"p99 {pct(received, 99):7.1f} ms  max {max(received):7.1f} ms  "
                f"(n={len(received):,})")
        p99 = pct(received, 99)
        res.judge(f"lag p99 < {TARGET_LAG_MS / 1000:g} s", p99 < TARGET_LAG_MS
                  and len(received) == n, f"{p99:.0f} ms, {len(received):,}/{n:,} received")
    else:
        res.judge(f"lag p99 < {TARGET_LAG_MS / 1000:g} s", False, "no page received")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=None,
                    help="open records stored (default 1,000,000; 20,000 with --quick)")
    ap.add_argument("--lag-records", type=int, default=None,
                    help="deadlines for the lag run (default 10,000; 2,000 with --quick)")
    ap.add_argument("--spread-seconds", type=float, default=None,
                    help="the lag run's deadlines fall due over this long (default 180; 30 "
                    "with --quick)")
    ap.add_argument("--burst", type=int, default=1000, help="due at once (default 1,000)")
    ap.add_argument("--database-url", default=None,
                    help="a fresh database (default: a SQLite file in a temp dir); for "
                    "postgresql:// a database baton_bench_<random> is created and dropped")
    ap.add_argument("--interval", type=float, default=1.0,
                    help="the Waker's interval sweep in the lag run (default 1 s; Baton's "
                    "default BATON_SWEEP_SECONDS is 10)")
    ap.add_argument("--quick", action="store_true", help="small sizes, for a fast check")
    args = ap.parse_args()
    records = args.records or (20_000 if args.quick else 1_000_000)
    lag_records = args.lag_records or (2_000 if args.quick else 10_000)
    spread = args.spread_seconds or (30.0 if args.quick else 180.0)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    db = Database(args.database_url)
    res = Results()
    slack: Emulated | None = None
    db_engine: SAEngine | None = None
    try:
        print(f"database {db.shown}; {records:,} open records, burst {args.burst:,}, lag "
              f"{lag_records:,} over {spread:g} s", flush=True)
        db_engine = make_engine(db.url)
        migrate(db_engine)
        slack = Emulated()
        t0 = datetime.now(UTC).replace(microsecond=0)
        seeder = Seeder(db_engine, t0)
        with db_engine.begin() as c:
            c.execute(insert(ReferenceCounter), [{"team_id": TEAM, "kind": "handoff",
                                                   "last": 0}])
        fixed = make_time_engine(db_engine, slack, FixedClock(t0), batch=args.burst)

        scenario_sweep(res, fixed, seeder, db_engine, records, t0)
        scenario_burst(res, fixed, seeder, db_engine, slack, t0, args.burst)
        scenario_lag(res, db_engine, seeder, slack, n=lag_records, spread=spread,
                     interval=args.interval)
    finally:
        if slack is not None:
            slack.stop()
        if db_engine is not None:
            db_engine.dispose()
        db.close()

    peak = rss_mb()
    res.say(f"peak RSS of the benchmark process: {peak:.0f} MB"
            + (f" (the emulator process, not counted: {slack.end[0]:.0f} MB)"
               if slack is not None and slack.end else ""))
    res.judge(f"peak RSS < {TARGET_RSS_MB:g} MB", peak < TARGET_RSS_MB, f"{peak:.0f} MB")
    print(f"targets: empty sweep p99 < {TARGET_SWEEP_MS:g} ms and flat in the records stored; "
          f"claim {args.burst:,} due < {TARGET_CLAIM_S:g} s; lag p99 < "
          f"{TARGET_LAG_MS / 1000:g} s; peak RSS < {TARGET_RSS_MB:g} MB")
    for what, ok, detail in res.verdicts:
        print(f"  {'met   ' if ok else 'MISSED'}  {what}: {detail}")


if __name__ == "__main__":
    main()
