"""APScheduler only wakes the engine: a short interval sweep, plus a one-shot wake at the
nearest due time. The database, not APScheduler, holds the work, so nothing is lost when
the process is down: the first sweep after start handles everything that fell due."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from bot.clock import Clock
from scheduler.engine import Engine

log = logging.getLogger("baton.wake")

JOB_DEFAULTS = {
    "coalesce": True,  # many missed wakes are one sweep
    "max_instances": 1,
    "misfire_grace_time": None,  # never skip a wake because it is late
}


class Waker:
    def __init__(self, engine: Engine, clock: Clock, *, interval: float = 10.0) -> None:
        self._engine = engine
        self._clock = clock
        self._interval = interval
        self._scheduler = BackgroundScheduler(job_defaults=JOB_DEFAULTS, timezone=UTC)
        self._lock = threading.Lock()
        self._wake_at: datetime | None = None  # real time of the one-shot wake, if any

    def start(self) -> None:
        self._scheduler.add_job(self.sweep, "interval", seconds=self._interval, id="sweep",
                                next_run_time=datetime.now(UTC))  # catch up at once
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)

    def sweep(self) -> None:
        with self._lock:
            self._wake_at = None
        try:
            handled = self._engine.run_due()
            if handled:
                log.info("handled %d due items", handled)
        except Exception:
            log.exception("sweep failed; the next wake tries again")
        self.poke()

    def poke(self, due: datetime | None = None) -> None:
        """Wake once at the nearest due time, if that is sooner than the interval sweep.
        `due` is new work's time when the caller knows it (no database read then)."""
        if due is None:
            try:
                due = self._engine.next_ready_at()
            except Exception:
                log.exception("could not read the next due time")
                return
        if due is None or not self._scheduler.running:
            return
        # The engine's clock may be a test clock; APScheduler runs on the real one, so wake
        # after the same distance from now.
        delay = max(timedelta(0), due - self._clock.now())
        if delay.total_seconds() >= self._interval:
            return
        run_at = datetime.now(UTC) + delay
        with self._lock:
            if self._wake_at is not None and self._wake_at <= run_at:
                return  # an earlier wake is already set; it will look again
            self._wake_at = run_at
            self._scheduler.add_job(self.sweep, "date", id="wake", replace_existing=True,
                                    run_date=run_at)
