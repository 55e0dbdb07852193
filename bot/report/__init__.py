"""The commissioner's evidence report: three CSV files and one self-contained HTML page.

`write_report` reads one workspace's records, audit events and escalations for a period
(store/evidence.py says which rows a period covers, and why) and writes, into `out_dir`:

- records.csv, audit_events.csv, escalations.csv: one row per database row, a header row,
  UTF-8, times as ISO 8601 UTC. JSON columns hold JSON. A text cell that a spreadsheet would
  run as a formula (=, +, -, @ first) gets a leading apostrophe: commissioners open these
  in Excel.
- report.html: headline figures, four charts drawn as inline SVG, and for each record its
  fields and its full audit trail. No script, no network, no external fonts: a Content
  Security Policy in the page forbids them, so it opens the same offline, years later.
  Every free-text value is HTML-escaped; people appear only as person reference codes.

No Slack here: the CLI and the `/baton report` command both call `write_report`.
"""

from __future__ import annotations

import csv
import html
import json
import os
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import inspect
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import JSON

from bot.domain.records import OPEN_STATUSES, ResponseCategory, Risk
from bot.domain.schedule import LATE_AFTER
from bot.domain.times import format_duration
from store import audit
from store.evidence import Evidence, gather
from store.models import AuditEvent, DueWork, Record

RECORDS_CSV = "records.csv"
EVENTS_CSV = "audit_events.csv"
ESCALATIONS_CSV = "escalations.csv"
REPORT_HTML = "report.html"

# What ends the wait on a deadline: a partner acknowledgement for a handoff; resolving,
# closing or cancelling for either kind.
_SETTLING = {"handoff": ("acknowledged", "closed", "cancelled"),
             "dependency": ("resolved", "closed", "cancelled")}
# Audit fields that move a record's deadline (a dependency's review can be moved).
_DEADLINE_FIELDS = ("next_review_at", "due_at", "response_deadline")

# Time-to-acknowledgement buckets: (label, upper bound, exclusive).
_ACK_BUCKETS = (
    ("<1h", timedelta(hours=1)),
    ("1–4h", timedelta(hours=4)),
    ("4–24h", timedelta(hours=24)),
    ("1–2d", timedelta(days=2)),
    ("2–7d", timedelta(days=7)),
    ("7d+", timedelta.max),
)


# --- the summary handed back to the CLI and to Slack ---

@dataclass(frozen=True)
class ReportSummary:
    team_id: str
    channel_id: str | None
    start: datetime
    end: datetime
    generated_at: datetime
    tz: ZoneInfo
    paths: tuple[Path, ...]  # every file written, the HTML last
    row_counts: Mapping[str, int]  # CSV file name -> data rows (the header not counted)
    headline: tuple[tuple[str, str], ...]  # (label, value), in the report's order
    chain_head: str = ""  # the workspace's audit chain head when the report was written

    @property
    def html_path(self) -> Path:
        return self.paths[-1]

    def headline_text(self, *, title: bool = True) -> str:
        """A few plain lines for the terminal or (without the title line, which the Slack
        message says in its own words) a Slack message."""
        where = f"channel {self.channel_id}" if self.channel_id else "all channels"
        lines = [f"Evidence report for {self.team_id}, {where}, "
                 f"{period_text(self.start, self.end, self.tz)}"] if title else []
        lines += [f"{label}: {value}" for label, value in self.headline]
        rows = ", ".join(f"{name} {count}" for name, count in self.row_counts.items())
        lines.append(f"Rows: {rows}")
        if self.chain_head:
            lines.append(f"Audit chain head: {self.chain_head}")
        return "\n".join(lines)


def write_report(
    sessions: sessionmaker[Session], *, team_id: str, start: datetime, end: datetime,
    channel_id: str | None, out_dir: Path, now: datetime, tz: ZoneInfo,
    chain_head: str | None = None,
) -> ReportSummary:
    """Write the CSVs and report.html for records logged in [start, end) into `out_dir`."""
    with sessions() as s:
        evidence = gather(s, team_id=team_id, start=start, end=end, channel_id=channel_id)
        if chain_head is None:  # read just after the events: it covers at least those
            head, seq = audit.chain_head(s, team_id=team_id)
            chain_head = f"{head} (event {seq})"
    facts = Facts.of(evidence, now=now)
    headline = tuple(headline_figures(facts, tz=tz, start=start, end=end))
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {
        RECORDS_CSV: _write_csv(out_dir / RECORDS_CSV, *_records_table(evidence)),
        EVENTS_CSV: _write_csv(out_dir / EVENTS_CSV, *_events_table(evidence)),
        ESCALATIONS_CSV: _write_csv(out_dir / ESCALATIONS_CSV, *_escalations_table(evidence)),
    }
    page = render_html(facts, headline=headline, team_id=team_id, channel_id=channel_id,
                       start=start, end=end, now=now, tz=tz, chain_head=chain_head)
    _write_text(out_dir / REPORT_HTML, page)
    paths = (*(out_dir / name for name in counts), out_dir / REPORT_HTML)
    return ReportSummary(team_id=team_id, channel_id=channel_id, start=start, end=end,
                         generated_at=now, tz=tz, paths=paths, row_counts=counts,
                         headline=headline, chain_head=chain_head or "")


