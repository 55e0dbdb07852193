"""Block Kit for partner trends and systemic-pattern notices: pure functions of figures and
pattern rows. Person references only, never names; free text escaped."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DatePickerElement,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.domain.governance import route_label
from bot.domain.times import format_duration
from bot.domain.trends import Figures, RouteTrend
from bot.services.partner_trends import PartnerFigures
from bot.slack.blocks.text import (
    FIELD_LIMIT,
    SECTION_LIMIT,
    clip,
    escape,
    fit,
    plural,
    slack_date,
    user,
)
from bot.slack.ids import (
    ACTIONS_BLOCK,
    FIELD_CLASSIFICATION,
    FIELD_CONTRACT_IMPACT,
    FIELD_CORRECTIVE_ROUTE,
    FIELD_OWNER,
    FIELD_REVIEW_DUE,
    INPUT,
    Classification,
    CorrectiveRoute,
    GovernanceAction,
    GovernanceView,
)
from store.models import SystemicPattern

MAX_LISTED = 20  # affected records listed in a notice; the rest are counted
MAX_ROUTES = 40  # routes in `/baton partner NAME` (50 blocks a message)
MAX_PEOPLE = 12


def pattern_title(partner: str, route: str | None) -> str:
    return clip(f"Systemic pattern: {partner} · {route_label(route)}", 150)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _people(refs: Sequence[str]) -> str:
    shown = ", ".join(escape(r) for r in refs[:MAX_PEOPLE])
    more = len(refs) - MAX_PEOPLE
    return shown + (f" and {more} more" if more > 0 else "")


def _tiers(escalations: Sequence[Sequence[int]]) -> str:
    return ", ".join(f"tier {tier} ×{n}" for tier, n in escalations) or "none"


# --- the notice ---

def miss_line(miss: dict[str, Any]) -> str:
    due = _when(miss["due_at"])
    delay = format_duration(timedelta(seconds=int(miss["delay_seconds"])))
    head = f"• *{escape(miss['reference'])}* · {escape(miss['person_ref'])} · deadline " \
           f"{slack_date(due) if due else '—'} · "
    if miss.get("acknowledged_at"):
        return head + f"acknowledged *{delay}* late"
    if miss.get("ongoing"):
        return head + f"not acknowledged: *{delay}* past the deadline so far"
    return head + f"never acknowledged; cancelled *{delay}* after the deadline"


def notice_text(pattern: SystemicPattern) -> str:
    """Notification fallback: the route and the count, nothing more."""
    ev = pattern.evidence or {}
    return (f"{escape(pattern_title(ev.get('partner', ''), ev.get('route')))}: "
            f"{plural(len(ev.get('misses', [])), 'missed acknowledgement deadline')} in "
            f"{plural(pattern.window_days, 'day')}")


def notice_blocks(pattern: SystemicPattern) -> list[Block]:
    """The systemic-pattern notice for the governance channel: affected route, records with
    dates and delay durations, repeat frequency, service impact, and the classification
    control (or, once classified, the director's decision)."""
    ev = pattern.evidence or {}
    misses: list[dict[str, Any]] = ev.get("misses", [])
    freq = ev.get("frequency", {})
    impact = ev.get("impact", {})
    partner, route = escape(ev.get("partner", "")), escape(route_label(ev.get("route")))
    since = _when(freq.get("since"))
    blocks: list[Block] = [
        HeaderBlock(text=pattern_title(ev.get("partner", ""), ev.get("route"))),
        SectionBlock(text=MarkdownTextObject(text=fit(
            f"*{partner}* on route *{route}* missed "
            f"*{len(misses)}* acknowledgement deadline{'' if len(misses) == 1 else 's'} "
            + (f"since the last notice ({slack_date(since)})" if since else
               f"in the last {plural(pattern.window_days, 'day')}")
            + f" (threshold {ev.get('threshold', len(misses))}). Repeated missed response "
              "windows on one route are reviewed by governance: the accountable director "
              "decides whether this is still case-level or a systemic pathway weakness.",
            SECTION_LIMIT))),
        SectionBlock(fields=[
            MarkdownTextObject(text=fit(f"*Affected route*\n{partner} · {route}", FIELD_LIMIT)),
            MarkdownTextObject(text=fit(
                f"*Repeat frequency*\n{freq.get('in_window', len(misses))} missed in "
                f"{plural(pattern.window_days, 'day')} · "
                f"{freq.get('in_90_days', len(misses))} in 90 days",
                FIELD_LIMIT)),
        ]),
    ]
    lines = [miss_line(m) for m in misses[:MAX_LISTED]]
    if len(misses) > MAX_LISTED:
        lines.append(f"…and {len(misses) - MAX_LISTED} more")
    blocks.append(SectionBlock(text=MarkdownTextObject(
        text=fit("*Affected records*\n" + "\n".join(lines), SECTION_LIMIT))))
    people = impact.get("people", [])
    blocks.append(SectionBlock(text=MarkdownTextObject(text=fit(
        "*Service impact*\n"
        f"{plural(impact.get('open_records', 0), 'record')} on this route still open, "
        f"{impact.get('awaiting_acknowledgement', 0)} past their deadline with no "
        "acknowledgement"
        + (f" (people: {_people(people)})" if people else "")
        + f" · {impact.get('partner_open_records', 0)} open with {partner} on all routes\n"
        f"Last 30 days on this route: {plural(impact.get('stalled_days_30', 0), 'stalled day')}"
        f" · {plural(impact.get('late_responses_30', 0), 'late response')} · escalations "
        f"{_tiers(impact.get('escalations_30', []))}", SECTION_LIMIT))))
    if ev.get("contract_impact"):
        blocks.append(SectionBlock(text=MarkdownTextObject(text=fit(
            f"*Contract impact*\n{escape(ev['contract_impact'])}", SECTION_LIMIT))))
    if pattern.classification:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=fit(
            classified_line(pattern), SECTION_LIMIT))))
    else:
        value = str(pattern.id)
        blocks.append(ActionsBlock(block_id=f"{ACTIONS_BLOCK}:{pattern.id}", elements=[
            ButtonElement(text=Classification.CASE_LEVEL.label,
                          action_id=GovernanceAction.CASE_LEVEL, value=value),
            ButtonElement(text=Classification.SYSTEMIC.label,
                          action_id=GovernanceAction.SYSTEMIC, value=value, style="danger"),
        ]))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=(
        f"Detected {slack_date(pattern.detected_at)} · the accountable director records the "
        "classification, corrective route, executive owner and review deadline · "
        f"`/baton partner {escape(ev.get('partner', ''))}` for this partner's figures"))]))
    return blocks


