"""The Slack emulator in a process of its own, so the benchmark's clients and the emulator do
not share one interpreter lock. Prints its base URL, then `CARD <monotonic> <person>` for each
record card posted (CLOCK_MONOTONIC is shared by every process on the machine)."""

import re
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.console.emulator import BENCH_LENIENCIES, SlackEmulator

PERSON = re.compile(r"· (P-\d+)")


def main() -> None:
    team, users = sys.argv[1], sys.argv[2].split(",")
    out_lock = threading.Lock()
    emu = SlackEmulator(team_id=team, lenient=BENCH_LENIENCIES).start()  # see _load_emulator
    for u in users:
        emu.add_user(u, tz="America/New_York")

    def on_call(call):  # type: ignore[no-untyped-def]
        if call.method == "chat.postMessage" and not call.params.get("thread_ts"):
            m = PERSON.search(str(call.params.get("text", "")))
            if m:
                with out_lock:
                    sys.stdout.write(f"CARD {time.monotonic():.6f} {m.group(1)}\n")
                    sys.stdout.flush()

    emu.on_call(on_call)
    print(f"URL {emu.base_url}", flush=True)
    sys.stdin.read()  # until the benchmark closes our stdin
    emu.stop()


if __name__ == "__main__":
    main()
