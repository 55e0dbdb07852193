"""The Slack emulator in a process of its own, for every benchmark: the benchmark's clients,
`serve` and the emulator do not share one interpreter lock, and the emulator's recorded history
does not count in a benchmark's RSS. One launcher (`start`, `close`) for the parent side and
one process (`main`) whose `--watch` says what it reports on its stdout:

    python bench/emulator_proc.py --watch cards|pages|load TEAM [U1,U2,...]

Every watch prints `URL <base_url>` first and exits on EOF on its stdin. The benchmarks' channels
and staff are made up, their trigger ids their own, and they measure Baton's request path, not
Slack's posting limit: the emulator runs with BENCH_LENIENCIES, asked by name.

--watch cards (bench/command_path.py, bench/hostile.py): `CARD <monotonic> <person>` for each
record card posted (a top-level chat.postMessage naming a person, P-…); CLOCK_MONOTONIC is
shared by every process on the machine. Lines on stdin are ignored.

--watch pages (bench/engine.py): for each chat.postMessage it answered,

    P <time.time()> <channel> <T threaded, else -> <page work ids, comma-separated, or ->

(page work ids come from the page's `page:<work id>` action blocks). A line `SYNC k` on stdin
is echoed as `SYNC k` once every earlier P line has been written; after each line on stdin the
recorded calls are cleared (only the lines already written are kept). On EOF it prints
`END <peak RSS in MB> <calls answered>`.

--watch load (bench/load): one line for each page message (a top-level chat.postMessage
carrying `page:<work id>` action blocks) as soon as it is answered:

    P <time.time()> <channel> <paged user or -> <work ids, comma-separated> <ts>

and, for the clients that wait for what their person would see before acting again
(`--pace answer`), one line per response_url reply and per chat.update that Slack accepted:

    A <response_url key>
    U <channel> <ts>

Everything else is only counted. A line `CARDS <channel> <n>` on stdin makes n record-card
messages by the bot in the channel (as if Baton had posted them) and is answered with `C
<channel> <ts>,<ts>,...`, so Baton can edit cards the seeded records point at. A line
`STATS` on stdin is answered with `S <json>`: calls per method, API errors, and the replies
sent to response_urls by request kind, sorted into ok / refused (a :warning: the person
sees) / try_again (Baton's "nothing was saved, try again") / failed (Baton's generic
"something went wrong on Baton's side"), with a few sample texts, and how long each reply
took: a response_url key is `<kind>.<client>.<seq>.<ms>`, <ms> being CLOCK_MONOTONIC in
milliseconds when the request was sent. `RESET` forgets the reply times so far. The recorded
calls are cleared every 2,000 calls (messages stay, so chat.update still works).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import resource
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve()
WATCHES = ("cards", "pages", "load")


# --- the parent's side: one way to start it, one way to stop it ---

def command(watch: str, team: str, users: Sequence[str] = ()) -> list[str]:
    if watch not in WATCHES:
        raise ValueError(f"watch: one of {', '.join(WATCHES)}")
    return [sys.executable, str(HERE), "--watch", watch, team, ",".join(users)]


def start(watch: str, team: str, users: Sequence[str] = (), *,
          popen: Callable[..., subprocess.Popen[Any]] = subprocess.Popen
          ) -> tuple[subprocess.Popen[Any], str]:
    """Start the emulator process; returns it (stdin and stdout text pipes) and its base URL,
    once it has said it. `popen`: how to start it (bench/load registers its processes)."""
    proc = popen(command(watch, team, users), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                 text=True, cwd=ROOT)
    if proc.stdout is None or proc.stdin is None:
        raise RuntimeError("the emulator process needs its stdin and stdout piped")
    first = proc.stdout.readline().split()
    if len(first) != 2 or first[0] != "URL":
        close(proc, timeout=5)
        raise SystemExit(f"the Slack emulator did not start: {first}")
    return proc, first[1]


def response_url(base_url: str, key: str) -> str:
    return base_url.replace("/api/", f"/response/{key}")  # as SlackEmulator.response_url


def close(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """EOF on its stdin (it exits), then SIGKILL if it has not within `timeout`."""
    with contextlib.suppress(Exception):
        if proc.stdin is not None:
            proc.stdin.close()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


# --- the emulator's side ---

PERSON = re.compile(r"· (P-\d+)")
MENTION = re.compile(r"<@([UW][A-Z0-9]+)>")
GENERIC = "Something went wrong on Baton's side"
TRY_AGAIN = ("nothing was saved. Look at the card and try again",
             "The database is not answering right now")
SAMPLES = 3
CLEAR_EVERY = 2000  # --watch load: recorded calls kept in memory between clears


class Out:
    """Lines to the parent, whole and in order, from any thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()

    def write(self, line: str) -> None:
        with self.lock:
            sys.stdout.write(line)
            sys.stdout.flush()


def page_ids(call: Any) -> list[str]:
    blocks = call.json_param("blocks") or []
    return [str(b.get("block_id", ""))[5:] for b in blocks
            if isinstance(b, dict) and str(b.get("block_id", "")).startswith("page:")]


class Watch:
    """What one benchmark wants to hear of the emulator's calls and to ask of it."""

    def __init__(self, emu: Any, out: Out) -> None:
        self.emu = emu
        self.out = out

    def on_call(self, call: Any) -> None:
        pass

    def command(self, line: str) -> None:
        pass

    def end(self) -> None:
        pass


class Cards(Watch):
    def on_call(self, call: Any) -> None:
        if call.method == "chat.postMessage" and not call.params.get("thread_ts"):
            m = PERSON.search(str(call.params.get("text", "")))
            if m:
                self.out.write(f"CARD {time.monotonic():.6f} {m.group(1)}\n")