def classified_line(pattern: SystemicPattern) -> str:
    label = Classification(pattern.classification or "").label  # shown once classified
    route = (CorrectiveRoute(pattern.corrective_route).label if pattern.corrective_route
             else "none proposed")
    review = slack_date(pattern.review_due, "{date_short_pretty}") if pattern.review_due \
        else "—"
    at = slack_date(pattern.classified_at) if pattern.classified_at else ""
    return (f":white_check_mark: Classified *{label}* by {user(pattern.classified_by)} {at} · "
            f"corrective route: *{route}* · executive owner {user(pattern.owner_id)} · "
            f"review by {review}")


def classify_modal(pattern: SystemicPattern, *, chosen: Classification) -> View:
    ev = pattern.evidence or {}
    classes = [Option(value=c.value, label=c.label) for c in Classification]
    routes = [Option(value=r.value, label=r.label) for r in CorrectiveRoute]
    return View(
        type="modal", callback_id=GovernanceView.CLASSIFY, title="Classify pattern",
        submit="Record", close="Cancel", private_metadata=json.dumps({"pattern": pattern.id}),
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=fit(
                f"*{escape(ev.get('partner', ''))}* · {escape(route_label(ev.get('route')))}"
                f"\n{plural(len(ev.get('misses', [])), 'missed acknowledgement deadline')}"
                " · detected "
                f"{slack_date(pattern.detected_at)}", SECTION_LIMIT))),
            InputBlock(block_id=FIELD_CLASSIFICATION, label="Classification",
                       element=StaticSelectElement(
                           action_id=INPUT, options=classes,
                           initial_option=next(o for o in classes if o.value == chosen))),
            InputBlock(block_id=FIELD_CORRECTIVE_ROUTE, label="Proposed corrective route",
                       optional=True, hint="Required when systemic.",
                       element=StaticSelectElement(action_id=INPUT, options=routes)),
            InputBlock(block_id=FIELD_OWNER, label="Executive owner",
                       element=UserSelectElement(action_id=INPUT)),
            InputBlock(block_id=FIELD_REVIEW_DUE, label="Review deadline",
                       hint="Reviewed by the end of that working day, your time.",
                       element=DatePickerElement(action_id=INPUT)),
            InputBlock(block_id=FIELD_CONTRACT_IMPACT, label="Contract impact", optional=True,
                       hint="e.g. start delays, unfunded staff time, duplicated cost.",
                       element=PlainTextInputElement(action_id=INPUT, multiline=True,
                                                     max_length=1000)),
        ],
    )


