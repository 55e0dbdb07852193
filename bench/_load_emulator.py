"""The Slack emulator for bench/load.py, in a process of its own (the load clients, `serve`
and the emulator do not share an interpreter lock).

    python bench/_load_emulator.py TEAM U1,U2,...

Prints `URL <base_url>`, then one line for each page message (a top-level chat.postMessage
carrying `page:<work id>` action blocks) as soon as it is answered:

    P <time.time()> <channel> <paged user or -> <work ids, comma-separated>

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
milliseconds when the request was sent (the clock is shared by every process on the
machine). `RESET` forgets the reply times so far. Exits on EOF.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.console.emulator import BENCH_LENIENCIES, Call, SlackEmulator

MENTION = re.compile(r"<@([UW][A-Z0-9]+)>")
GENERIC = "Something went wrong on Baton's side"
TRY_AGAIN = ("nothing was saved. Look at the card and try again",
             "The database is not answering right now")
SAMPLES = 3
CLEAR_EVERY = 2000  # recorded calls kept in memory between clears


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


def main() -> None:
    team, users = sys.argv[1], [u for u in sys.argv[2].split(",") if u]
    lock = threading.Lock()
    out_lock = threading.Lock()
    calls: Counter[str] = Counter()
    api_errors: Counter[str] = Counter()
    replies: dict[str, Counter[str]] = defaultdict(Counter)
    reply_ms: dict[str, list[float]] = defaultdict(list)
    samples: dict[str, list[str]] = defaultdict(list)
    state = {"last_call": time.monotonic(), "since_clear": 0, "page_posts": 0}
    # The benchmark's channels and staff are made up, its trigger ids its own, and it
    # measures Baton's request path, not Slack's posting limit: leniencies asked by name.
    emu = SlackEmulator(team_id=team, lenient=BENCH_LENIENCIES)

    def on_call(call: Call) -> None:
        page_line = None
        if call.method == "chat.postMessage" and call.response.get("ok") \
                and not call.params.get("thread_ts"):
            blocks = call.json_param("blocks") or []
            ids = [str(b.get("block_id", ""))[5:] for b in blocks if isinstance(b, dict)
                   and str(b.get("block_id", "")).startswith("page:")]
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
        with lock:
            calls[call.method] += 1
            state["last_call"] = time.monotonic()
            if page_line and page_line.startswith("P "):
                state["page_posts"] += 1
            if call.method != "response_url" and not call.response.get("ok"):
                api_errors[f"{call.method} {call.response.get('error')}"] += 1
            if call.method == "response_url":
                parts = str(call.params.get("_key", "?")).split(".")
                kind = parts[0]
                if len(parts) == 4 and parts[3].isdigit():
                    reply_ms[kind].append(time.monotonic() * 1000 - int(parts[3]))
                text = str(call.params.get("text", ""))
                verdict = classify(text)
                replies[kind][verdict] += 1
                key = f"{kind} {verdict}"
                if verdict != "ok" and len(samples[key]) < SAMPLES:
                    samples[key].append(text[:300])
            state["since_clear"] += 1
            if state["since_clear"] >= CLEAR_EVERY:
                state["since_clear"] = 0
                clear = True
        if clear:
            emu.clear()  # only the recorded calls: messages stay, so chat.update still works
        if page_line:
            with out_lock:
                sys.stdout.write(page_line)
                sys.stdout.flush()

    emu.start()
    for u in users:
        emu.add_user(u, tz="America/New_York")
    emu.on_call(on_call)
    print(f"URL {emu.base_url}", flush=True)
    for command in sys.stdin:
        if command.startswith("CARDS "):
            _, channel, n = command.split()
            with emu._cond:
                channel = emu._resolve_channel(channel)
                tss = [emu._store_message(channel, text="(seeded card)", blocks=[],
                                          thread_ts=None, user=emu.bot_user_id,
                                          extra={})["ts"] for _ in range(int(n))]
            with out_lock:
                sys.stdout.write(f"C {channel} {','.join(tss)}\n")
                sys.stdout.flush()
        elif command.strip() == "RESET":
            with lock:
                reply_ms.clear()
        elif command.strip() == "STATS":
            with lock:
                stats: dict[str, Any] = {
                    "calls": dict(calls), "api_errors": dict(api_errors),
                    "replies": {k: dict(v) for k, v in replies.items()},
                    "reply_ms": {k: summary(v) for k, v in reply_ms.items()},
                    "samples": dict(samples), "idle": time.monotonic() - state["last_call"],
                    "page_posts": state["page_posts"],
                }
            with out_lock:
                sys.stdout.write(f"S {json.dumps(stats)}\n")
                sys.stdout.flush()
    emu.stop()


if __name__ == "__main__":
    main()