# --- what the figures are computed from ---

@dataclass(frozen=True)
class RecordFacts:
    """One record and what the report derives from it at `now`."""

    record: Record
    events: list[AuditEvent]
    pages: list[DueWork]  # sent pages, first sent first
    settled_at: datetime | None  # acknowledged (handoff), resolved, closed or cancelled
    stalled: list[tuple[datetime, datetime]]  # spans open past its deadline

    @property
    def is_handoff(self) -> bool:
        return self.record.kind == "handoff"

    @property
    def is_open(self) -> bool:
        return self.record.status in OPEN_STATUSES

    @property
    def acknowledged_at(self) -> datetime | None:
        return self.record.acknowledged_at if self.is_handoff else None

    def missed_deadline(self, now: datetime) -> bool:
        """A handoff not acknowledged by its response deadline (acknowledged late, or not
        at all once the deadline passed), unless it was closed before the deadline."""
        r = self.record
        if not self.is_handoff:
            return False
        if r.acknowledged_at is not None:
            return r.acknowledged_at > r.due_at
        if r.closed_at is not None and r.closed_at <= r.due_at:
            return False
        return r.due_at <= now

    def time_to_ack(self) -> timedelta | None:
        ack = self.acknowledged_at
        return None if ack is None else ack - self.record.created_at


@dataclass(frozen=True)
class Facts:
    now: datetime
    records: list[RecordFacts]
    workspace_events: list[AuditEvent]  # events that belong to no record
    escalations: list[DueWork]

    @classmethod
    def of(cls, evidence: Evidence, *, now: datetime) -> Facts:
        by_record: dict[int, list[AuditEvent]] = {}
        loose: list[AuditEvent] = []
        for ev in evidence.events:
            if ev.record_id is None:
                loose.append(ev)
            else:
                by_record.setdefault(ev.record_id, []).append(ev)
        pages: dict[int, list[DueWork]] = {}
        for work in evidence.escalations:
            pages.setdefault(work.record_id, []).append(work)
        records = [_record_facts(r, by_record.get(r.id, []), pages.get(r.id, []), now)
                   for r in evidence.records]
        return cls(now=now, records=records, workspace_events=loose,
                   escalations=evidence.escalations)

    @property
    def handoffs(self) -> list[RecordFacts]:
        return [f for f in self.records if f.is_handoff]

    @property
    def dependencies(self) -> list[RecordFacts]:
        return [f for f in self.records if not f.is_handoff]


def _record_facts(record: Record, events: list[AuditEvent], pages: list[DueWork],
                  now: datetime) -> RecordFacts:
    settled = settled_at(record, events)
    spans = stalled_spans(deadline_history(record, events), settled=settled, now=now)
    pages = sorted(pages, key=lambda w: (w.sent_at or now, w.tier or 0, w.id))
    return RecordFacts(record, events, pages, settled, spans)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def settled_at(record: Record, events: Iterable[AuditEvent]) -> datetime | None:
    """When the wait on the record's deadline ended: the record's own columns, backed by the
    audit trail (which is append-only, so it wins if a column was ever lost)."""
    kinds = _SETTLING.get(record.kind, ())
    times = [e.at for e in events if e.kind in kinds]
    times += [record.closed_at] + ([record.acknowledged_at] if record.kind == "handoff" else [])
    known = [t for t in times if t is not None]
    return min(known) if known else None


def deadline_history(record: Record, events: Iterable[AuditEvent]) -> list[tuple[datetime,
                                                                                  datetime]]:
    """(from when, the deadline in force) pairs, oldest first: the deadline given at
    creation, then each recorded move (a dependency's review moved with an interim action)."""
    history: list[tuple[datetime, datetime]] = []
    for ev in events:
        if ev.kind == "created" and isinstance(ev.after, dict):
            due = _parse_time(ev.after.get("due_at"))
            if due is not None:
                history.append((ev.at, due))
        elif ev.kind == "field_changed" and ev.field in _DEADLINE_FIELDS:
            due = _parse_time(ev.after)
            if due is not None:
                history.append((ev.at, due))
    return history or [(record.created_at, record.due_at)]