# --- /baton partner NAME ---

def _per_window(trend: RouteTrend, text: Callable[[Figures], str]) -> str:
    return " · ".join(f"{days} d: {text(f)}" for days, f in sorted(trend.windows.items()))


def _ack_time(f: Figures) -> str:
    if f.median_time_to_ack is None or f.longest_time_to_ack is None:
        return "—"
    return (f"median {format_duration(f.median_time_to_ack)}, longest "
            f"{format_duration(f.longest_time_to_ack)}")


def _fields(trend: RouteTrend) -> list[MarkdownTextObject]:
    def field(label: str, value: str) -> MarkdownTextObject:
        return MarkdownTextObject(text=fit(f"*{label}*\n{value}", FIELD_LIMIT))

    open_now = plural(trend.open_now, "record") + (f" ({_people(trend.people_open)})"
                                             if trend.people_open else "")
    return [
        field("Missed acknowledgement deadlines", _per_window(
            trend, lambda f: f"{f.missed_acknowledgements} of {f.deadlines}")),
        field("Late responses", _per_window(trend, lambda f: str(f.late_responses))),
        field("Time to acknowledgement", _per_window(trend, _ack_time)),
        field("Escalations by tier", _per_window(trend, lambda f: _tiers(f.escalations))),
        field("Stalled days", _per_window(trend, lambda f: str(f.stalled_days))),
        field("Open now", open_now),
    ]


def pattern_history_line(pattern: SystemicPattern) -> str:
    ev = pattern.evidence or {}
    head = (f"• {slack_date(pattern.detected_at, '{date_short}')}: "
            f"{escape(route_label(ev.get('route')))}, {pattern.misses} missed")
    if pattern.classification:
        return f"{head} · {classified_line(pattern).removeprefix(':white_check_mark: ')}"
    return f"{head} · awaiting classification"


def partner_blocks(partner: str, totals: RouteTrend | None, trends: Sequence[RouteTrend],
                   patterns: Sequence[SystemicPattern], *, now: datetime) -> list[Block]:
    """One partner's figures, all routes first, then each route, for each rolling window."""
    blocks: list[Block] = [
        HeaderBlock(text=clip(f"Partner trends: {partner}", 150)),
        ContextBlock(elements=[MarkdownTextObject(text=(
            f"Rolling windows ending {slack_date(now)}. A missed acknowledgement deadline "
            "counts on its deadline; late responses include those still unanswered; stalled "
            "days are days open past the deadline, any part of a day counting as one."))]),
    ]
    if totals is None:
        blocks.append(SectionBlock(text=MarkdownTextObject(
            text=f"No handoffs or dependencies with {escape(partner)} in the last 90 days.")))
        return blocks
    blocks.append(SectionBlock(text=MarkdownTextObject(text="*All routes*"),
                               fields=_fields(totals)))
    for trend in trends[:MAX_ROUTES]:
        blocks.append(SectionBlock(
            text=MarkdownTextObject(text=fit(f"*Route: {escape(route_label(trend.route))}*",
                                              SECTION_LIMIT)),
            fields=_fields(trend)))
    if len(trends) > MAX_ROUTES:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=f"…and {plural(len(trends) - MAX_ROUTES, 'more route')}")]))
    if patterns:
        lines = ["*Systemic-pattern notices*", *(pattern_history_line(p) for p in patterns)]
        blocks.append(SectionBlock(text=MarkdownTextObject(text=fit("\n".join(lines),
                                                                     SECTION_LIMIT))))
    return blocks


def partner_page(figures: PartnerFigures) -> list[Block]:
    """`/baton partner NAME`: Governance.partner_figures, rendered."""
    return partner_blocks(figures.partner, figures.totals, figures.trends, figures.patterns,
                          now=figures.now)
