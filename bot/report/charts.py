"""The report's four charts, drawn as inline SVG by hand (no library, no script): time to
acknowledgement, overdue handoffs by receiving service, escalations by tier, stalled records
per day. An empty chart still draws its frame and says why it is empty.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.report.facts import Facts, escalations_by_tier, stalled_per_day
from bot.report.formatting import esc

# Time-to-acknowledgement buckets: (label, upper bound, exclusive).
_ACK_BUCKETS = (
    ("<1h", timedelta(hours=1)),
    ("1–4h", timedelta(hours=4)),
    ("4–24h", timedelta(hours=24)),
    ("1–2d", timedelta(days=2)),
    ("2–7d", timedelta(days=7)),
    ("7d+", timedelta.max),
)

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

