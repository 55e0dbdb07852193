"""`python -m bench.load` or `python bench/load`: see bench/load/__init__.py."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as `python bench/load`
    sys.path.insert(0, str(ROOT))

import bench.load  # noqa: E402
from bench.load.database import Databases, seed  # noqa: E402
from bench.load.procs import cleanup  # noqa: E402
from bench.load.runner import run  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=(bench.load.__doc__ or "").split("\n\n")[0])
    ap.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/baton_load",
                    help="recreated for each run (its seeded copy is <name>_seed)")
    ap.add_argument("--seconds", type=float, default=None, help="load per run (default 60)")
    ap.add_argument("--clients", type=int, default=None, help="concurrent clients (default 50)")
    ap.add_argument("--records", type=int, default=None, help="stored (default 100,000)")
    ap.add_argument("--due", type=int, default=None,
                    help="handoffs falling due during each run (default 300)")
    ap.add_argument("--replicas", default="1,2",
                    help="the runs, as numbers of `serve` processes (default 1,2)")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 10 s, 10 clients, 10,000 records, 60 due")
    ap.add_argument("--drain", type=float, default=None,
                    help="after the load, wait up to this long for the deferred work "
                    "(default 120 s; 10 s with --quick)")
    ap.add_argument("--pace", choices=("answer", "none"), default="answer",
                    help="answer (default): each client acts again once it sees Baton's "
                    "answer; none: as soon as the 200 comes back (saturation)")
    ap.add_argument("--keep-database", action="store_true",
                    help="leave the last run's database for inspection")
    args = ap.parse_args()
    seconds = args.seconds or (10.0 if args.quick else 60.0)
    clients = args.clients or (10 if args.quick else 50)
    records = args.records or (10_000 if args.quick else 100_000)
    due = args.due or (60 if args.quick else 300)
    drain = args.drain if args.drain is not None else (10.0 if args.quick else 120.0)
    runs = [int(x) for x in args.replicas.split(",") if x.strip()]
    if not runs or min(runs) < 1 or max(runs) > clients:
        raise SystemExit("--replicas: numbers of serve processes, 1 to --clients, e.g. 1,2")
    users = [f"U0LOAD{i:03d}" for i in range(max(50, clients))]

    dbs = Databases(args.database_url)
    tmp = Path(tempfile.mkdtemp(prefix="baton-load-"))
    with cleanup(dbs, args.keep_database):
        print(f"seeding {records:,} records into {dbs.seed_url.split('@')[-1]} ...", flush=True)
        dbs.fresh_seed()
        seeded = seed(dbs.seed_url, records, users)
        print(f"  seeded in {seeded.seconds:.1f} s: {seeded.handoffs:,} handoffs, "
              f"{seeded.dependencies:,} dependencies, {len(seeded.pending):,} pending, "
              f"{len(seeded.pages):,} overdue with a sent page; each run gets a copy")
        for n in runs:
            run(dbs, seeded, replicas=n, clients=clients, seconds=seconds, due_count=due,
                users=users, tmp=tmp, drain=drain, pace=args.pace)
    print(f"\n(serve logs in {tmp})")


if __name__ == "__main__":
    main()