def stalled_spans(history: Sequence[tuple[datetime, datetime]], *, settled: datetime | None,
                  now: datetime) -> list[tuple[datetime, datetime]]:
    """The spans during which the record was open past the deadline then in force."""
    stop = min(t for t in (settled, now) if t is not None)
    spans = []
    for i, (since, due) in enumerate(history):
        until = history[i + 1][0] if i + 1 < len(history) else stop
        begin, finish = max(since, due), min(until, stop)
        if begin < finish:
            spans.append((begin, finish))
    return spans


def local_days(start: datetime, end: datetime, tz: ZoneInfo) -> list[date]:
    """The calendar days (in `tz`) that [start, end) touches."""
    first = start.astimezone(tz).date()
    last = (end - timedelta(microseconds=1)).astimezone(tz).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    begin = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return begin.astimezone(UTC), end.astimezone(UTC)


def stalled_per_day(facts: Facts, *, start: datetime, end: datetime,
                    tz: ZoneInfo) -> list[tuple[date, int]]:
    """For each day of the period up to now: how many records were stalled (open past their
    deadline) at some moment of that day."""
    if facts.now <= start:
        return []
    out = []
    for day in local_days(start, min(end, facts.now), tz):
        lo, hi = day_bounds(day, tz)
        count = sum(1 for f in facts.records if any(a < hi and b > lo for a, b in f.stalled))
        out.append((day, count))
    return out


# --- headline figures ---

def _percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}% ({part} of {whole})"


def _ack_on_time(facts: Facts) -> str:
    due = [f for f in facts.handoffs
           if f.acknowledged_at is not None or f.missed_deadline(facts.now)]
    if not due:
        return "n/a (none due yet)"
    on_time = [f for f in due if not f.missed_deadline(facts.now)]
    return _percent(len(on_time), len(due))


def _median_ack(facts: Facts) -> str:
    waits = [w for w in (f.time_to_ack() for f in facts.handoffs) if w is not None]
    if not waits:
        return "n/a (none acknowledged)"
    return f"{format_duration(statistics.median(waits))} ({len(waits)} acknowledged)"


def _overdue(facts: Facts) -> str:
    missed = [f for f in facts.handoffs if f.missed_deadline(facts.now)]
    still = sum(1 for f in missed if f.record.status == "overdue")
    return f"{len(missed)} ({still} still unacknowledged)"


def escalations_by_tier(facts: Facts) -> list[tuple[int, int]]:
    counts = Counter(w.tier or 1 for w in facts.escalations)
    if not counts:
        return []
    return [(tier, counts.get(tier, 0)) for tier in range(1, max(counts) + 1)]


def _tiers_text(facts: Facts) -> str:
    tiers = escalations_by_tier(facts)
    if not tiers:
        return "none"
    return " · ".join(f"Tier {tier}: {count}" for tier, count in tiers)


def headline_figures(facts: Facts, *, tz: ZoneInfo, start: datetime,
                     end: datetime) -> list[tuple[str, str]]:
    handoffs, deps = len(facts.handoffs), len(facts.dependencies)
    same_day = sum(1 for f in facts.dependencies
                   if f.is_open and f.record.risk == Risk.SAME_DAY)
    no_owner = sum(1 for f in facts.records if f.is_open and not f.record.next_action_owner)
    stalled = sum(n for _, n in stalled_per_day(facts, start=start, end=end, tz=tz))
    return [
        ("Records logged", f"{len(facts.records)} ({handoffs} handoff{'s' * (handoffs != 1)}, "
                           f"{deps} dependenc{'y' if deps == 1 else 'ies'})"),
        ("Handoffs acknowledged on time", _ack_on_time(facts)),
        ("Median time to acknowledgement", _median_ack(facts)),
        ("Overdue handoffs", _overdue(facts)),
        ("Escalations by tier", _tiers_text(facts)),
        ("Open same-day-risk dependencies", str(same_day)),
        ("Open records with no next-action owner", str(no_owner)),
        ("Stalled record-days", str(stalled)),
    ]


# --- CSV files ---

