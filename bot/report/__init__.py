"""The commissioner's evidence report: three CSV files and one self-contained HTML page.

`write_report` reads one workspace's records, audit events and escalations for a period
(store/evidence.py says which rows a period covers, and why) and writes, into `out_dir`,
records.csv, audit_events.csv, escalations.csv and report.html, and when the period
started any pathway tracker, trackers.csv, steps.csv and contact_attempts.csv too (before the
HTML). The package, by concern:

- bot/report/facts.py: what the figures are computed from (RecordFacts, Facts: settled_at,
  deadline_history, stalled spans and days, headline_figures, the escalation verdict).
- bot/report/tables.py: the three CSV files, one row per database row, formula-safe.
- bot/report/charts.py: the four charts, drawn as inline SVG.
- bot/report/page.py: report.html (headline figures, charts, each record and its trail).
- bot/report/trackers.py: pathway trackers' facts and figures (steps on time or late, the
  sprint's steps that most often fail, the provisional conversion rate);
  tracker_tables.py their CSVs, tracker_page.py their part of the page, field_map.py which
  CSV column answers each of the seeds' fields.
- bot/report/formatting.py: escaping, local times, the period's name.
- here: write_report, and the ReportSummary it hands back.

No Slack here: the CLI and the `/baton report` command both call `write_report`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from bot.report.charts import Chart, chart_svg, charts_for
from bot.report.facts import (
    EvidenceError,
    Facts,
    RecordFacts,
    deadline_history,
    delay_text,
    escalation_verdict,
    escalations_by_tier,
    headline_figures,
    settled_at,
    stalled_per_day,
    stalled_spans,
    tier_name,
)
from bot.report.field_map import FIELD_LISTS, field_map_lines
from bot.report.formatting import esc, period_text, text_html, when_html
from bot.report.page import CSP, REPORT_HTML, SCOPE_NOTE, record_fields, render_html
from bot.report.tables import (
    ESCALATIONS_CSV,
    EVENTS_CSV,
    RECORDS_CSV,
    escalations_table,
    events_table,
    records_table,
    write_csv,
    write_text,
)
from bot.report.tracker_tables import (
    CONTACTS_CSV,
    STEPS_CSV,
    TRACKERS_CSV,
    contacts_table,
    steps_table,
    trackers_table,
)
from bot.report.trackers import tracker_facts, tracker_figures
from store import audit
from store.evidence import gather

__all__ = [
    "CONTACTS_CSV", "CSP", "ESCALATIONS_CSV", "EVENTS_CSV", "FIELD_LISTS", "RECORDS_CSV",
    "REPORT_HTML", "SCOPE_NOTE", "STEPS_CSV", "TRACKERS_CSV", "Chart", "EvidenceError",
    "Facts", "RecordFacts", "ReportSummary", "chart_svg", "charts_for", "deadline_history",
    "delay_text", "esc", "escalation_verdict", "escalations_by_tier", "field_map_lines",
    "headline_figures", "period_text", "record_fields", "render_html", "settled_at",
    "stalled_per_day", "stalled_spans", "text_html", "tier_name", "when_html", "write_report",
]


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
    trackers: tuple[tuple[str, str], ...] = ()  # the trackers' figures; none without any

    @property
    def html_path(self) -> Path:
        return self.paths[-1]

    def headline_text(self, *, title: bool = True) -> str:
        """A few plain lines for the terminal or (without the title line, which the Slack
        message says in its own words) a Slack message."""
        where = f"channel {self.channel_id}" if self.channel_id else "all channels"
        lines = [f"Evidence report for {self.team_id}, {where}, "
                 f"{period_text(self.start, self.end, self.tz)}"] if title else []
        lines += [f"{label}: {value}" for label, value in (*self.headline, *self.trackers)]
        rows = ", ".join(f"{name} {count}" for name, count in self.row_counts.items())
        lines.append(f"Rows: {rows}")
        if self.chain_head:
            lines.append(f"Audit chain head: {self.chain_head}")
        return "\n".join(lines)


def write_report(
    sessions: sessionmaker[Session], *, team_id: str, start: datetime, end: datetime,
    channel_id: str | None, out_dir: Path, now: datetime, tz: ZoneInfo,
    chain_head: str | None = None, agencies: Mapping[str, str] | None = None,
) -> ReportSummary:
    """Write the CSVs and report.html for records logged (and trackers started) in
    [start, end) into `out_dir`. `agencies`: owner agency labels the config adds."""
    with sessions() as s:
        evidence = gather(s, team_id=team_id, start=start, end=end, channel_id=channel_id)
        if chain_head is None:  # read just after the events: it covers at least those
            head, seq = audit.chain_head(s, team_id=team_id)
            chain_head = f"{head} (event {seq})"
    facts = Facts.of(evidence, now=now)
    headline = tuple(headline_figures(facts, tz=tz, start=start, end=end))
    trackers = tracker_facts(evidence, now=now)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Every file is written into a folder of its own beside them first and moved in only
    # when all four are whole: a report that fails half-way (disk full) leaves none of its
    # files, and an earlier report in out_dir stays as it was.
    staging = Path(tempfile.mkdtemp(prefix=".report-", dir=out_dir))
    try:
        counts = {
            RECORDS_CSV: write_csv(staging / RECORDS_CSV, *records_table(evidence)),
            EVENTS_CSV: write_csv(staging / EVENTS_CSV, *events_table(evidence)),
            ESCALATIONS_CSV: write_csv(staging / ESCALATIONS_CSV, *escalations_table(evidence)),
        }
        if trackers:  # a period that started no tracker has the report it always had
            counts |= {
                TRACKERS_CSV: write_csv(staging / TRACKERS_CSV, *trackers_table(trackers)),
                STEPS_CSV: write_csv(staging / STEPS_CSV, *steps_table(trackers, agencies)),
                CONTACTS_CSV: write_csv(staging / CONTACTS_CSV, *contacts_table(trackers)),
            }
        page = render_html(facts, headline=headline, team_id=team_id, channel_id=channel_id,
                           start=start, end=end, now=now, tz=tz, chain_head=chain_head,
                           trackers=trackers, agencies=agencies)
        write_text(staging / REPORT_HTML, page)
        for name in (*counts, REPORT_HTML):
            os.replace(staging / name, out_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    paths = (*(out_dir / name for name in counts), out_dir / REPORT_HTML)
    return ReportSummary(team_id=team_id, channel_id=channel_id, start=start, end=end,
                         generated_at=now, tz=tz, paths=paths, row_counts=counts,
                         headline=headline, chain_head=chain_head or "",
                         trackers=tuple(tracker_figures(trackers, now=now)))

