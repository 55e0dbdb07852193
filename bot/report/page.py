"""report.html: headline figures, the charts, and for each record its fields and its full
audit trail, in one self-contained page. No script, no network, no external fonts: a Content
Security Policy in the page forbids them, so it opens the same offline, years later. Every
free-text value is HTML-escaped; people appear only as person reference codes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain.audit_words import Style, event_what
from bot.domain.records import ResponseCategory, Risk
from bot.domain.times import format_duration
from bot.domain.words import plural
from bot.report.charts import Chart, chart_svg, charts_for
from bot.report.facts import Facts, RecordFacts, delay_text, escalation_verdict, tier_name
from bot.report.formatting import esc, local_text, period_text, text_html, when_html
from bot.report.tables import ESCALATIONS_CSV, EVENTS_CSV, RECORDS_CSV
from bot.report.tracker_page import trackers_html
from bot.report.tracker_tables import CONTACTS_CSV, STEPS_CSV, TRACKERS_CSV
from bot.report.trackers import TrackerFacts
from store.models import AuditEvent, Record

REPORT_HTML = "report.html"


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



def _tier_html(record: Record, tier: int | None) -> str:
    name = tier_name(record, tier)
    return f"{esc(tier)} ({esc(name)})" if name else esc(tier)



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
    # What happened in words (bot/domain/audit_words.py), as /baton show says it; the values
    # as stored are in the events CSV.
    style = Style(text=esc, person=esc, place=esc, when=lambda at: esc(local_text(at, tz)),
                  mentions=False)
    head = "".join(f"<th>{h}</th>" for h in ("When", "Actor", "What happened", "Note"))
    rows = []
    for e in events:
        rows.append(f"<tr><td>{when_html(e.at, tz)}</td><td>{esc(e.actor)}</td>"
                    f"<td>{event_what(e, style)}</td>"
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
            f"<h4>Audit trail ({plural(len(f.events), 'event')})</h4>{_trail_html(f.events, tz)}"
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
    "not yet closed or cancelled. Escalation counts only pages that reached Slack, for "
    "records and tracker steps alike; reminders are not escalations. Pathway trackers "
    "started in the period are reported the same way, each with every step it holds; a "
    "step is on time when it was done by its due time, late when done after it, and not "
    "done when its due time passed without it."
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
                tz: ZoneInfo, chain_head: str | None = None,
                trackers: Sequence[TrackerFacts] = (),
                agencies: Mapping[str, str] | None = None) -> str:
    title = f"Baton evidence report, {team_id}, {period_text(start, end, tz)}"
    body = "".join([
        _header_html(team_id=team_id, channel_id=channel_id, start=start, end=end, now=now,
                     tz=tz, chain_head=chain_head),
        _figures_html(headline),
        _charts_html(charts_for(facts, start=start, end=end, tz=tz)),
        f'<p class="scope">{esc(SCOPE_NOTE)}</p>',
        _records_html(facts, tz),
        trackers_html(trackers, now=now, tz=tz, agencies=agencies),
        _workspace_html(facts, tz),
        f'<footer class="scope"><p>Files: {RECORDS_CSV}, {EVENTS_CSV}, {ESCALATIONS_CSV}'
        + (f", {TRACKERS_CSV}, {STEPS_CSV}, {CONTACTS_CSV}" if trackers else "")
        + " (one row per database row).</p></footer>",
    ])
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head>"
            f"<body>{body}</body></html>\n")