def _defuse(text: str) -> str:
    """Spreadsheets run a cell that starts with = + - @ as a formula; an apostrophe first
    makes it text (OWASP's advice for CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _cell(value: Any, *, is_json: bool = False) -> Any:
    if is_json:
        return "" if value is None else _defuse(json.dumps(value, ensure_ascii=False,
                                                           sort_keys=True))
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, str):
        return _defuse(value)
    return value


Table = tuple[list[str], list[list[Any]]]


def _model_table(rows: Sequence[Any], model: type[Any],
                 extra: Sequence[tuple[str, Callable[[Any], Any]]] = ()) -> Table:
    """Every mapped column of `model`, in table order, after any derived columns."""
    attrs = list(inspect(model).column_attrs)
    header = [name for name, _ in extra] + [a.key for a in attrs]
    body = []
    for row in rows:
        cells = [_cell(get(row)) for _, get in extra]
        cells += [_cell(getattr(row, a.key), is_json=isinstance(a.columns[0].type, JSON))
                  for a in attrs]
        body.append(cells)
    return header, body


def _records_table(evidence: Evidence) -> Table:
    return _model_table(evidence.records, Record, [
        ("reference", lambda r: r.reference),
        ("partner_name", lambda r: r.partner.display_name),
    ])


def _events_table(evidence: Evidence) -> Table:
    return _model_table(evidence.events, AuditEvent)


def _escalations_table(evidence: Evidence) -> Table:
    refs = {r.id: r.reference for r in evidence.records}
    return _model_table(evidence.escalations, DueWork, [
        ("record_ref", lambda w: refs.get(w.record_id, "")),
    ])


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> int:
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    os.replace(tmp, path)  # a reader never sees half a file
    return len(rows)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


# --- formatting ---

def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def local_text(when: datetime, tz: ZoneInfo) -> str:
    return when.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def when_html(when: datetime | None, tz: ZoneInfo, *, missing: str = "not recorded") -> str:
    if when is None:
        return f'<span class="none">{esc(missing)}</span>'
    iso = when.astimezone(UTC).isoformat()
    return f'<time datetime="{esc(iso)}">{esc(local_text(when, tz))}</time>'


def text_html(value: Any, *, missing: str = "not recorded") -> str:
    if value is None or value == "":
        return f'<span class="none">{esc(missing)}</span>'
    return esc(value)


def period_text(start: datetime, end: datetime, tz: ZoneInfo) -> str:
    """Whole local days read as a date range (end inclusive); anything else as times."""
    lo, hi = start.astimezone(tz), end.astimezone(tz)
    if lo.time() == time(0) and hi.time() == time(0):
        last = hi.date() - timedelta(days=1)
        if last == lo.date():
            return f"{lo:%Y-%m-%d} ({tz.key})"
        return f"{lo:%Y-%m-%d} to {last:%Y-%m-%d} ({tz.key})"
    return f"{local_text(start, tz)} to {local_text(end, tz)} (end excluded)"


def _json_html(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return esc(value)
    return esc(json.dumps(value, ensure_ascii=False, sort_keys=True))


# --- SVG charts (drawn here: no library, no script) ---

CHART_W, CHART_H = 540, 270
BAR = "#2f6fab"
INK = "#1f2933"
MUTED = "#6b7280"
GRID = "#d9dee5"


@dataclass(frozen=True)
class Chart:
    name: str  # data-chart, for tests and print styles
    title: str
    bars: list[tuple[str, int]]
    empty: str  # why there is nothing to draw
    horizontal: bool = False

    @property
    def has_data(self) -> bool:
        return any(value > 0 for _, value in self.bars)


def _svg_open(chart: Chart, height: int) -> str:
    return (f'<svg class="chart" data-chart="{esc(chart.name)}" '
            f'data-empty="{0 if chart.has_data else 1}" xmlns="http://www.w3.org/2000/svg" '
            f'width="{CHART_W}" height="{height}" viewBox="0 0 {CHART_W} {height}" '
            f'role="img" aria-label="{esc(chart.title)}">'
            f'<title>{esc(chart.title)}</title>'
            f'<rect x="0.5" y="0.5" width="{CHART_W - 1}" height="{height - 1}" fill="#ffffff" '
            f'stroke="{GRID}"/>')


def _text(x: float, y: float, label: str, *, anchor: str = "middle", size: int = 12,
          color: str = INK, extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
            f'fill="{color}"{extra}>{esc(label)}</text>')


def _no_data(chart: Chart, height: int) -> str:
    """An empty chart still draws its frame and says so, never a blank box."""
    mid = height / 2
    return (_svg_open(chart, height)
            + f'<rect x="40" y="30" width="{CHART_W - 80}" height="{height - 60}" '
              f'fill="#f4f6f8" stroke="{MUTED}" stroke-dasharray="6 4"/>'
            + _text(CHART_W / 2, mid - 4, "No data", size=20, color=INK,
                    extra=' font-weight="bold"')
            + _text(CHART_W / 2, mid + 20, chart.empty, size=12, color=MUTED)
            + "</svg>")


def _scale(peak: int) -> tuple[int, list[int]]:
    """The axis top and its whole-number gridlines (at most five) for values up to `peak`."""
    step = max(1, -(-peak // 4))
    top = step * -(-peak // step)
    return top, list(range(0, top + 1, step))


def _vbars(chart: Chart) -> str:
    left, right, top, bottom = 44, 14, 20, 48
    plot_w, plot_h = CHART_W - left - right, CHART_H - top - bottom
    peak, ticks = _scale(max(v for _, v in chart.bars))
    parts = [_svg_open(chart, CHART_H)]
    for tick in ticks:
        y = top + plot_h - plot_h * tick / peak
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{CHART_W - right}" y2="{y:.1f}" '
                     f'stroke="{GRID}"/>')
        parts.append(_text(left - 6, y + 4, str(tick), anchor="end", size=11, color=MUTED))
    slot = plot_w / len(chart.bars)
    every = max(1, -(-len(chart.bars) // 14))  # at most ~14 labels under the axis
    for i, (label, value) in enumerate(chart.bars):
        h = max(plot_h * value / peak, 2 if value else 0)
        x = left + i * slot + slot * 0.15
        w = max(slot * 0.7, 1)
        y = top + plot_h - h
        if value:
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
                         f'fill="{BAR}"><title>{esc(label)}: {value}</title></rect>')
            if len(chart.bars) <= 20:
                parts.append(_text(x + w / 2, y - 4, str(value), size=11))
        if i % every == 0:
            parts.append(_text(x + w / 2, top + plot_h + 16, label, size=11))
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{CHART_W - right}" '
                 f'y2="{top + plot_h}" stroke="{INK}"/>')
    return "".join(parts) + "</svg>"


def _hbars(chart: Chart) -> str:
    row, top, label_w, right = 26, 16, 190, 40
    height = max(CHART_H, top * 2 + row * len(chart.bars))
    peak = max(v for _, v in chart.bars)
    plot_w = CHART_W - label_w - right
    parts = [_svg_open(chart, height)]
    for i, (label, value) in enumerate(chart.bars):
        y = top + i * row
        w = max(plot_w * value / peak, 2 if value else 0)
        shown = label if len(label) <= 28 else label[:27] + "…"
        parts.append(_text(label_w - 8, y + row * 0.62, shown, anchor="end", size=12))
        parts.append(f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" '
                     f'fill="{BAR}"><title>{esc(label)}: {value}</title></rect>')
        parts.append(_text(label_w + w + 6, y + row * 0.62, str(value), anchor="start",
                           size=11))
    parts.append(f'<line x1="{label_w}" y1="{top}" x2="{label_w}" '
                 f'y2="{top + row * len(chart.bars)}" stroke="{INK}"/>')
    return "".join(parts) + "</svg>"


def chart_svg(chart: Chart) -> str:
    if not chart.has_data:
        return _no_data(chart, CHART_H)
    return _hbars(chart) if chart.horizontal else _vbars(chart)


def charts_for(facts: Facts, *, start: datetime, end: datetime, tz: ZoneInfo) -> list[Chart]:
    return [_ack_chart(facts), _partner_chart(facts), _tier_chart(facts),
            _stalled_chart(facts, start=start, end=end, tz=tz)]


def _ack_chart(facts: Facts) -> Chart:
    counts = Counter[str]()
    for wait in (f.time_to_ack() for f in facts.handoffs):
        if wait is not None:
            counts[next(label for label, upper in _ACK_BUCKETS if wait < upper)] += 1
    return Chart("ack-histogram", "Time to acknowledgement (handoffs, from logging)",
                 [(label, counts.get(label, 0)) for label, _ in _ACK_BUCKETS],
                 empty="No handoff was acknowledged in this report.")


def _partner_chart(facts: Facts) -> Chart:
    counts = Counter(f.record.partner.display_name for f in facts.handoffs
                     if f.missed_deadline(facts.now))
    bars = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].lower()))
    if len(bars) > 12:  # keep the chart readable: the rest in one bar
        bars = [*bars[:11], ("Other partners", sum(v for _, v in bars[11:]))]
    return Chart("overdue-by-partner", "Overdue handoffs by receiving service", bars,
                 empty="No handoff missed its response deadline.", horizontal=True)


def _tier_chart(facts: Facts) -> Chart:
    bars = [(f"Tier {tier}", count) for tier, count in escalations_by_tier(facts)]
    return Chart("escalations-by-tier", "Escalations by tier (pages sent)", bars,
                 empty="No escalation page was sent.")


def _stalled_chart(facts: Facts, *, start: datetime, end: datetime, tz: ZoneInfo) -> Chart:
    days = stalled_per_day(facts, start=start, end=end, tz=tz)
    bars = [(f"{day:%b} {day.day}", count) for day, count in days]
    return Chart("stalled-days", "Stalled records per day (open past their deadline)", bars,
                 empty="No record was open past its deadline in this period.")


# --- per-record evidence ---

def _risk_text(record: Record) -> str | None:
    return Risk(record.risk).label if record.risk in tuple(Risk) else record.risk


def _category_text(record: Record) -> str | None:
    cat = record.response_category
    if cat is None:
        return None
    label = ResponseCategory(cat).label if cat in tuple(ResponseCategory) else cat
    return f"{label}: {record.response_text}" if record.response_text else label


def _ack_html(f: RecordFacts, tz: ZoneInfo, now: datetime) -> str:
    r = f.record
    if r.acknowledged_at is None:
        missed = "; the response deadline has passed" if f.missed_deadline(now) else ""
        return f'<span class="none">not acknowledged{missed}</span>'
    late = r.acknowledged_at - r.due_at
    verdict = ("on time" if late <= timedelta(0)
               else f"late, {format_duration(late)} after the deadline")
    return f"{when_html(r.acknowledged_at, tz)} ({verdict})"


def tier_name(record: Record, tier: int | None) -> str:
    """The tier's name in the ladder the record started with, when it is known."""
    tiers = record.ladder.get("tiers") if isinstance(record.ladder, dict) else None
    if not tier or not isinstance(tiers, list) or not 0 < tier <= len(tiers):
        return ""
    entry = tiers[tier - 1]
    return str(entry.get("name", "")) if isinstance(entry, dict) else ""


