"""The Slack emulator (bench/emulator_proc.py --watch load, a process of its own), seen from
here: page messages as they arrive, cards and pages placed for the buttons, its counters."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
from collections import defaultdict, deque
from typing import Any, cast

import httpx
from sqlalchemy import Engine as SAEngine
from sqlalchemy import Table, bindparam, text, update

from bench import emulator_proc
from bench.load.config import TEAM, TOKEN
from bench.load.procs import spawn, stop
from store.models import DueWork


class Emulated:
    """bench/emulator_proc.py --watch load, seen from here: page messages as they arrive (by
    work id, with every time each was received), and its counters on request."""

    def __init__(self, users: list[str]) -> None:
        self.proc, self.base_url = emulator_proc.start("load", TEAM, users, popen=spawn)
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
                if not self._cond.wait_for(lambda ch=channel: ch in self._cards,  # type: ignore[misc]
                                           timeout=60):
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
        table = cast(Table, DueWork.__table__)
        if rows:
            with engine.begin() as c:
                c.execute(update(table).where(table.c.id == bindparam("wid"))
                          .values(channel_id=bindparam("ch"), message_ts=bindparam("mts")), rows)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        stop([self.proc], timeout=10.0)
