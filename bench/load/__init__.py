"""Benchmark (not a test): Baton under sustained mixed load, on one replica and then on two.

A PostgreSQL database with 100,000 records (handoffs and dependencies in every state, their
due work and their hash-chained audit events) is seeded once and cloned for each run. Each
run starts a Slack emulator in its own process (bench/emulator_proc.py) and `baton serve`
(one process; then two on different ports sharing the database, the time engine running in
both, the clients split across them), and 50 concurrent clients (asyncio, one keep-alive
connection each, raw HTTP/1.1) send signed Slack requests for 60 s. Each client is one
person in Slack: it sends its next request once it sees Baton's answer to the last one (the
reply to the response_url, or for a button the card or page edited in place), as a person
acts on what they were shown; `--pace none` instead sends the next request as soon as the
200 comes back, which no person can do (a saturation test: Baton turns away what it can't
take, and says so). The requests: /handoff and /dependency, `/baton list`,
`/baton show REF`, and button clicks: Partner acknowledged (by the owner, on pending
handoffs) and Acknowledge (by the person paged, on pages seeded as sent and on pages the
engine sends during the run). Meanwhile a few hundred handoffs fall due, so the engine pages
their owners under load; a tenth of them are acknowledged right at their deadline, racing
the engine.

Printed per run: requests/s, p50/p99/max latency to Slack's HTTP 200 and to the answer each
person saw, non-200s and
connection errors, per request kind; what became of the work each 200 deferred (records
created, replies to the response_url and how long they took, sorted into ok / refused /
"try again" / Baton's generic failure; whether it was all done within --drain seconds after
the load); `serve`'s CPU and the errors and warnings in its log; what PostgreSQL's busy
backends were doing during the load; the pages the emulator received against the due work
and the 'paged' audit events ("every due page sent exactly once: yes/no (duplicates N,
missing M)"); the audit chain verified; PostgreSQL's deadlock count.

    python bench/load [--database-url postgresql://postgres@127.0.0.1:5432/baton_load]
                      [--seconds 60] [--clients 50] [--records 100000] [--due 300]
                      [--replicas 1,2] [--drain 120] [--pace answer|none] [--quick]
                      [--keep-database]

(or `python -m bench.load ...` from the repository's root).

--quick: 10 s, 10 clients, 10,000 records, 60 due, 10 s drain (a smoke run, ~1.5 min in
all). The URL's database is dropped and recreated for each run (<name>_seed holds the
seeded copy); both are dropped at the end unless --keep-database. Every subprocess is
stopped on the way out, Ctrl-C included.

Targets: zero errors (non-200s, connection errors, requests turned away as overloaded);
p99 to the 200 < 100 ms; every due page sent exactly once.

The package, by concern: config (the made-up workspace and the request mix), database (the
databases and the seeding), slack (the emulator process, seen from here), traffic (the
clients and the requests they send), measure (the tallies, PostgreSQL's waits, a run's
figures), report (printing them), procs (starting and stopping every subprocess), runner
(one run), __main__ (the command line).
"""