def _tier_html(record: Record, tier: int | None) -> str:
    name = tier_name(record, tier)
    return f"{esc(tier)} ({esc(name)})" if name else esc(tier)


def delay_text(f: RecordFacts, now: datetime) -> str:
    total = sum((b - a for a, b in f.stalled), timedelta(0))
    if not f.stalled:
        return "none"
    waiting = f.settled_at is None and f.is_open
    return format_duration(total) + (" so far (still open past its deadline)" if waiting
                                      else " open past its deadline")


def escalation_verdict(f: RecordFacts, now: datetime) -> str:
    """Did escalation happen before the deadline was materially compromised? Baton's
    measure: the first page went out when the ladder said (within a couple of minutes of
    falling due), rather than late or not at all."""
    r = f.record
    if f.pages:
        first = f.pages[0]
        assert first.sent_at is not None
        lag = first.sent_at - first.due_at
        if lag <= LATE_AFTER:
            return (f"Yes: tier {first.tier} paged on schedule "
                    f"({format_duration(lag)} after it fell due)")
        return f"Late: tier {first.tier} paged {format_duration(lag)} after it fell due"
    if f.settled_at is not None and f.settled_at <= r.due_at:
        return "Not needed: settled before the deadline"
    if now < r.due_at:
        return "Not yet: the deadline has not passed"
    if f.settled_at is not None:
        return (f"No page sent: settled {format_duration(f.settled_at - r.due_at)} after "
                "the deadline, before any tier fell due")
    return "No: the deadline passed and no page has been sent"


