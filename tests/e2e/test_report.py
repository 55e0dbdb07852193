"""The commissioner's evidence report, end to end: records made through signed requests, time
moved on the injected clock, pages sent by the real engine, then the report written and
checked against the database, for the figures of a known scenario, for escaping, and in
headless Chromium (skipped when no Chromium is installed, unless BATON_REQUIRE_CHROMIUM=1)."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import and_, func, or_, select, update

from bot import report
from bot.report import ReportSummary, write_report
from store import audit
from store.models import AuditEvent, DueWork, Record
from tests.conftest import BOB, CHANNEL, START, TEAM
from tests.fakes.ladder import at, serve_with_ladder, two_tier_ladder

OTHER_CHANNEL = "C0OTHER01"
MANAGER = "U0MGR0001"
NY = ZoneInfo("America/New_York")

LADDER = two_tier_ladder(manager=MANAGER)

# The report's period: the week of Monday 2026-11-23 in New York; generated on Wednesday noon.
WEEK_START = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
WEEK_END = datetime(2026, 11, 30, 5, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 25, 17, 0, tzinfo=UTC)
MON = datetime(2026, 11, 23, tzinfo=UTC)  # times below are MON + hours, in UTC

SCRIPT = "<script>alert(1)</script>"
SAFEGUARD = "temporary hold <b>on start</b> & family informed"


@pytest.fixture
def baton(serve_factory, database_url, tmp_path, slack):
    return serve_with_ladder(serve_factory, database_url, tmp_path, slack, LADDER, ["U0DIR0001"])


def handoff(person: str, partner: str, due: str, extra: str = "") -> str:
    return (f"person: {person} to: {partner} contact: intake desk 555-0100 due: {due} "
            f"risk: short-term {extra}").strip()


def run_scenario(baton) -> None:
    """H-1 is logged before the week (it must stay out); then, in the week and in CHANNEL:
    H-2 goes overdue and is paged at tier 1 (its tier 2 is not due yet at NOW); H-3 is
    acknowledged on time after 1h; H-4 goes overdue, is paged at tiers 1 and 2 and is
    acknowledged late, 13h after it was logged; D-1 is an open same-day-risk dependency;
    D-2 is resolved. D-3 is in another channel."""
    baton.clock.set(START - timedelta(days=1))  # Sunday
    baton.command("/handoff", handoff("P-9", "Westside Care", "in 2h"))  # H-1
    baton.clock.set(START)  # Monday 14:00 UTC, 09:00 in New York
    baton.command("/baton", "ladder use default", user=MANAGER)  # a workspace-level event
    baton.command("/handoff", handoff("P-1042", "Northside Home Care", "tomorrow 5pm",
                                      f"note: {SCRIPT} call back"))  # H-2
    baton.command("/handoff", handoff("P-2077", "Riverside Behavioral Health",
                                      "tomorrow 5pm"))  # H-3
    baton.command("/handoff", handoff("P-3003", "Northside Home Care", "today 5pm"))  # H-4
    baton.command("/dependency", "person: P-1042 action: unsigned authorization partner: "
                  f"County Managed Care risk: same-day safeguard: {SAFEGUARD} "
                  "review: friday 9am")  # D-1
    baton.command("/dependency", "person: P-4 action: discharge summary partner: St Mary's "
                  "risk: emerging review: friday 9am")  # D-2
    baton.command("/dependency", "person: P-5 action: clinical advice partner: County "
                  "Managed Care risk: emerging review: friday 9am",
                  channel=OTHER_CHANNEL)  # D-3
    baton.clock.set(MON + timedelta(hours=15))
    baton.command("/baton", "ack H-3")
    baton.command("/baton", "respond H-3 clarify need the medication list")
    baton.clock.set(MON + timedelta(hours=16))
    baton.command("/baton", "resolve D-2 summary received")
    at(baton, MON + timedelta(hours=20))  # H-4's reminder; H-1's overdue pages (outside)
    at(baton, MON + timedelta(hours=22))  # H-4 overdue: tier 1
    at(baton, MON + timedelta(hours=26))  # H-4 tier 2
    baton.clock.set(MON + timedelta(hours=27))
    baton.command("/baton", "ack H-4")  # late
    at(baton, MON + timedelta(hours=46))  # H-2 overdue: tier 1 (its reminder dropped)
    baton.clock.set(NOW)
    with baton.sessions.begin() as s:  # the huddle named a next-action owner for H-3
        s.execute(update(Record).where(Record.kind == "handoff", Record.number == 3)
                  .values(next_action_owner=BOB))


def make_report(baton, out: Path, *, channel_id: str | None = CHANNEL,
                start: datetime = WEEK_START, end: datetime = WEEK_END,
                **kwargs: Any) -> ReportSummary:
    return write_report(baton.sessions, team_id=TEAM, start=start, end=end,
                        channel_id=channel_id, out_dir=out, now=NOW, tz=NY, **kwargs)


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def db_counts(baton, *, channel_id: str | None) -> dict[str, int]:
    """The rows a report for the week must hold, counted straight from the database."""
    ids = select(Record.id).where(Record.team_id == TEAM, Record.created_at >= WEEK_START,
                                  Record.created_at < WEEK_END)
    if channel_id is not None:
        ids = ids.where(Record.channel_id == channel_id)
    loose = and_(AuditEvent.record_id.is_(None), AuditEvent.at >= WEEK_START,
                 AuditEvent.at < WEEK_END)
    if channel_id is not None:
        loose = and_(loose, AuditEvent.field == channel_id)
    count = select(func.count())
    with baton.sessions() as s:
        return {
            "records.csv": s.scalar(count.select_from(Record).where(Record.id.in_(ids))),
            "audit_events.csv": s.scalar(count.select_from(AuditEvent).where(
                or_(AuditEvent.record_id.in_(ids), loose))),
            "escalations.csv": s.scalar(count.select_from(DueWork).where(
                DueWork.record_id.in_(ids), DueWork.kind == "page",
                DueWork.sent_at.is_not(None), DueWork.message_ts.is_not(None))),
        }


# --- the report against the database ---

EXPECTED_HEADLINE = [
    ("Records logged", "5 (3 handoffs, 2 dependencies)"),
    ("Handoffs acknowledged on time", "33% (1 of 3)"),
    ("Median time to acknowledgement", "7h (2 acknowledged)"),
    ("Overdue handoffs", "2 (1 still unacknowledged)"),
    ("Escalations by tier", "Tier 1: 2 · Tier 2: 1"),
    ("Open same-day-risk dependencies", "1"),
    ("Open records with no next-action owner", "3"),
    ("Stalled record-days", "3"),
]


def test_report_rows_and_headline_figures_for_a_known_week(baton, tmp_path):
    run_scenario(baton)
    summary = make_report(baton, tmp_path / "out", chain_head="abc123")

    assert list(summary.headline) == EXPECTED_HEADLINE
    assert [p.name for p in summary.paths] == ["records.csv", "audit_events.csv",
                                               "escalations.csv", "report.html"]
    assert all(p.is_file() for p in summary.paths)
    # Every CSV holds exactly the database rows the period covers, one row each.
    expected = db_counts(baton, channel_id=CHANNEL)
    assert expected["records.csv"] == 5 and expected["escalations.csv"] == 3
    assert dict(summary.row_counts) == expected
    for name, count in expected.items():
        header, rows = read_csv(tmp_path / "out" / name)
        assert len(rows) == count, name
    # ... and not simply every row: H-1's pages (logged before the week) stay out.
    with baton.sessions() as s:
        all_pages = s.scalar(select(func.count()).select_from(DueWork)
                             .where(DueWork.kind == "page", DueWork.sent_at.is_not(None)))
    assert all_pages > expected["escalations.csv"]

    _, records = read_csv(tmp_path / "out" / "records.csv")
    assert [r["reference"] for r in records] == ["H-2", "H-3", "H-4", "D-1", "D-2"]
    h2 = records[0]
    assert h2["partner_name"] == "Northside Home Care" and h2["person_ref"] == "P-1042"
    assert SCRIPT in h2["note"]  # the CSV holds the data as typed
    assert h2["due_at"] == "2026-11-24T22:00:00+00:00"  # ISO 8601 UTC
    assert json.loads(h2["ladder"])["name"] == "default"
    header, escalations = read_csv(tmp_path / "out" / "escalations.csv")
    assert header[0] == "record_ref"
    assert [(e["record_ref"], e["tier"]) for e in escalations] == [
        ("H-4", "1"), ("H-4", "2"), ("H-2", "1")]
    assert {e["kind"] for e in escalations} == {"page"}
    _, events = read_csv(tmp_path / "out" / "audit_events.csv")
    assert [e["kind"] for e in events if not e["record_id"]] == ["ladder_changed"]
    assert all(e["at"].endswith("+00:00") for e in events)

    text = summary.headline_text()
    assert text.splitlines()[0] == (f"Evidence report for {TEAM}, channel {CHANNEL}, "
                                    "2026-11-23 to 2026-11-29 (America/New_York)")
    assert "Escalations by tier: Tier 1: 2 · Tier 2: 1" in text
    assert "records.csv 5" in text and "escalations.csv 3" in text


def test_workspace_report_takes_every_channel(baton, tmp_path):
    run_scenario(baton)
    summary = make_report(baton, tmp_path / "all", channel_id=None)
    assert dict(summary.row_counts) == db_counts(baton, channel_id=None)
    assert summary.row_counts["records.csv"] == 6
    figures = dict(summary.headline)
    assert figures["Records logged"] == "6 (3 handoffs, 3 dependencies)"
    assert figures["Open records with no next-action owner"] == "4"
    assert "all channels" in summary.headline_text()


def test_a_page_sent_late_is_reported_as_late(baton, tmp_path):
    run_scenario(baton)
    # From Sunday: H-1's deadline passed at 16:00 UTC, but Baton first swept on Monday.
    summary = make_report(baton, tmp_path / "sun", start=WEEK_START - timedelta(days=1))
    page = summary.html_path.read_text(encoding="utf-8")
    h1 = re.search(r'<section class="record" id="H-1">(.*?)</section>', page, flags=re.S)
    assert h1 and "Late: tier 1 paged 1d 4h after it fell due" in h1.group(1)
    assert dict(summary.headline)["Escalations by tier"] == "Tier 1: 3 · Tier 2: 2"


def test_report_html_holds_every_record_escaped_with_its_evidence(baton, tmp_path):
    run_scenario(baton)
    summary = make_report(baton, tmp_path / "out")
    page = summary.html_path.read_text(encoding="utf-8")

    # No free text gets out unescaped, and the page has no script at all.
    assert "<script" not in page.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>on start</b>" not in page and "&lt;b&gt;on start&lt;/b&gt; &amp; family" in page
    assert "St Mary&#x27;s" in page
    # Self-contained: nothing to fetch, a policy that forbids fetching.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", page)
    assert "@import" not in page and "url(" not in page
    assert "default-src 'none'" in page

    with baton.sessions() as s:
        head, seq = audit.chain_head(s, team_id=TEAM)
    assert seq > 0 and f"Audit chain head: <code>{head} (event {seq})</code>" in page
    assert f"Workspace {TEAM} · channel {CHANNEL}" in page
    assert "2026-11-25 12:00 EST" in page  # generated at, in the report's zone
    for ref in ("H-2", "H-3", "H-4", "D-1", "D-2"):
        assert f'<section class="record" id="{ref}">' in page
    assert 'id="H-1"' not in page and 'id="D-3"' not in page
    assert page.count('<svg class="chart"') == 4
    assert 'data-empty="1"' not in page

    sections = dict(re.findall(r'<section class="record" id="([HD]-\d)">(.*?)</section>',
                               page, flags=re.S))
    h4 = sections["H-4"]
    for label in ("Person reference", "Receiving service", "Referral route",
                  "Response deadline", "Acknowledged at", "Continuity risk",
                  "Interim action", "Management owner", "Escalation tier reached",
                  "Pages sent", "Escalated before the deadline was compromised",
                  "Delay past deadline", "Response category", "Outcome"):
        assert f"<th>{label}</th>" in h4, label
    assert "P-3003" in h4 and "late, 5h after the deadline" in h4
    assert "Yes: tier 1 paged on schedule (0s after it fell due)" in h4
    assert "Tier 1 (Service Manager) paged" in h4 and "Tier 2 (Operations Director) paged" in h4
    assert "<th>Escalation tier reached</th><td>2 (Operations Director)</td>" in h4
    assert "5h open past its deadline" in h4
    assert "Audit trail (" in h4 and "changed status: pending → overdue" in h4
    assert "status_changed" not in h4 and "{&quot;" not in h4  # words, not how it is stored
    assert "Ask for clarification: need the medication list" in sections["H-3"]
    assert "Not needed: settled before the deadline" in sections["H-3"]
    assert "so far (still open past its deadline)" in sections["H-2"]
    d1 = sections["D-1"]
    for label in ("Missing external action", "Interim safeguard", "Next review time",
                  "Partner route used", "Partner agency"):
        assert f"<th>{label}</th>" in d1, label
    assert "Not yet: the deadline has not passed" in d1
    assert "summary received" in sections["D-2"]
    assert "<h2>Workspace events</h2>" in page


def test_chain_head_and_an_empty_period(baton, tmp_path):
    run_scenario(baton)
    summary = make_report(baton, tmp_path / "dec", start=datetime(2026, 12, 1, 5, tzinfo=UTC),
                          end=datetime(2026, 12, 2, 5, tzinfo=UTC), chain_head="<abc>")
    page = summary.html_path.read_text(encoding="utf-8")
    assert "Audit chain head: <code>&lt;abc&gt;</code>" in page
    assert dict(summary.row_counts) == {"records.csv": 0, "audit_events.csv": 0,
                                        "escalations.csv": 0}
    figures = dict(summary.headline)
    assert figures["Records logged"] == "0 (0 handoffs, 0 dependencies)"
    assert figures["Handoffs acknowledged on time"].startswith("n/a")
    assert figures["Escalations by tier"] == "none"
    # Every chart still draws, and says it has no data.
    assert page.count('data-empty="1"') == 4 and page.count(">No data</text>") == 4
    header, rows = read_csv(tmp_path / "dec" / "records.csv")
    assert rows == [] and header[:2] == ["reference", "partner_name"]


def test_report_refuses_a_backwards_or_naive_window(baton, tmp_path):
    with pytest.raises(ValueError, match="end after it starts"):
        make_report(baton, tmp_path / "x", start=WEEK_END, end=WEEK_START)
    with pytest.raises(ValueError, match="timezone-aware"):
        make_report(baton, tmp_path / "x", start=datetime(2026, 11, 23), end=WEEK_END)


def test_spreadsheet_formulas_in_free_text_are_defused(baton, tmp_path):
    baton.command("/handoff", handoff("P-1", "Northside Home Care", "tomorrow 5pm",
                                      "note: =HYPERLINK(\"http://x\")"))
    make_report(baton, tmp_path / "out", start=START - timedelta(hours=1),
                end=START + timedelta(hours=1))
    _, records = read_csv(tmp_path / "out" / "records.csv")
    assert records[0]["note"] == "'=HYPERLINK(\"http://x\")"


def test_stalled_spans_follow_a_moved_review():
    """A dependency past its review for a day, then given a later review: stalled only
    until the move; past the new review again until it was resolved."""
    t0 = datetime(2026, 11, 23, 14, tzinfo=UTC)
    record = SimpleNamespace(kind="dependency", created_at=t0, due_at=t0 + timedelta(days=3),
                             closed_at=t0 + timedelta(days=4), acknowledged_at=None)
    events = [
        SimpleNamespace(kind="created", at=t0, field=None,
                        after={"due_at": (t0 + timedelta(hours=2)).isoformat()}),
        SimpleNamespace(kind="field_changed", at=t0 + timedelta(days=1), field="next_review_at",
                        after=(t0 + timedelta(days=3)).isoformat()),
        SimpleNamespace(kind="resolved", at=t0 + timedelta(days=4), field="outcome", after="x"),
    ]
    history = report.deadline_history(record, events)
    settled = report.settled_at(record, events)
    assert settled == t0 + timedelta(days=4)
    spans = report.stalled_spans(history, settled=settled, now=t0 + timedelta(days=9))
    assert spans == [(t0 + timedelta(hours=2), t0 + timedelta(days=1)),
                     (t0 + timedelta(days=3), t0 + timedelta(days=4))]


# --- in a real browser ---

WINDOW = (1200, 1600)
BAR_RGB = (0x2F, 0x6F, 0xAB)


def chromium_or_skip() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    why = ("Chromium is not installed (apt-get install chromium); the browser check of the "
           "evidence report needs it")
    if os.environ.get("BATON_REQUIRE_CHROMIUM") == "1":
        pytest.fail(why)
    pytest.skip(why)


def run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-extensions", "--hide-scrollbars", "--force-device-scale-factor=1",
           f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


# Appended to a copy of the report (the report itself has no script): it records script
# errors, blocked loads, fetched resources and where each chart is on the page.
PROBE = """<script>
window.__errors = [];
addEventListener('error', e => __errors.push(String(e.message || e.type)), true);
document.addEventListener('securitypolicyviolation', e => __errors.push('csp: ' + e.blockedURI));
addEventListener('load', () => {
  const charts = [...document.querySelectorAll('svg.chart')].map(s => {
    const r = s.getBoundingClientRect();
    return {name: s.dataset.chart, empty: s.dataset.empty, children: s.childElementCount,
            x: r.x, y: r.y, w: r.width, h: r.height};
  });
  const resources = performance.getEntriesByType('resource').map(r => r.name);
  document.documentElement.dataset.probe = JSON.stringify({charts, resources,
                                                           errors: __errors});
});
</script>"""


def probe(binary: str, report_html: Path, work: Path) -> dict[str, Any]:
    page = report_html.read_text(encoding="utf-8")
    policy = f'content="{report.CSP}"'
    assert policy in page
    page = page.replace(policy, f'content="{report.CSP}; script-src \'unsafe-inline\'"', 1)
    page = page.replace("</style>", "</style>" + PROBE, 1)
    probed = work / "probed.html"
    probed.write_text(page, encoding="utf-8")
    dom = run_chromium(binary, work / "profile", "--dump-dom", probed.as_uri()).stdout
    found = re.search(r'data-probe="([^"]*)"', dom)
    assert found, "the probe did not run: " + dom[:500]
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


def _unfilter(kind: int, line: bytearray, prev: bytes | bytearray, bpp: int) -> None:
    n = len(line)
    if kind == 1:
        for i in range(bpp, n):
            line[i] = (line[i] + line[i - bpp]) & 0xFF
    elif kind == 2:
        line[:] = bytes((a + b) & 0xFF for a, b in zip(line, prev, strict=True))
    elif kind == 3:
        for i in range(n):
            left = line[i - bpp] if i >= bpp else 0
            line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
    elif kind == 4:
        for i in range(n):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            line[i] = (line[i] + pred) & 0xFF


def read_png(path: Path, *, rows: int) -> tuple[int, int, list[bytearray]]:
    """The first `rows` rows of an 8-bit RGB(A) PNG, decoded by hand (no Pillow here)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat.append(chunk)
    assert header is not None
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and interlace == 0 and color in (2, 6), header
    bpp = 3 if color == 2 else 4
    raw, stride = zlib.decompress(b"".join(idat)), width * bpp
    out: list[bytearray] = []
    prev: bytes | bytearray = bytes(stride)
    for y in range(min(rows, height)):
        start = y * (stride + 1)
        line = bytearray(raw[start + 1:start + 1 + stride])
        _unfilter(raw[start], line, prev, bpp)
        out.append(line)
        prev = line
    return width, bpp, out


