"""APScheduler only wakes the engine: a short interval sweep, plus a one-shot wake at the
nearest due time. The database, not APScheduler, holds the work, so nothing is lost when
the process is down: the first sweep after start handles everything that fell due.

The sweeps themselves run on one engine thread. APScheduler's jobs only set an event, so a
wake that comes while a sweep is running is never dropped (with max_instances=1 a job that
did the sweep itself would be skipped, and the work it was for would wait a whole interval).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import DBAPIError

from bot.clock import Clock
from scheduler.engine import Engine

log = logging.getLogger("baton.wake")

JOB_DEFAULTS = {
    "coalesce": True,  # many missed wakes are one sweep
    "max_instances": 1,
    "misfire_grace_time": None,  # never skip a wake because it is late
}


# After a failed sweep (the database refusing writes: a full disk, a read-only file or
# replica) the next waits 1 s, then 2, 4 ... up to a minute, so a broken database costs one
# log line a step, not a core and a traceback storm; the first sweep that works ends it.
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 60.0


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else ''}"


class Waker:
    def __init__(self, engine: Engine, clock: Clock, *, interval: float = 10.0,
                 housekeeping: Callable[[], object] | None = None,
                 pause: Callable[[float], object] | None = None) -> None:
        """`pause(seconds)` waits out a backoff step (tests pass one that moves their clock
        instead); by default it waits on the stop event, so stop() cuts it short."""
        self._pause = pause
        self._failures = 0
        self._failing_since: datetime | None = None
        self._engine = engine
        self._housekeeping = housekeeping
        self._clock = clock
        self._interval = interval
        self._scheduler = BackgroundScheduler(job_defaults=JOB_DEFAULTS, timezone=UTC)
        self._due = threading.Event()  # "look for due work now"
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="baton-engine", daemon=True)
        self._lock = threading.Lock()
        self._wake_at: datetime | None = None  # real time of the one-shot wake, if any
        self._swept = threading.Condition()
        self._started = self._finished = 0  # sweeps counted, for sweep_now()

    def start(self) -> None:
        self._scheduler.add_job(self._due.set, "interval", seconds=self._interval, id="sweep")
        self._scheduler.start()
        self._thread.start()
        self._due.set()  # catch up at once on everything that fell due while down

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        # The engine finishes the send in flight, sends nothing more and gives back what it
        # had claimed; without this a long catch-up ran on past the join below and the
        # process exited with its claims held until their lease ran out.
        stop_engine = getattr(self._engine, "stop", None)  # a stand-in may have none
        if stop_engine is not None:
            stop_engine()
        self._due.set()
        if self._scheduler.running:
            # Jobs go first, under the scheduler's own lock: a shutdown racing a one-shot
            # job that is being run and removed would otherwise crash APScheduler's thread.
            self._scheduler.remove_all_jobs()
            self._scheduler.shutdown(wait=True)
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            self._due.wait()
            if self._stopping.is_set():
                return
            self._due.clear()
            with self._lock:
                self._wake_at = None
            with self._swept:
                self._started += 1
            failed = self._sweep()
            if failed is None:
                try:
                    self.poke()
                except Exception:  # the loop must outlive any one failure
                    log.exception("could not schedule the next wake")
            with self._swept:
                self._finished += 1
                self._swept.notify_all()
            if failed is not None:
                self._back_off(failed)

    def _sweep(self) -> BaseException | None:
        """One sweep and its housekeeping; the error that failed it, if one did."""
        try:
            handled = self._engine.run_due()
            if handled:
                log.info("handled %d due items", handled)
        except Exception as exc:  # noqa: BLE001 - logged by _back_off, once a step
            return exc  # housekeeping would fail the same way: it waits for the next step
        if self._failures:
            log.warning("sweeps work again after %d failed (since %s)", self._failures,
                        self._failing_since.isoformat(timespec="seconds")
                        if self._failing_since else "?")
            self._failures, self._failing_since = 0, None
        if self._housekeeping is not None and not self._stopping.is_set():
            try:
                self._housekeeping()
            except Exception:
                log.exception("housekeeping failed; the next wake tries again")
        return None

    def _back_off(self, exc: BaseException) -> None:
        """Wait out one step of the backoff, then sweep again (whatever woke us meanwhile:
        the work is in the database, and this sweep looks for all of it)."""
        self._failures += 1
        if self._failing_since is None:
            self._failing_since = self._clock.now()
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** min(self._failures - 1, 16))
        # One line a step. The traceback only with the first of a run of failures, and not
        # when it is the database refusing (a full disk, a read-only file or replica): the
        # line says all there is, and a minute of them was hundreds of lines.
        trace = self._failures == 1 and not isinstance(exc, DBAPIError)
        log.error("sweep failed (%s); %d in a row, trying again in %g s", _one_line(exc),
                  self._failures, delay, exc_info=exc if trace else None)
        if self._pause is not None:
            self._pause(delay)
        else:
            self._stopping.wait(delay)
        if self._stopping.is_set():
            return
        self._due.set()

    def sweep_now(self, timeout: float = 30.0) -> bool:
        """Sweep at once and wait until a sweep that began after this call has finished
        (the console uses it after moving its clock). False if none finished in time."""
        with self._swept:
            target = self._started + 1
            self._due.set()
            return self._swept.wait_for(lambda: self._finished >= target, timeout)

    def poke(self, due: datetime | None = None) -> None:
        """Make sure the engine looks again by `due` (the new work's time when the caller
        knows it; else the database's nearest)."""
        if due is None:
            try:
                due = self._engine.next_ready_at()
            except Exception:
                log.exception("could not read the next due time")
                return
        if due is None or self._stopping.is_set():
            return
        # The engine's clock may be a test clock; APScheduler runs on the real one, so wake
        # after the same distance from now.
        delay = due - self._clock.now()
        if delay <= timedelta(0):
            self._due.set()
            return
        if delay.total_seconds() >= self._interval or not self._scheduler.running:
            return  # the interval sweep comes sooner
        run_at = datetime.now(UTC) + delay
        with self._lock:
            if self._wake_at is not None and self._wake_at <= run_at:
                return  # an earlier wake is already set; that sweep will look again
            self._wake_at = run_at
            # A fresh one-shot job each time, never replacing one by id: APScheduler removes
            # a date job after running it, and a replace racing that removal kills its
            # scheduler thread. A superseded wake that still fires only costs an empty sweep.
            self._scheduler.add_job(self._due.set, "date", run_date=run_at)
