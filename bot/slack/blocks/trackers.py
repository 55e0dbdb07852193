"""A tracker's card: its steps grouped by owner agency, each with its status and due time,
and a button per step. Pure functions of the database's rows (a TrackerView)."""

from __future__ import annotations

from slack_sdk.models.blocks import Block, SectionBlock

from bot.domain.tracker_config import TemplateConfig
from bot.domain.trackers import StepStatus
from bot.services.trackers import TrackerView
from bot.slack.blocks.text import escape


def card_text(view: TrackerView) -> str:
    t = view.tracker
    return f"{t.reference} · {t.person_ref} · {escape(t.title or '')}"


def tracker_card(view: TrackerView, templates: TemplateConfig) -> list[Block]:
    lines = [f"*{card_text(view)}*"]
    agencies: dict[str, list[str]] = {}
    for st in view.steps:
        agencies.setdefault(st.agency or "", []).append(
            f"{st.reference} {escape(st.title or '')}: {StepStatus(st.status).label}")
    for agency, steps in agencies.items():
        lines.append(f"*{templates.agency_label(agency)}*\n" + "\n".join(steps))
    return [SectionBlock(text="\n".join(lines)[:3000])]
