"""Benchmarks that cannot rot: each bench/ benchmark's `--quick` mode runs as a subprocess (in
a session of its own, killed with everything it started if it outlives its timeout) and must
exit 0 and print its figure lines, each figure a number. The figures are not judged: a quick
run on a busy machine says nothing about speed, only that the benchmark still works against
today's code.

bench/hostile.py's quick mode is run by tests/e2e/test_hostile_traffic.py
(test_bench_hostile_quick_runs_and_prints_its_figures); every other entry point in bench/ must
be listed here, or named a helper, or the first test fails."""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
NUM = r"([0-9][0-9,]*(?:\.[0-9]+)?)"


@dataclass(frozen=True)
class Bench:
    args: tuple[str, ...]
    figures: tuple[str, ...]  # regexes, each matching a line; every group a number
    timeout: float
    postgres: bool = False


BENCHES = {
    "command_path": Bench(
        ("bench/command_path.py", "--quick"),
        (rf"^baton serve \(/handoff, card posted\) +n= *{NUM} +200: p50 +{NUM} ms +p99 +{NUM}"
         rf" ms +card: p50 +{NUM} ms +p99 +{NUM} ms",
         rf"^  baton serve used {NUM} ms of CPU per command \({NUM}% of one core over {NUM} s,"
         rf" {NUM} commands/s\)",
         rf"^bare Bolt app, ack only \(default\) +n= *{NUM} +200: p50 +{NUM} ms +p99 +{NUM} ms",
         rf"^bare Bolt app, ack only \(process_before_response\) +n= *{NUM} +200: p50 +{NUM}"
         rf" ms +p99 +{NUM} ms"),
        timeout=240),
    "engine": Bench(
        ("bench/engine.py", "--quick"),
        (rf"^empty sweep, +{NUM} open records: claim\(\) p50 +{NUM} ms +p99 +{NUM} ms +max"
         rf" +{NUM} ms +\(next_ready_at\(\) p50 +{NUM} ms +p99 +{NUM} ms\)$",
         rf"^empty sweep, +{NUM} open records: claim\(\) p50 +{NUM} ms +p99 +{NUM} ms .*"
         rf"\[{NUM}x the p50, {NUM}x the p99 at {NUM}\]$",
         rf"^{NUM} due at once: claim\(\) \(batch={NUM}\) +{NUM} ms",
         rf"^  process\(\) of the {NUM} deadlines +{NUM} ms",
         rf"^  run_due\(\) sending the pages +{NUM} ms: handled {NUM}",
         rf"^lag, due -> page received by Slack: +p50 +{NUM} ms +p99 +{NUM} ms +max +{NUM} ms",
         rf"^peak RSS of the benchmark process: {NUM} MB"),
        timeout=420),
    "load": Bench(
        ("bench/load", "--quick"),
        (rf"^all +{NUM} +{NUM} +{NUM} +{NUM} +{NUM} +{NUM} +{NUM}$",
         rf"^throughput {NUM} requests/s answered 200 over {NUM} s",
         rf"^baton serve #1 \(port {NUM}\): {NUM}% of a core under load",
         rf"^audit chain: \S+.*\({NUM} events\); deadlocks PostgreSQL counted: {NUM}$",
         r"^every due page sent exactly once: (?:yes|no) \(duplicates (\d+), missing (\d+)\)$"),
        timeout=540, postgres=True),
}
# bench/ entry points that are not benchmarks of their own, and the one run elsewhere.
HELPERS = {"emulator_proc", "_bare_bolt"}
RUN_ELSEWHERE = {"hostile"}  # tests/e2e/test_hostile_traffic.py


def entry_points() -> set[str]:
    found = {p.stem for p in BENCH.glob("*.py") if "__main__" in p.read_text()}
    found |= {p.parent.name for p in BENCH.glob("*/__main__.py")}
    return found


def test_every_benchmark_has_its_quick_run_tested():
    unlisted = entry_points() - set(BENCHES) - HELPERS - RUN_ELSEWHERE
    assert not unlisted, (f"bench/ entry points with no quick-run test: {sorted(unlisted)}; add "
                          "them to BENCHES in tests/e2e/test_benchmarks_run.py (or to HELPERS)")
    assert set(BENCHES) | RUN_ELSEWHERE <= entry_points()


def _signal_session(proc: subprocess.Popen[str], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # nothing left running
        os.killpg(proc.pid, sig)


def run_quick(args: list[str], timeout: float) -> tuple[int, str]:
    """The benchmark in a session of its own. If it outlives `timeout` it gets SIGTERM (each
    benchmark stops what it started on SIGTERM, bench/load its servers in their own sessions
    too), then SIGKILL for its whole session; and whatever is left in its session when this
    returns or fails is killed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "BATON_"))}
    proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, text=True,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _signal_session(proc, signal.SIGTERM)
            try:
                out, _ = proc.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                _signal_session(proc, signal.SIGKILL)
                out, _ = proc.communicate(timeout=30)
            pytest.fail(f"{' '.join(args)} did not finish within {timeout:g} s:\n"
                        f"{out[-4000:]}")
        return proc.returncode, out
    finally:
        _signal_session(proc, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", sorted(BENCHES))
def test_quick_run_exits_0_and_prints_its_figures(name, request):
    bench = BENCHES[name]
    args = list(bench.args)
    if bench.postgres:
        # this run's PostgreSQL database (skips, or fails under BATON_REQUIRE_POSTGRES=1,
        # where there is none): the benchmark's databases go on the same server
        server = request.getfixturevalue("pg_template").rsplit("/", 1)[0]
        db = f"baton_test_load_{uuid.uuid4().hex[:10]}"
        drop = request.getfixturevalue("drop_at_exit")
        drop(db)  # the benchmark drops both itself; these are for a run that is killed
        drop(f"{db}_seed")
        args += ["--database-url", f"{server}/{db}"]
    code, out = run_quick(args, bench.timeout)
    print(out)
    assert code == 0, out[-4000:]
    lines = out.splitlines()
    for pattern in bench.figures:
        matched = [m for m in map(re.compile(pattern).search, lines) if m]
        assert matched, f"no line matching {pattern!r} in:\n{out[-4000:]}"
        for m in matched:
            for figure in m.groups():
                assert math.isfinite(float(figure.replace(",", ""))), (pattern, m.group(0))
