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
            self.release.wait(30)
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
        assert engine.first_running.wait(30)
        # Work falls due now while the first sweep is still running.
        engine.due = datetime.now(UTC)
        waker.poke(engine.due)
        engine.release.set()
        started = time.monotonic()
        # A lost wake would wait for the interval sweep, 60 s away; a busy machine may take
        # seconds to run a woken thread.
        assert engine.swept_after_due.wait(30), "the wake was lost until the interval sweep"
        assert time.monotonic() - started < 30
    finally:
        waker.stop()


def test_a_one_shot_wake_at_the_nearest_due_time():
    engine = StubEngine()
    engine.release.set()
    waker = Waker(engine, SystemClock(), interval=60)
    waker.start()
    try:
        assert engine.first_running.wait(30)
        due = datetime.now(UTC) + timedelta(milliseconds=300)
        engine.due = due
        waker.poke(due)
        assert engine.swept_after_due.wait(30)
        assert datetime.now(UTC) >= due
    finally:
        waker.stop()


def test_sweep_now_waits_for_a_sweep_that_began_after_the_call():
    """The console moves its clock, then needs a sweep that sees the new time: one already
    running when it asks does not count."""
    engine = StubEngine()
    seen_at_start: list[int] = []
    marker = {"value": 0}
    original = engine.run_due

    def run_due() -> int:
        seen_at_start.append(marker["value"])
        return original()

    engine.run_due = run_due  # type: ignore[method-assign]
    waker = Waker(engine, SystemClock(), interval=60)
    waker.start()
    try:
        assert engine.first_running.wait(30)  # sweep 1 is running, and slow
        marker["value"] = 1  # "the clock moved"
        threading.Timer(0.2, engine.release.set).start()
        assert waker.sweep_now(timeout=30)
        assert seen_at_start[-1] == 1 and engine.sweeps == 2
    finally:
        waker.stop()


def test_offset_clock_only_moves_forward():
    from bot.clock import FixedClock, OffsetClock

    base = FixedClock(datetime(2026, 11, 22, 10, 0, tzinfo=UTC))
    clock = OffsetClock(base)
    assert clock.advance(timedelta(hours=2)) == datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    base.advance(timedelta(minutes=5))
    assert clock.now() == datetime(2026, 11, 22, 12, 5, tzinfo=UTC)
    try:
        clock.advance(timedelta(seconds=-1))
    except ValueError as exc:
        assert "only moves forward" in str(exc)
    else:
        raise AssertionError("a backwards move was accepted")
    assert clock.now() == datetime(2026, 11, 22, 12, 5, tzinfo=UTC)
