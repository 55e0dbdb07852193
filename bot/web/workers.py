"""The worker pool: the slow part of a request (cards, modals, messages) runs here after
Slack has had its answer, and the count of work waiting is what load shedding reads
(bot/web/shedding.py). Saving an answered request before its work is queued, and deleting
it once the work has run, is the inbox's part (bot/web/inbox.py)."""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from slack_sdk.webhook import WebhookClient

log = logging.getLogger("baton")


class Held(list[tuple[Any, ...]]):
    """The work one request deferred, and the received_requests row it came in as."""

    def __init__(self, request_id: int | None = None) -> None:
        super().__init__()
        self.request_id = request_id


def _finish_with_last(held: list[tuple[Any, ...]],
                      finish: Callable[[], None]) -> list[tuple[Any, ...]]:
    """The same work, each piece counting down; `finish` runs after the last one ends,
    whether it succeeded or failed (a failure is logged and its sender told)."""
    left = [len(held)]
    lock = threading.Lock()

    def counted(fn: Callable[..., None]) -> Callable[..., None]:
        def run(*args: Any, **kwargs: Any) -> None:
            try:
                fn(*args, **kwargs)
            finally:
                with lock:
                    left[0] -= 1
                    last = left[0] == 0
                if last:
                    finish()

        run.__name__ = getattr(fn, "__name__", "work")
        return run

    return [(counted(fn), args, kwargs) for fn, args, kwargs in held]


class Workers:
    """`threads` workers for deferred work; beyond `max_backlog` pieces waiting (queued,
    running or held by a request being answered) Baton is overloaded and turns requests
    away. A small side pool of its own tells a turned-away button's presser to try again."""

    def __init__(self, threads: int, *, max_backlog: int) -> None:
        self.max_backlog = max_backlog
        self.executor = ThreadPoolExecutor(threads, thread_name_prefix="baton")
        self._local = threading.local()
        self._pending: set[Future[Any]] = set()
        self._held = 0
        self._idle = threading.Condition()
        self._shed = 0
        self._busy_slots = threading.BoundedSemaphore(50)
        self._busy_pool = ThreadPoolExecutor(1, thread_name_prefix="busy")

    # --- load shedding: the work already answered 200 stays a few seconds' worth ---

    def overloaded(self) -> bool:
        with self._idle:
            return len(self._pending) + self._held >= self.max_backlog

    def waiting(self) -> int:
        """Deferred work not yet finished: queued, running, or held by a request."""
        with self._idle:
            return len(self._pending) + self._held

    def note_shed(self) -> None:
        with self._idle:
            self._shed += 1
            shed = self._shed
        if shed == 1 or shed % 100 == 0:
            log.warning("overloaded: %d requests turned away with a 'try again' so far (more "
                        "than BATON_MAX_BACKLOG=%d waiting)", shed, self.max_backlog)

    def tell_busy(self, response_url: str, text: str) -> None:
        """Tell a button's presser to try again, on a small pool of its own; when even that
        is full the note is skipped (counted in the log above)."""
        if not self._busy_slots.acquire(blocking=False):
            return

        def send() -> None:
            try:
                WebhookClient(response_url, timeout=5).send(
                    text=text, response_type="ephemeral", replace_original=False)
            except Exception as exc:  # noqa: BLE001 - best effort, and logged
                log.warning("could not send a 'try again': %s", type(exc).__name__)
            finally:
                self._busy_slots.release()

        self._busy_pool.submit(send)

    # --- deferred work ---

    def defer(self, fn: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        """Run the slow part after Slack has its 200. Exceptions are logged, never lost.
        Inside an HTTP request (see hold_deferred) it starts once the response is sent. It
        runs in the caller's context: the request's workspace (bot/slack/clients.py) goes
        with it."""
        ctx = contextvars.copy_context()
        work = fn

        def in_context(*a: Any, **k: Any) -> None:
            ctx.run(work, *a, **k)

        in_context.__name__ = getattr(work, "__name__", "work")
        fn = in_context
        held = getattr(self._local, "held", None)
        if held is not None:
            with self._idle:
                self._held += 1  # counted as pending from now: wait_idle must see it
            held.append((fn, args, kwargs))
            return
        self._submit(fn, *args, **kwargs)

    @contextmanager
    def hold_deferred(self, request_id: int | None = None) -> Iterator[Held]:
        """Collect work deferred while a request is being answered, so it does not compete
        with writing Slack's response; the caller submits it with release() (or the inbox's
        release, which saves the request first). `request_id` is the request's
        received_requests row, when it has one."""
        self._local.held = held = Held(request_id)
        try:
            yield held
        finally:
            self._local.held = None

    def release(self, held: Held, *, finished: Callable[[], None] | None = None) -> None:
        """Queue the work a request deferred; `finished` runs once all of it has run (at
        once if it deferred nothing)."""
        if finished is not None:
            if not held:
                finished()  # it deferred nothing: done already
            else:
                held[:] = _finish_with_last(held, finished)
        for fn, args, kwargs in held:
            try:
                self._submit(fn, *args, **kwargs)
            except RuntimeError:  # the pool is shut down: do it here rather than lose it
                log.warning("worker pool closed; running %s inline", getattr(fn, "__name__", fn))
                try:
                    fn(*args, **kwargs)
                except Exception:
                    log.exception("deferred work failed")
            finally:
                with self._idle:
                    self._held -= 1
                    self._idle.notify_all()

    def _submit(self, fn: Callable[..., None], *args: Any, **kwargs: Any) -> None:
        def run() -> None:
            try:
                fn(*args, **kwargs)
            except Exception:
                log.exception("background work failed in %s", getattr(fn, "__name__", fn))

        fut = self.executor.submit(run)
        with self._idle:
            self._pending.add(fut)
        fut.add_done_callback(self._done)

    def _done(self, fut: Future[Any]) -> None:
        with self._idle:
            self._pending.discard(fut)
            self._idle.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until deferred work has finished (the console and shutdown use this)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._pending or self._held:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def shutdown(self) -> None:
        """Queued work is cancelled; a task still running is not waited for (a Slack retry
        may be sleeping in it): the process exits on time, its transaction rolls back."""
        self.executor.shutdown(wait=False, cancel_futures=True)
        self._busy_pool.shutdown(wait=False, cancel_futures=True)
