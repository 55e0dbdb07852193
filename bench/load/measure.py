"""Measurement: what the clients tallied, what PostgreSQL's backends waited on, when the due
work settled, and one run's figures (Run) for the report."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine as SAEngine
from sqlalchemy import func, select

from bench.load.database import Databases
from bench.load.procs import Replica
from bench.load.slack import Emulated
from store.models import DueWork


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