def _pages_html(f: RecordFacts, tz: ZoneInfo) -> str:
    if not f.pages:
        return '<span class="none">none sent</span>'
    items = []
    for w in f.pages:
        ack = (f"; acknowledged by {esc(w.acked_by)} at {when_html(w.acked_at, tz)}"
               if w.acked_by else "; not acknowledged")
        items.append(f"<li>Tier {_tier_html(f.record, w.tier)} paged "
                     f"{when_html(w.sent_at, tz)} in "
                     f"{esc(w.channel_id)} ({esc(w.reason or 'overdue')}){ack}</li>")
    return f"<ul>{''.join(items)}</ul>"


Field = tuple[str, str]  # (label, HTML)


def _common_head(f: RecordFacts, tz: ZoneInfo) -> list[Field]:
    r = f.record
    partner = "Receiving service" if f.is_handoff else "Partner agency"
    route = "Referral route" if f.is_handoff else "Partner route used"
    return [
        ("Person reference", text_html(r.person_ref)),
        (partner, text_html(r.partner.display_name)),
        (route, text_html(r.route)),
        ("Channel", text_html(r.channel_id)),
        ("Logged", f"{when_html(r.created_at, tz)} by {text_html(r.created_by)}"),
        ("Current status", text_html(r.status)),
        ("Continuity risk", text_html(_risk_text(r), missing="not rated")),
    ]


