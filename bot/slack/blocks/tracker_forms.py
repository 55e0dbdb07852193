"""A tracker's forms: the start form (what `/baton start` lacked), the step's reason (blocked,
not applicable, refused by the person), the contact attempt, the impact statement for the
commissioner, and the decision. Pure functions; each input's block_id names its field and
its action_id is INPUT."""

from __future__ import annotations

import json
from collections.abc import Sequence

from slack_sdk.models.blocks import (
    Block,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.domain.tracker_commands import AT, OWNER, PERIOD, PERSON
from bot.domain.trackers import (
    CONTACT_OUTCOMES,
    DECISION_TEXT,
    IMPACT_PARTS,
    StepStatus,
    Template,
    TrackerField,
    decision_label,
)
from bot.services.trackers import TrackerView
from bot.slack.blocks.text import MODAL_TITLE_LIMIT, clip, escape
from bot.slack.ids import INPUT
from bot.slack.ids import TrackerView as Form
from store.models import Record

PERSON_HINT = "A code such as P-1042, never a name."
TIME_HINT = "now · tomorrow 9am · Dec 14 10am · in 2h"
TEXT_MAX = 1000


def _text(block_id: str, label: str, initial: str | None = None, *, optional: bool = False,
          hint: str | None = None, multiline: bool = False) -> InputBlock:
    return InputBlock(block_id=block_id, label=label, optional=optional, hint=hint,
                      element=PlainTextInputElement(
                          action_id=INPUT, multiline=multiline, max_length=TEXT_MAX,
                          initial_value=(initial or "")[:TEXT_MAX] or None))


def _select(block_id: str, label: str, choices: Sequence[tuple[str, str]],
            initial: str | None = None, *, optional: bool = False) -> InputBlock:
    options = [Option(value=value, label=clip(text, 75)) for value, text in choices]
    chosen = next((o for o in options if o.value == initial), None)
    return InputBlock(block_id=block_id, label=label, optional=optional,
                      element=StaticSelectElement(action_id=INPUT, options=options,
                                                  initial_option=chosen))


def _field_input(f: TrackerField, initial: str | None) -> InputBlock:
    if f.kind == "yes-no":
        return _select(f.key, f.label, [("yes", "Yes"), ("no", "No")],
                       (initial or "").lower() or None, optional=not f.required)
    if f.kind == "choice":
        return _select(f.key, f.label, [(c, c.capitalize()) for c in f.choices],
                       next((c for c in f.choices if c.lower() == (initial or "").lower()),
                            None), optional=not f.required)
    return _text(f.key, f.label, initial, optional=not f.required,
                 hint=TIME_HINT if f.kind == "time" else None,
                 multiline=f.kind == "text" and f.key in ("instructions", "impact", "action"))


def _title(text: str) -> str:
    return clip(text, MODAL_TITLE_LIMIT)


def start_modal(tpl: Template, fields: dict[str, str], *, owner: str | None, channel_id: str,
                missing: Sequence[str]) -> View:
    """The form for `/baton start TEMPLATE …` with what was typed, naming what is missing."""
    blocks: list[Block] = []
    if missing:
        names = ", ".join(f"`{m}`" for m in missing)
        blocks.append(SectionBlock(text=MarkdownTextObject(
            text=f"*{escape(tpl.title)}*. Still needed before Baton can start it: {names}.")))
    blocks += [
        _text(PERSON.name, PERSON.label, fields.get("person"), hint=PERSON_HINT),
        _text(AT.name, tpl.anchor.capitalize(), fields.get("at"), hint=TIME_HINT),
        InputBlock(block_id=OWNER.name, label=OWNER.label,
                   element=UserSelectElement(action_id=INPUT, initial_user=owner or None)),
    ]
    if tpl.period is not None:
        blocks.append(_text(PERIOD.name, "Period (days)", fields.get("period"), optional=True,
                            hint=f"Blank: {tpl.period.days} days."))
    taken = {PERSON.name, AT.name, OWNER.name, PERIOD.name}
    blocks += [_field_input(f, fields.get(f.key)) for f in tpl.fields if f.key not in taken]
    return View(type="modal", callback_id=Form.START, title=_title(f"Start: {tpl.name}"),
                submit="Start", close="Cancel", blocks=blocks,
                private_metadata=json.dumps({"channel": channel_id, "template": tpl.name}))


def _about(view: TrackerView, step: Record | None = None) -> SectionBlock:
    t = view.tracker
    what = (f"`{step.reference}` *{escape(step.title)}*" if step is not None
            else f"*{escape(t.title)}*")
    return SectionBlock(text=MarkdownTextObject(
        text=f"*{t.reference}* {escape(t.person_ref)} · {what}"))


def step_reason_modal(view: TrackerView, step: Record, status: StepStatus,
                      text: str = "") -> View:
    """Blocked, Not applicable, Refused by the person: the reason, or how it was managed."""
    return View(type="modal", callback_id=Form.STEP_REASON, title=_title(status.label),
                submit="Save", close="Back",
                private_metadata=json.dumps({"t": view.tracker.id, "s": step.id,
                                             "a": status.value}),
                blocks=[_about(view, step),
                        _text("text", status.text_label, text, multiline=True)])


def contact_modal(view: TrackerView) -> View:
    return View(type="modal", callback_id=Form.CONTACT, title="Log contact attempt",
                submit="Log it", close="Back",
                private_metadata=json.dumps({"t": view.tracker.id}),
                blocks=[_about(view),
                        _select("outcome", "Outcome",
                                [(o, "Reached the person" if o == "reached" else
                                  "Attempted, not reached") for o in CONTACT_OUTCOMES]),
                        _text("note", "Note", optional=True, multiline=True,
                              hint="How, and what happened. Codes, never names.")])


def impact_modal(view: TrackerView, step: Record) -> View:
    """The written impact statement for the commissioner (seed 000): staffing hours,
    transition supervision, overnight coverage, the cost of duplicated support."""
    given = (step.details or {}).get("impact") or {}
    return View(type="modal", callback_id=Form.IMPACT, title="Impact statement",
                submit="Save", close="Back",
                private_metadata=json.dumps({"t": view.tracker.id}),
                blocks=[_about(view, step),
                        *(_text(key, label, given.get(key), optional=True, multiline=True)
                          for key, label in IMPACT_PARTS.items())])


def decide_modal(view: TrackerView, choices: Sequence[str], *, step: Record | None) -> View:
    """The decision waiting: the commissioner's on the funding start (`step`), or the
    provisional package's at its hard deadline."""
    needs = [f"{decision_label(c)}: {DECISION_TEXT[c]}" for c in choices if c in DECISION_TEXT]
    hint = ("Say " + "; ".join(needs) + ".") if needs else None
    return View(type="modal", callback_id=Form.DECIDE, title="Record the decision",
                submit="Record", close="Back",
                private_metadata=json.dumps({"t": view.tracker.id}),
                blocks=[_about(view, step),
                        _select("decision", "Decision",
                                [(c, decision_label(c)) for c in choices]),
                        _text("text", "Details", optional=True, multiline=True, hint=hint)])
