"""The Waker on the real clock, with a stand-in engine: wakes are not lost while a sweep runs."""

import threading
import time
from datetime import UTC, datetime, timedelta

from bot.clock import SystemClock
from scheduler.wake import Waker


class StubEngine:
    """Counts sweeps; the first one is slow, and work becomes due while it runs."""

    def __init__(self) -> None:
        self.sweeps = 0
        self.due: datetime | None = None
        self.first_running = threading.Event()
        self.release = threading.Event()
        self.swept_after_due = threading.Event()

    def run_due(self) -> int:
        self.sweeps += 1
        if self.sweeps == 1:
            self.first_running.set()
            self.release.wait(5)
            return 0
        if self.due is not None and datetime.now(UTC) >= self.due:
            self.swept_after_due.set()
            self.due = None
        return 0

    def next_ready_at(self) -> datetime | None:
        return self.due


def test_a_wake_during_a_running_sweep_is_not_lost():
    engine = StubEngine()
    waker = Waker(engine, SystemClock(), interval=60)  # the interval sweep is far away
    waker.start()
    try:
        assert engine.first_running.wait(5)
        # Work falls due now while the first sweep is still running.
        engine.due = datetime.now(UTC)
        waker.poke(engine.due)
        engine.release.set()
        started = time.monotonic()
        assert engine.swept_after_due.wait(5), "the wake was lost until the interval sweep"
        assert time.monotonic() - started < 2
    finally:
        waker.stop()


def test_a_one_shot_wake_at_the_nearest_due_time():
    engine = StubEngine()
    engine.release.set()
    waker = Waker(engine, SystemClock(), interval=60)
    waker.start()
    try:
        assert engine.first_running.wait(5)
        due = datetime.now(UTC) + timedelta(milliseconds=300)
        engine.due = due
        waker.poke(due)
        assert engine.swept_after_due.wait(5)
        assert datetime.now(UTC) >= due
    finally:
        waker.stop()