def _handoff_fields(f: RecordFacts, tz: ZoneInfo, now: datetime) -> list[Field]:
    r = f.record
    return [
        ("Receiving contact", text_html(r.receiving_contact)),
        ("Response deadline", when_html(r.due_at, tz)),
        ("Acknowledged at", _ack_html(f, tz, now)),
        ("Acknowledgement recorded by", text_html(r.acknowledged_by)),
        ("Response category", text_html(_category_text(r), missing="no response recorded")),
        ("Note", text_html(r.note, missing="none")),
    ]


def _dependency_fields(f: RecordFacts, tz: ZoneInfo) -> list[Field]:
    r = f.record
    return [
        ("Missing external action", text_html(r.missing_action)),
        ("Interim safeguard", text_html(r.interim_safeguard, missing="none recorded")),
        ("Safeguard intended end", when_html(r.safeguard_until, tz, missing="not set")),
        ("Next review time", when_html(r.due_at, tz)),
    ]


def _common_tail(f: RecordFacts, tz: ZoneInfo, now: datetime) -> list[Field]:
    r = f.record
    interim = text_html(r.interim_action, missing="none recorded")
    if r.interim_action:
        interim += f" (recorded {when_html(r.interim_at, tz)})"
    next_action = text_html(r.next_action, missing="none recorded")
    if r.next_action_due is not None:
        next_action += f", due {when_html(r.next_action_due, tz)}"
    return [
        ("Internal owner", text_html(r.owner_id)),
        ("Management owner", text_html(r.manager_id)),
        ("Interim action", interim),
        ("Next action", next_action),
        ("Next-action owner", text_html(r.next_action_owner, missing="none")),
        ("Delay past deadline", esc(delay_text(f, now))),
        ("Escalation tier reached", _tier_html(r, r.escalation_tier) if r.escalation_tier
         else text_html(None, missing="none")),
        ("Pages sent", _pages_html(f, tz)),
        ("Escalated before the deadline was compromised", esc(escalation_verdict(f, now))),
        ("Outcome", text_html(r.outcome, missing="none recorded")),
        ("Cancel reason", text_html(r.cancel_reason, missing="n/a")),
        ("Closed at", when_html(r.closed_at, tz, missing="still open" if f.is_open
                                else "not recorded")),
    ]


def record_fields(f: RecordFacts, tz: ZoneInfo, now: datetime) -> list[Field]:
    middle = _handoff_fields(f, tz, now) if f.is_handoff else _dependency_fields(f, tz)
    return _common_head(f, tz) + middle + _common_tail(f, tz, now)


