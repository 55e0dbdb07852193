"""One run: a fresh copy of the seeded database, the emulator, `serve` replicas, the warm-up,
the load, the wait for the deferred work, then the report."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bench.command_path import cpu_seconds
from bench.load.config import MIX
from bench.load.database import Databases, Seeded, add_due
from bench.load.measure import DbWaits, Run, Tally, wait_settled
from bench.load.procs import Replica, start_replica, stop, wait_healthy
from bench.load.report import report
from bench.load.slack import Emulated
from bench.load.traffic import Traffic, client
from store.db import make_engine
from store.models import AuditEvent, Record


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
                traffic.cards.update((rid, (channel, ts)) for rid, channel, ts in c.execute(  # type: ignore[misc]
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
            delta = Counter(counts)
            delta.subtract(before["replies"].get(kind, {}))
            replies[kind] = +delta
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
