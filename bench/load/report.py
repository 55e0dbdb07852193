"""Reporting: the figures of one run, printed, and the check that every due page was sent
exactly once."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from sqlalchemy import Engine as SAEngine
from sqlalchemy import func, select

from bench.command_path import pct
from bench.load.config import ANSWER_WAIT, LABEL, MIX, REPLIES, TARGET_P99_MS, TEAM
from bench.load.measure import Run
from store import audit
from store.db import make_session_factory
from store.models import AuditEvent, DueWork, Record


def log_findings(path: Path) -> tuple[Counter[str], Counter[str]]:
    """The errors and the warnings in a `serve` log, each message (without its timestamp;
    an error followed by the exception its traceback ends with) counted."""
    errors: Counter[str] = Counter()
    warnings: Counter[str] = Counter()
    lines = path.read_text(errors="replace").splitlines()
    for i, line in enumerate(lines):
        message = line.split(" ", 2)[-1][:300]  # "LEVEL logger: message"
        if " ERROR " in line or " CRITICAL " in line:
            for nxt in lines[i + 1:i + 100]:
                if nxt[:4].isdigit():
                    break  # the next log line
                if nxt and not nxt.startswith((" ", "Traceback", "During handling",
                                               "The above exception")):
                    message += f" -> {nxt.strip()[:200]}"
            errors[message] += 1
        elif " WARNING " in line:
            warnings[message] += 1
    return errors, warnings

def report(r: Run, db: SAEngine) -> None:
    t = r.tally
    print(f"{'request kind':<27} {'sent':>6} {'200/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'max ms':>7} {'non-200':>7} {'conn err':>8}  {'reply p50 s':>11} {'p99 s':>6}"
          f"  replies ok/refused/try again/failed")
    all_ms: list[float] = []
    non200 = conn_err = 0
    for kind in MIX:
        ms = t.ms.get(kind, [])
        all_ms += ms
        bad = sum(t.status[kind].values())
        cerr = sum(t.conn_errors[kind].values())
        non200 += bad
        conn_err += cerr
        rep = r.replies.get(kind, Counter())
        lat = r.reply_ms.get(kind)
        reply_p = (f"{lat['p50'] / 1000:>11.2f} {lat['p99'] / 1000:>6.2f}" if lat
                   else f"{'-':>11} {'-':>6}")
        counts = f"{rep['ok']}/{rep['refused']}/{rep['try_again']}/{rep['failed']}"
        if kind not in REPLIES:
            counts += " (no reply on success)"
        print(f"{LABEL[kind]:<27} {t.sent[kind]:>6} {len(ms) / r.elapsed:>7.1f} "
              f"{_p(ms, 50):>7} {_p(ms, 99):>7} {_max(ms):>7} {bad:>7} {cerr:>8}  {reply_p}"
              f"  {counts}")
    print(f"{'all':<27} {sum(t.sent.values()):>6} {len(all_ms) / r.elapsed:>7.1f} "
          f"{_p(all_ms, 50):>7} {_p(all_ms, 99):>7} {_max(all_ms):>7} {non200:>7} "
          f"{conn_err:>8}")
    for kind in MIX:
        for status, n in t.status[kind].items():
            print(f"  {LABEL[kind]}: {n} answered HTTP {status}")
        for name, n in t.conn_errors[kind].items():
            print(f"  {LABEL[kind]}: {n} connection errors ({name})")
    shed = sum(t.shed.values())
    if shed:
        shed_ms = [x for kind in MIX for x in t.shed_ms.get(kind, [])]
        print(f"turned away as overloaded (200 with Baton's 'very busy, try again', nothing "
              f"taken): {shed} ({shed / max(sum(t.sent.values()), 1):.0%} of requests), "
              f"p50 {_p(shed_ms, 50)} ms, p99 {_p(shed_ms, 99)} ms; not in the rows above")
    if any(t.answer_ms.values()) or t.unanswered:
        print("what each person saw come back (--pace answer: the reply, or the card or page "
              "edited in place), from sending the request:")
        for kind in MIX:
            ms = t.answer_ms.get(kind, [])
            late = t.unanswered.get(kind, 0)
            print(f"  {LABEL[kind]:<27} {len(ms):>6} seen  p50 {_p(ms, 50):>7} ms  p99 "
                  f"{_p(ms, 99):>7} ms" + (f"  {late} not seen within {ANSWER_WAIT:g} s"
                                          if late else ""))
    p99 = pct(all_ms, 99) if all_ms else float("inf")
    print(f"throughput {len(all_ms) / r.elapsed:.1f} requests/s answered 200 over "
          f"{r.elapsed:.1f} s; the clients used {r.client_cpu / r.elapsed:.0%} of a core "
          f"(the machine has {os.cpu_count()} cores)")
    for i, rep_ in enumerate(r.replicas, 1):
        errors, warnings = log_findings(rep_.log)
        print(f"baton serve #{i} (port {rep_.port}): {rep_.cpu / r.elapsed:.0%} of a core under "
              f"load; its log: {errors.total()} errors, {warnings.total()} warnings ({rep_.log})"
              + ("; killed: still busy with queued deferred work 10 s after SIGTERM"
                 if rep_.killed else ""))
        for label, found in (("error", errors), ("warning", warnings)):
            for message, n in found.most_common(5):
                print(f"    {label} x{n}: {message}")

    for line in r.waits:
        print(line)

    # What the 200s promised: the deferred work.
    sent_creates = len(t.ms.get("handoff", [])) + len(t.ms.get("dependency", []))
    created, last = r.created, r.last_created
    expected = sum(len(t.ms.get(k, [])) for k in REPLIES)
    answered = sum(sum(r.replies.get(k, Counter()).values()) for k in REPLIES)
    totals: Counter[str] = Counter()
    for c_ in r.replies.values():
        totals.update(c_)
    done = (f"all of it done {r.drained:.1f} s after the load stopped" if r.drained is not None
            else f"NOT all done {r.waited:.0f} s after the load stopped: {expected - answered} "
                 "replies still queued")
    print(f"after the 200 (the deferred work): {created:,} records created for "
          f"{sent_creates:,} /handoff and /dependency 200s"
          + (f" (the last {(last - r.stopped_at).total_seconds():.1f} s after the load "
             "stopped)" if last else "")
          + f"; {answered:,}/{expected:,} command replies; {done}")
    print(f"  replies: ok {totals['ok']}, refused {totals['refused']} (a :warning: the person "
          f"sees, e.g. already acknowledged), try again {totals['try_again']}, failed "
          f"{totals['failed']} (Baton's generic error)")
    for key, texts in sorted(r.samples.items()):
        kind, verdict = key.split(" ", 1)
        print(f"    {verdict} reply to {LABEL.get(kind, kind)}: {texts[0][:160]!r}")
    print("  audit events written from the start of the load to the end of the wait: "
          + ", ".join(f"{k} {n}" for k, n in r.written.most_common()))
    if r.api_errors:
        print("  Slack API errors answered to Baton: "
              + ", ".join(f"{k} x{n}" for k, n in r.api_errors.most_common(6)))

    exact = check_pages(r, db)
    with make_session_factory(db)() as s:
        chain = audit.verify(s, team_id=TEAM)
    print(f"audit chain: {'intact' if chain.ok else 'BROKEN: ' + str(chain.broken)} "
          f"({chain.events:,} events); deadlocks PostgreSQL counted: {r.deadlocks}")
    errors_total = non200 + conn_err + shed
    print(f"targets: zero errors: {'met' if errors_total == 0 else 'MISSED'} ({non200} non-200, "
          f"{conn_err} connection errors, {shed} turned away as overloaded); p99 to the 200 "
          f"< {TARGET_P99_MS:g} ms: "
          f"{'met' if p99 < TARGET_P99_MS else 'MISSED'} ({p99:.1f} ms); every due page sent "
          f"exactly once: {'met' if exact else 'MISSED'}")


def check_pages(r: Run, db: SAEngine) -> bool:
    due_ids = [d[0] for d in r.due]
    due_at = {d[0]: d[1] for d in r.due}
    with db.connect() as c:
        deadlines = Counter(c.execute(select(DueWork.state).where(
            DueWork.record_id.in_(due_ids), DueWork.kind == "deadline")).scalars())
        pages = c.execute(select(DueWork.id, DueWork.record_id, DueWork.state)
                          .where(DueWork.record_id.in_(due_ids), DueWork.kind == "page",
                                 DueWork.tier == 1)).all()
        paged = Counter(c.execute(select(AuditEvent.record_id).where(
            AuditEvent.record_id.in_(due_ids), AuditEvent.kind == "paged")).scalars())
        acked = c.scalar(select(func.count()).select_from(Record).where(
            Record.id.in_(r.raced or [-1]), Record.acknowledged_at.is_not(None)))
    with r.slack._cond:
        received = {wid: list(times) for wid, times in r.slack.received.items()}
        messages = r.slack.page_messages
    page_ids = {p.id for p in pages}
    states = Counter(p.state for p in pages)
    got = [p for p in pages if p.id in received]
    duplicates = sum(len(received[p.id]) - 1 for p in got)
    # Missing: a due page not received (unless cancelled before it was sent: acknowledged
    # at its deadline), and a deadline never handled (its page was never even planned).
    missing = sum(1 for p in pages if p.id not in received and p.state != "cancelled")
    missing += deadlines["pending"] + deadlines["claimed"]
    extra_events = sum(n - 1 for n in paged.values() if n > 1)
    lag = [(received[p.id][0] - due_at[p.record_id].timestamp()) * 1000 for p in got]
    other = sum(len(v) for wid, v in received.items() if wid not in page_ids)
    settled = (f"all handled {r.settled:.1f} s after the load stopped" if r.settled is not None
               else "NOT all handled by the end of the wait")
    print(f"engine: {len(r.due)} handoffs fell due during the run, {len(r.raced)} of them "
          f"clicked Partner acknowledged at their deadline ({acked} recorded by the end); "
          f"deadlines {dict(deadlines)}; tier-1 pages {dict(states)}; {settled}")
    print(f"pages sent: the emulator received {sum(len(v) for v in received.values())} page "
          f"rows in {messages} page messages ({len(got)} distinct due pages"
          + (f", {other} other" if other else "") + "); 'paged' audit events "
          f"{sum(paged.values())} for {len(paged)} records"
          + (f" ({extra_events} extra)" if extra_events else "")
          + (f"; lag due -> Slack p50 {pct(lag, 50) / 1000:.2f} s, p99 "
             f"{pct(lag, 99) / 1000:.2f} s, max {max(lag) / 1000:.2f} s" if lag else ""))
    sent_anyway = sum(1 for p in got if p.state != "done")
    if sent_anyway:
        print(f"  {sent_anyway} of them reached Slack though their due work is now "
              f"'cancelled': acknowledged while the page was on its way (allowed)")
    exact = duplicates == 0 and missing == 0 and extra_events == 0
    print(f"every due page sent exactly once: {'yes' if exact else 'no'} "
          f"(duplicates {duplicates + extra_events}, missing {missing})")
    return exact


def _p(ms: list[float], p: float) -> str:
    return f"{pct(ms, p):.1f}" if ms else "-"


def _max(ms: list[float]) -> str:
    return f"{max(ms):.1f}" if ms else "-"
