"""The Slack emulator for bench/engine.py, in a process of its own: the engine and the
emulator do not share one interpreter lock, and the emulator's recorded history does not count
in the benchmark's peak RSS.

Prints `URL <base_url>`, then for each chat.postMessage it answered:

    P <time.time()> <channel> <T threaded, else -> <page work ids, comma-separated, or ->

(page work ids come from the page's `page:<work id>` action blocks). A line `SYNC k` on
stdin is echoed as `SYNC k` once every earlier P line has been written. On EOF it prints
`END <peak RSS in MB> <calls answered>` and exits.
"""

from __future__ import annotations

import resource
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.console.emulator import BENCH_LENIENCIES, Call, SlackEmulator


def main() -> None:
    team = sys.argv[1]
    out_lock = threading.Lock()
    answered = 0

    def on_call(call: Call) -> None:
        nonlocal answered
        received = time.time()
        if call.method != "chat.postMessage" or not call.response.get("ok"):
            with out_lock:
                answered += 1
            return
        blocks = call.json_param("blocks") or []
        ids = [str(b.get("block_id", ""))[5:] for b in blocks
               if isinstance(b, dict) and str(b.get("block_id", "")).startswith("page:")]
        threaded = "T" if call.params.get("thread_ts") else "-"
        line = (f"P {received:.6f} {call.response.get('channel')} {threaded} "
                f"{','.join(ids) or '-'}\n")
        with out_lock:
            answered += 1
            sys.stdout.write(line)
            sys.stdout.flush()

    # Made-up channels and owners; the engine's own pacer keeps to Slack's rate.
    with SlackEmulator(team_id=team, lenient=BENCH_LENIENCIES) as slack:
        slack.on_call(on_call)
        print(f"URL {slack.base_url}", flush=True)
        for command in sys.stdin:
            if command.startswith("SYNC"):
                with out_lock:
                    sys.stdout.write(command)
                    sys.stdout.flush()
            slack.clear()  # keep only what is needed: the lines already written
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        with out_lock:
            print(f"END {peak:.1f} {answered}", flush=True)


if __name__ == "__main__":
    main()