def _trail_html(events: Sequence[AuditEvent], tz: ZoneInfo) -> str:
    if not events:
        return '<p class="none">No audit events.</p>'
    head = "".join(f"<th>{h}</th>" for h in
                   ("When", "Actor", "Event", "Field", "Before", "After", "Note"))
    rows = []
    for e in events:
        rows.append(f"<tr><td>{when_html(e.at, tz)}</td><td>{esc(e.actor)}</td>"
                    f"<td>{esc(e.kind)}</td><td>{text_html(e.field, missing='')}</td>"
                    f"<td>{_json_html(e.before)}</td><td>{_json_html(e.after)}</td>"
                    f"<td>{text_html(e.note, missing='')}</td></tr>")
    return (f'<table class="trail"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def _record_section(f: RecordFacts, tz: ZoneInfo, now: datetime) -> str:
    r = f.record
    kind = "Handoff" if f.is_handoff else "Dependency"
    rows = "".join(f"<tr><th>{esc(label)}</th><td>{value}</td></tr>"
                   for label, value in record_fields(f, tz, now))
    return (f'<section class="record" id="{esc(r.reference)}">'
            f"<h3>{esc(r.reference)} · {kind} · {esc(r.person_ref)} · "
            f"{esc(r.partner.display_name)}</h3>"
            f'<table class="fields">{rows}</table>'
            f"<h4>Audit trail ({len(f.events)} events)</h4>{_trail_html(f.events, tz)}"
            "</section>")


# --- the page ---

CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  color: #1f2933; background: #ffffff; margin: 24px auto; max-width: 1140px; padding: 0 16px;
  line-height: 1.4; font-size: 14px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 19px; margin: 28px 0 10px;
  border-bottom: 2px solid #d9dee5; padding-bottom: 4px; }
h3 { font-size: 16px; margin: 0 0 8px; } h4 { font-size: 14px; margin: 14px 0 6px; }
.meta { color: #4b5563; margin: 2px 0; }
.figures { display: grid; grid-template-columns: repeat(4, 1fr); gap: 10px; }
.figure { border: 1px solid #d9dee5; border-radius: 6px; padding: 10px 12px; }
.figure .label { color: #4b5563; font-size: 12px; } .figure .value { font-size: 18px;
  font-weight: 600; margin-top: 4px; }
.charts { display: grid; grid-template-columns: repeat(2, 1fr); gap: 16px; }
figure { margin: 0; } figcaption { font-weight: 600; margin-bottom: 6px; }
svg.chart { display: block; font-family: inherit; max-width: 100%; height: auto; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 4px 8px;
  border-bottom: 1px solid #e5e7eb; }
table.fields th { width: 280px; color: #4b5563; font-weight: 600; }
table.trail { font-size: 12px; } table.trail th { background: #f4f6f8; }
table.trail td:nth-child(-n+4) { white-space: nowrap; }
td { overflow-wrap: break-word; } td ul { margin: 0; padding-left: 18px; }
.record { border: 1px solid #d9dee5; border-radius: 6px; padding: 12px 14px; margin: 14px 0;
  break-inside: avoid-page; }
.none { color: #6b7280; font-style: italic; }
.scope { color: #4b5563; font-size: 13px; }
@media print { body { margin: 0; max-width: none; } .record { break-inside: auto; } }
"""

# The page may not load anything: no script, no fonts, no images from anywhere.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

SCOPE_NOTE = (
    "This report covers the handoffs and dependencies logged in the period, each followed to "
    "the time the report was generated: its full audit trail and every escalation page sent "
    "for it, including those after the period ended. Workspace-level events (such as a "
    "channel's ladder change) are included when they happened in the period. A handoff "
    "counts as overdue when its partner did not acknowledge it by the response deadline. "
    "A record is stalled on a day when at some moment that day it was open past its "
    "deadline (a handoff not yet acknowledged, a dependency past its next review time) and "
    "not yet closed or cancelled. Escalation counts only pages that reached Slack; "
    "reminders are not escalations."
)


def _header_html(*, team_id: str, channel_id: str | None, start: datetime, end: datetime,
                 now: datetime, tz: ZoneInfo, chain_head: str | None) -> str:
    where = f"channel {channel_id}" if channel_id else "all channels"
    return (f"<header><h1>Baton evidence report</h1>"
            f'<p class="meta">Workspace {esc(team_id)} · {esc(where)} · '
            f"{esc(period_text(start, end, tz))}</p>"
            f'<p class="meta">Generated at {when_html(now, tz)}. Times are shown in '
            f"{esc(tz.key)}; the CSV files hold them in UTC.</p>"
            f'<p class="meta">Audit chain head: <code>{esc(chain_head or "not recorded")}'
            f"</code></p></header>")


def _figures_html(headline: Sequence[tuple[str, str]]) -> str:
    cells = "".join(f'<div class="figure"><div class="label">{esc(label)}</div>'
                    f'<div class="value">{esc(value)}</div></div>' for label, value in headline)
    return f'<h2>Headline figures</h2><div class="figures">{cells}</div>'


def _charts_html(charts: Sequence[Chart]) -> str:
    figs = "".join(f"<figure><figcaption>{esc(c.title)}</figcaption>{chart_svg(c)}</figure>"
                   for c in charts)
    return f'<h2>Charts</h2><div class="charts">{figs}</div>'


def _records_html(facts: Facts, tz: ZoneInfo) -> str:
    if not facts.records:
        return '<h2>Records</h2><p class="none">No record was logged in this period.</p>'
    sections = "".join(_record_section(f, tz, facts.now) for f in facts.records)
    return f"<h2>Records ({len(facts.records)})</h2>{sections}"


def _workspace_html(facts: Facts, tz: ZoneInfo) -> str:
    if not facts.workspace_events:
        return ""
    return "<h2>Workspace events</h2>" + _trail_html(facts.workspace_events, tz)


def render_html(facts: Facts, *, headline: Sequence[tuple[str, str]], team_id: str,
                channel_id: str | None, start: datetime, end: datetime, now: datetime,
                tz: ZoneInfo, chain_head: str | None = None) -> str:
    title = f"Baton evidence report, {team_id}, {period_text(start, end, tz)}"
    body = "".join([
        _header_html(team_id=team_id, channel_id=channel_id, start=start, end=end, now=now,
                     tz=tz, chain_head=chain_head),
        _figures_html(headline),
        _charts_html(charts_for(facts, start=start, end=end, tz=tz)),
        f'<p class="scope">{esc(SCOPE_NOTE)}</p>',
        _records_html(facts, tz),
        _workspace_html(facts, tz),
        f'<footer class="scope"><p>Files: {RECORDS_CSV}, {EVENTS_CSV}, {ESCALATIONS_CSV} '
        "(one row per database row).</p></footer>",
    ])
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head>"
            f"<body>{body}</body></html>\n")