class Pages(Watch):
    def __init__(self, emu: Any, out: Out) -> None:
        super().__init__(emu, out)
        self.answered = 0

    def on_call(self, call: Any) -> None:
        received = time.time()
        if call.method != "chat.postMessage" or not call.response.get("ok"):
            with self.out.lock:
                self.answered += 1
            return
        ids = page_ids(call)
        threaded = "T" if call.params.get("thread_ts") else "-"
        line = (f"P {received:.6f} {call.response.get('channel')} {threaded} "
                f"{','.join(ids) or '-'}\n")
        with self.out.lock:
            self.answered += 1
            sys.stdout.write(line)
            sys.stdout.flush()

    def command(self, line: str) -> None:
        if line.startswith("SYNC"):
            self.out.write(line)
        self.emu.clear()  # keep only what is needed: the lines already written

    def end(self) -> None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        with self.out.lock:
            print(f"END {peak:.1f} {self.answered}", flush=True)


def classify(text: str) -> str:
    if GENERIC in text:
        return "failed"
    if any(t in text for t in TRY_AGAIN):
        return "try_again"
    if text.lstrip().startswith(":warning:"):
        return "refused"
    return "ok"


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    return {"n": len(ordered), "p50": at(50), "p99": at(99), "max": ordered[-1]}


class Load(Watch):
    def __init__(self, emu: Any, out: Out) -> None:
        super().__init__(emu, out)
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.api_errors: Counter[str] = Counter()
        self.replies: dict[str, Counter[str]] = defaultdict(Counter)
        self.reply_ms: dict[str, list[float]] = defaultdict(list)
        self.samples: dict[str, list[str]] = defaultdict(list)
        self.state = {"last_call": time.monotonic(), "since_clear": 0, "page_posts": 0}

    def on_call(self, call: Any) -> None:
        page_line = None
        if call.method == "chat.postMessage" and call.response.get("ok") \
                and not call.params.get("thread_ts"):
            ids = page_ids(call)
            if ids:
                m = MENTION.search(str(call.params.get("text", "")))
                page_line = (f"P {time.time():.6f} {call.response.get('channel')} "
                             f"{m.group(1) if m else '-'} {','.join(ids)} "
                             f"{call.response.get('ts')}\n")
        elif call.method == "chat.update" and call.response.get("ok"):
            page_line = f"U {call.response.get('channel')} {call.response.get('ts')}\n"
        elif call.method == "response_url":
            page_line = f"A {call.params.get('_key', '?')}\n"
        clear = False
        with self.lock:
            self.calls[call.method] += 1
            self.state["last_call"] = time.monotonic()
            if page_line and page_line.startswith("P "):
                self.state["page_posts"] += 1
            if call.method != "response_url" and not call.response.get("ok"):
                self.api_errors[f"{call.method} {call.response.get('error')}"] += 1
            if call.method == "response_url":
                parts = str(call.params.get("_key", "?")).split(".")
                kind = parts[0]
                if len(parts) == 4 and parts[3].isdigit():
                    self.reply_ms[kind].append(time.monotonic() * 1000 - int(parts[3]))
                text = str(call.params.get("text", ""))
                verdict = classify(text)
                self.replies[kind][verdict] += 1
                key = f"{kind} {verdict}"
                if verdict != "ok" and len(self.samples[key]) < SAMPLES:
                    self.samples[key].append(text[:300])
            self.state["since_clear"] += 1
            if self.state["since_clear"] >= CLEAR_EVERY:
                self.state["since_clear"] = 0
                clear = True
        if clear:
            self.emu.clear()  # only the recorded calls: messages stay, so chat.update works
        if page_line:
            self.out.write(page_line)

    def command(self, line: str) -> None:
        emu = self.emu
        if line.startswith("CARDS "):
            _, channel, n = line.split()
            with emu._cond:
                channel = emu._resolve_channel(channel)
                tss = [emu._store_message(channel, text="(seeded card)", blocks=[],
                                          thread_ts=None, user=emu.bot_user_id,
                                          extra={})["ts"] for _ in range(int(n))]
            self.out.write(f"C {channel} {','.join(tss)}\n")
        elif line.strip() == "RESET":
            with self.lock:
                self.reply_ms.clear()
        elif line.strip() == "STATS":
            with self.lock:
                stats: dict[str, Any] = {
                    "calls": dict(self.calls), "api_errors": dict(self.api_errors),
                    "replies": {k: dict(v) for k, v in self.replies.items()},
                    "reply_ms": {k: summary(v) for k, v in self.reply_ms.items()},
                    "samples": dict(self.samples),
                    "idle": time.monotonic() - self.state["last_call"],
                    "page_posts": self.state["page_posts"],
                }
            self.out.write(f"S {json.dumps(stats)}\n")


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from bot.console.emulator import BENCH_LENIENCIES, SlackEmulator

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--watch", choices=WATCHES, required=True)
    ap.add_argument("team")
    ap.add_argument("users", nargs="?", default="")
    args = ap.parse_args()
    emu = SlackEmulator(team_id=args.team, lenient=BENCH_LENIENCIES).start()
    out = Out()
    watch = {"cards": Cards, "pages": Pages, "load": Load}[args.watch](emu, out)
    try:
        for u in (u for u in args.users.split(",") if u):
            emu.add_user(u, tz="America/New_York")
        emu.on_call(watch.on_call)
        print(f"URL {emu.base_url}", flush=True)
        for line in sys.stdin:  # until the benchmark closes our stdin
            watch.command(line)
        watch.end()
    finally:
        emu.stop()


if __name__ == "__main__":
    main()
