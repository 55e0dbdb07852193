"""The database: the run's PostgreSQL database and its seeded template, the seeding, and
the handoffs added to fall due during a run."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Engine as SAEngine
from sqlalchemy import Table, create_engine, insert, make_url, select, text, update

from bench.load.config import BATCH, CHANNELS, LADDER, PARTNERS, TEAM, TZ_NAME
from store import audit
from store.db import make_engine, migrate
from store.models import DueWork, PartnerAgency, Record, ReferenceCounter


class Databases:
    """The run's database (the URL's) and its seeded template, <name>_seed, on the same
    server; the run's is recreated from the template for each run."""

    def __init__(self, url: str) -> None:
        u = make_url(url)
        if not u.drivername.startswith("postgresql") or not u.database:
            raise SystemExit("--database-url: a postgresql:// URL naming a database")
        self.name = u.database
        self.seed_name = f"{self.name}_seed"
        self.url = u.set(drivername="postgresql").render_as_string(False)
        self.seed_url = u.set(drivername="postgresql",
                              database=self.seed_name).render_as_string(False)
        self._admin = create_engine(u.set(drivername="postgresql+psycopg", database="postgres"),
                                    isolation_level="AUTOCOMMIT")

    def _run(self, sql: str) -> None:
        with self._admin.connect() as c:
            c.execute(text(sql))

    def fresh_seed(self) -> None:
        self._run(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._run(f'DROP DATABASE IF EXISTS "{self.seed_name}" WITH (FORCE)')
        self._run(f'CREATE DATABASE "{self.seed_name}"')

    def clone(self) -> None:
        self._run(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._run(f'CREATE DATABASE "{self.name}" TEMPLATE "{self.seed_name}"')

    def activity(self) -> list[tuple[str, str, str]]:
        """The run database's client backends now: (state, wait event, statement start)."""
        with self._admin.connect() as c:
            rows = c.execute(text(
                "SELECT state, coalesce(wait_event_type || '/' || wait_event, ''), "
                "left(regexp_replace(query, '\\s+', ' ', 'g'), 60) FROM pg_stat_activity "
                "WHERE datname = :d AND backend_type = 'client backend' "
                "AND pid <> pg_backend_pid()"), {"d": self.name}).all()
        return [(str(r[0]), str(r[1]), str(r[2])) for r in rows]

    def deadlocks(self) -> int:
        with self._admin.connect() as c:
            return int(c.scalar(text("SELECT deadlocks FROM pg_stat_database WHERE datname = :d"),
                                {"d": self.name}) or 0)

    def drop_all(self, keep: bool) -> None:
        if not keep:
            self._run(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self._run(f'DROP DATABASE IF EXISTS "{self.seed_name}" WITH (FORCE)')
        self._admin.dispose()


@dataclass
class Seeded:
    records: int
    handoffs: int  # H-1 .. H-handoffs exist
    dependencies: int  # D-1 .. D-dependencies exist
    pending: list[tuple[int, str]]  # pending handoffs, (record id, owner): to acknowledge
    pages: list[tuple[int, str, str]]  # sent tier-1 pages: (work id, owner, channel)
    seconds: float


# Record columns some seeded rows set and others not (an executemany wants the same keys).
OPTIONAL = dict.fromkeys(("missing_action", "interim_safeguard", "closed_at", "outcome",
                          "receiving_contact", "escalation_tier", "acknowledged_at",
                          "acknowledged_by", "response_category"))


def seed(url: str, n: int, users: list[str]) -> Seeded:
    """Bulk Core inserts in batches; the audit events through audit.write_sealed, so the
    hash chain holds. Open records are due 2 to 32 days ahead (nothing of theirs falls due
    during a run); some handoffs are overdue with their tier-1 page sent 5 minutes ago."""
    started = time.monotonic()
    engine = make_engine(url)
    migrate(engine)
    t0 = datetime.now(UTC).replace(microsecond=0)
    page_target = min(3000, n // 30)
    handoffs = dependencies = overdue = 0
    pending: list[tuple[int, str]] = []
    with engine.begin() as c:
        c.execute(insert(PartnerAgency), [
            {"team_id": TEAM, "key": f"partner agency {i}", "display_name": f"Partner Agency {i}",
             "created_at": t0} for i in range(PARTNERS)])
        partner_ids = list(c.scalars(select(PartnerAgency.id).order_by(PartnerAgency.id)))
    for start in range(1, n + 1, BATCH):
        records: list[dict[str, Any]] = []
        works: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for i in range(start, min(start + BATCH, n + 1)):
            future = t0 + timedelta(days=2, seconds=(i * 7919) % (30 * 86400))
            past = t0 - timedelta(days=1 + i % 60)
            created = min(past, t0 - timedelta(days=3))
            row: dict[str, Any] = {
                "id": i, "team_id": TEAM, "person_ref": f"P-{i}",
                "partner_id": partner_ids[i % PARTNERS], "owner_id": users[i % len(users)],
                "channel_id": CHANNELS[i % len(CHANNELS)],
                "created_by": users[(i + 7) % len(users)],
                "created_at": created, "updated_at": created, "ladder": LADDER, "tz": TZ_NAME,
                "risk": ("same-day", "short-term", "emerging")[i % 3], "version": 1,
            }
            if i % 5 == 0:
                dependencies += 1
                is_open = dependencies % 4 != 0
                row.update(kind="dependency", number=dependencies,
                           missing_action="unsigned authorization",
                           interim_safeguard="temporary hold" if i % 3 == 0 else None,
                           status="open" if is_open else "resolved",
                           due_at=future if is_open else past,
                           closed_at=None if is_open else past,
                           outcome=None if is_open else "authorization signed")
                kind = "review"
            else:
                handoffs += 1
                bucket = handoffs % 10
                row.update(kind="handoff", number=handoffs, receiving_contact="intake desk")
                if bucket == 6 and overdue < page_target:
                    overdue += 1
                    row.update(status="overdue", due_at=t0 - timedelta(minutes=5),
                               escalation_tier=1)
                elif bucket < 4:
                    row.update(status="pending", due_at=future)
                    pending.append((i, row["owner_id"]))
                elif bucket == 4:
                    row.update(status="acknowledged", due_at=future, acknowledged_at=created,
                               acknowledged_by=row["owner_id"])
                elif bucket == 5:
                    row.update(status="responded", due_at=future, acknowledged_at=created,
                               acknowledged_by=row["owner_id"], response_category="accept")
                else:
                    row.update(status="closed", due_at=past, closed_at=past,
                               outcome="service started")
                is_open = row["status"] == "pending"
                kind = "overdue"
            records.append({**OPTIONAL, **row})
            ref = f"{'D' if row['kind'] == 'dependency' else 'H'}-{row['number']}"
            events.append({"team_id": TEAM, "record_id": i, "record_ref": ref, "at": created,
                           "actor": row["created_by"], "kind": "created", "field": None,
                           "before": None, "after": None, "note": None})
            if row["status"] == "overdue":
                sent = row["due_at"]
                works += [
                    _work(i, "deadline", sent, state="done", reason="overdue", sent_at=sent),
                    _work(i, "page", sent, state="done", tier=1, reason="overdue", sent_at=sent),
                    _work(i, "page", sent + timedelta(hours=1), tier=2, reason="overdue"),
                ]
            elif is_open:
                due = row["due_at"]
                works += [_work(i, "reminder", due - timedelta(hours=24)),
                          _work(i, "reminder", due - timedelta(hours=2)),
                          _work(i, "deadline", due, reason=kind)]
        with engine.begin() as c:
            c.execute(insert(Record), records)
            c.execute(insert(DueWork), works)
            audit.write_sealed(c, events)  # numbered and hash-linked like any other events
    with engine.begin() as c:
        c.execute(insert(ReferenceCounter), [
            {"team_id": TEAM, "kind": "handoff", "last": handoffs},
            {"team_id": TEAM, "kind": "dependency", "last": dependencies}])
        c.execute(text("SELECT setval(pg_get_serial_sequence('records', 'id'), :n)"), {"n": n})
        pages = [(int(r.id), str(r.owner_id), str(r.channel_id)) for r in c.execute(
            select(DueWork.id, Record.owner_id, Record.channel_id)
            .join(Record, Record.id == DueWork.record_id)
            .where(DueWork.kind == "page", DueWork.state == "done"))]
    with engine.connect() as c:
        c.execute(text("ANALYZE"))
        c.commit()
    engine.dispose()
    return Seeded(n, handoffs, dependencies, pending, pages, time.monotonic() - started)


def _work(record_id: int, kind: str, due: datetime, *, state: str = "pending",
          tier: int | None = None, reason: str | None = None,
          sent_at: datetime | None = None) -> dict[str, Any]:
    return {"team_id": TEAM, "record_id": record_id, "kind": kind, "due_at": due,
            "ready_at": due, "tier": tier, "reason": reason, "state": state, "attempts": 0,
            "sent_at": sent_at, "created_at": due - timedelta(days=3)}


def add_due(engine: SAEngine, count: int, *, first_due: datetime, spread: float,
            users: list[str]) -> list[tuple[int, datetime, str, str]]:
    """`count` pending handoffs whose deadlines fall due from `first_due` over `spread`
    seconds, written while `serve` runs (numbers taken from the counter as Baton takes
    them). Returns (record id, due at, channel, owner) for each."""
    now = datetime.now(UTC)
    table = cast(Table, ReferenceCounter.__table__)
    with engine.begin() as c:
        last = c.execute(update(table).where(table.c.team_id == TEAM, table.c.kind == "handoff")
                         .values(last=table.c.last + count).returning(table.c.last)).scalar_one()
        partner_ids = list(c.scalars(select(PartnerAgency.id).order_by(PartnerAgency.id)))
        rows = []
        for j in range(count):
            number = last - count + 1 + j
            rows.append({
                "team_id": TEAM, "kind": "handoff", "number": number,
                "person_ref": f"P-{9_000_000 + number}",
                "partner_id": partner_ids[j % len(partner_ids)], "status": "pending",
                "due_at": first_due + timedelta(seconds=spread * j / max(1, count - 1)),
                "owner_id": users[j % len(users)], "channel_id": CHANNELS[j % len(CHANNELS)],
                "created_by": users[(j + 3) % len(users)], "created_at": now, "updated_at": now,
                "receiving_contact": "intake desk", "ladder": LADDER, "tz": TZ_NAME,
                "risk": "short-term", "version": 1})
        records = cast(Table, Record.__table__)
        ids = list(c.scalars(insert(records).returning(
            records.c.id, sort_by_parameter_order=True), rows))
        c.execute(insert(DueWork), [_work(rid, "deadline", r["due_at"], reason="overdue")
                                    | {"created_at": now} for rid, r in zip(ids, rows,
                                                                           strict=True)])
        audit.write_sealed(c, [
            {"team_id": TEAM, "record_id": rid, "record_ref": f"H-{r['number']}", "at": now,
             "actor": r["created_by"], "kind": "created", "field": None, "before": None,
             "after": None, "note": None} for rid, r in zip(ids, rows, strict=True)])
    return [(rid, r["due_at"], r["channel_id"], r["owner_id"])
            for rid, r in zip(ids, rows, strict=True)]