def pixel_counts(png: tuple[int, int, list[bytearray]], box: dict[str, float]) -> dict[str, int]:
    """In a chart's box: pixels of the bar colour, dark ink (text, axes) and anything not
    white."""
    _, bpp, rows = png
    counts = {"bar": 0, "ink": 0, "not_white": 0}
    x0, y0 = int(box["x"]) + 1, int(box["y"]) + 1
    x1, y1 = int(box["x"] + box["w"]) - 1, int(box["y"] + box["h"]) - 1
    for y in range(y0, y1):
        line = rows[y]
        for x in range(x0, x1):
            r, g, b = line[x * bpp:x * bpp + 3]
            if max(abs(r - BAR_RGB[0]), abs(g - BAR_RGB[1]), abs(b - BAR_RGB[2])) <= 6:
                counts["bar"] += 1
            if r < 100 and g < 100 and b < 100:
                counts["ink"] += 1
            if min(r, g, b) < 240:
                counts["not_white"] += 1
    return counts


def check_in_browser(binary: str, report_html: Path, work: Path, *, empty: bool) -> None:
    work.mkdir()
    seen = probe(binary, report_html, work)
    assert seen["errors"] == [], seen["errors"]  # script errors, blocked loads
    assert seen["resources"] == [], seen["resources"]  # nothing fetched
    charts = seen["charts"]
    assert [c["name"] for c in charts] == ["ack-histogram", "overdue-by-partner",
                                           "escalations-by-tier", "stalled-days"]
    shot = work / "report.png"
    # The screenshot is of the report as written: no probe, no script.
    run_chromium(binary, work / "profile", f"--screenshot={shot}", report_html.as_uri())
    bottom = max(c["y"] + c["h"] for c in charts)
    assert bottom < WINDOW[1], "the charts must be on the first screen"
    png = read_png(shot, rows=int(bottom) + 2)
    for chart in charts:
        assert chart["children"] > 2 and chart["w"] > 300 and chart["h"] > 150, chart
        assert chart["empty"] == ("1" if empty else "0"), chart
        counts = pixel_counts(png, chart)
        assert counts["not_white"] > 500, (chart["name"], counts)
        if empty:  # the "No data" label, and no bars
            assert counts["ink"] > 100 and counts["bar"] == 0, (chart["name"], counts)
        else:
            assert counts["bar"] > 100, (chart["name"], counts)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_report_opens_in_headless_chromium_with_charts_drawn(baton, tmp_path):
    binary = chromium_or_skip()
    run_scenario(baton)
    full = make_report(baton, tmp_path / "week")
    check_in_browser(binary, full.html_path, tmp_path / "week-browser", empty=False)
    empty = make_report(baton, tmp_path / "dec", start=datetime(2026, 12, 1, 5, tzinfo=UTC),
                        end=datetime(2026, 12, 2, 5, tzinfo=UTC))
    check_in_browser(binary, empty.html_path, tmp_path / "dec-browser", empty=True)


def test_a_report_that_fails_half_way_leaves_the_earlier_one_whole(baton, tmp_path,
                                                                   monkeypatch):
    run_scenario(baton)
    out = tmp_path / "report"
    make_report(baton, out)
    # A file's inode changes when it is replaced, even by the same bytes.
    before = {p.name: (p.stat().st_ino, p.read_bytes()) for p in out.iterdir()}

    def disk_full(path: Path, text: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report, "write_text", disk_full)  # after the three CSVs
    with pytest.raises(OSError):
        make_report(baton, out, start=WEEK_START - timedelta(days=7))
    after = {p.name: (p.stat().st_ino, p.read_bytes()) for p in out.iterdir()}
    assert after == before  # not one file replaced, no .report-* folder left
