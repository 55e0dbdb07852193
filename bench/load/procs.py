"""Process control: every subprocess bench/load starts (the emulator, `baton serve`) is
stopped on the way out, whatever the way out is (Ctrl-C, SIGTERM, an error)."""

from __future__ import annotations

import atexit
import contextlib
import http.client
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.command_path import free_port
from bench.load.config import ROOT, SECRET, TOKEN

if TYPE_CHECKING:
    from bench.load.database import Databases
    from bench.load.slack import Emulated

PROCS: list[subprocess.Popen[Any]] = []


def spawn(args: list[str], **kwargs: Any) -> subprocess.Popen[Any]:
    # Own session: a Ctrl-C reaches only this process, which stops the others in order.
    proc = subprocess.Popen(args, **{"cwd": ROOT, **kwargs}, start_new_session=True)
    PROCS.append(proc)
    return proc


def stop(procs: list[subprocess.Popen[Any]], timeout: float) -> set[int]:
    """SIGTERM to all at once, then SIGKILL to those still running after `timeout`.
    Returns the pids that had to be killed."""
    for proc in procs:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
    deadline = time.monotonic() + timeout
    killed = set()
    for proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            killed.add(proc.pid)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(5)
        if proc in PROCS:
            PROCS.remove(proc)
    return killed


def stop_all() -> None:
    for proc in PROCS:
        with contextlib.suppress(Exception):
            if proc.stdin is not None:
                proc.stdin.close()
    stop(list(PROCS), timeout=5.0)


def _interrupted(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")

# --- baton serve ---

@dataclass
class Replica:
    port: int
    proc: subprocess.Popen[Any]
    log: Path
    cpu0: float = 0.0
    cpu: float = 0.0
    killed: bool = False


def start_replica(url: str, slack: Emulated, log: Path) -> Replica:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "SLACK_BOT_TOKEN": TOKEN,
           "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack.base_url,
           "BATON_SWEEP_SECONDS": "1", "BATON_LOG_LEVEL": "WARNING"}
    env.pop("BATON_CONFIG", None)
    with log.open("w") as fh:
        proc = spawn([sys.executable, "-m", "bot.cli", "serve", "--port", str(port),
                      "--host", "127.0.0.1"], env=env, stdout=fh, stderr=subprocess.STDOUT)
    return Replica(port, proc, log)


def wait_healthy(r: Replica) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if r.proc.poll() is not None:
            raise SystemExit(f"baton serve exited ({r.proc.returncode}):\n"
                             + r.log.read_text()[-3000:])
        conn = http.client.HTTPConnection("127.0.0.1", r.port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.1)
    raise SystemExit(f"baton serve did not come up on port {r.port}:\n"
                     + r.log.read_text()[-3000:])

@contextlib.contextmanager
def cleanup(dbs: Databases, keep: bool) -> Iterator[None]:
    atexit.register(stop_all)
    old = {s: signal.signal(s, _interrupted) for s in (signal.SIGTERM, signal.SIGHUP)}
    # Ctrl-C, even when started with SIGINT ignored (a background job of a script)
    old[signal.SIGINT] = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    except KeyboardInterrupt:
        print("\ninterrupted: stopping the servers and the emulator", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        stop_all()
        with contextlib.suppress(Exception):
            dbs.drop_all(keep)
        for s, h in old.items():
            signal.signal(s, h)
