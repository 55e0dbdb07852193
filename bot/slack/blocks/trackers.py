"""A tracker's card: its anchor, owner and status, its steps grouped by owner agency (each
with its gate marker, named owner, due time, status and text, and a control), the contact
log, the outcome, and the tracker's buttons. Pure functions of the database's rows (a
TrackerView) and the templates."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    Option,
    OverflowMenuElement,
    SectionBlock,
)

from bot.domain.tracker_config import TemplateConfig
from bot.domain.trackers import IMPACT_PARTS, StepStatus, Template, decision_label
from bot.services.trackers import FUNDING_STEP, TrackerView
from bot.slack.blocks.text import (
    FIELD_LIMIT,
    HEADER_LIMIT,
    MESSAGE_BLOCKS,
    SECTION_LIMIT,
    chunks,
    clip,
    escape,
    fit,
    plural,
    slack_date,
    user,
)
from bot.slack.ids import TrackerAction
from store.models import ContactAttempt, Record

STEP_BADGE = {
    "open": ":hourglass_flowing_sand: Open",
    "done": ":white_check_mark: Done",
    "blocked": ":no_entry: Blocked",
    "not_applicable": ":heavy_minus_sign: Not applicable",
    "refused": ":raised_hand: Refused by the person",
}
TRACKER_BADGE = {
    "open": ":hourglass_flowing_sand: Open",
    "proceeded": ":arrow_forward: Proceeded",
    "closed": ":white_check_mark: Closed",
    "cancelled": ":no_entry_sign: Cancelled",
}
GATE = ":lock: _cannot proceed without_"
LIVE = ("open", "proceeded")  # a tracker whose steps can still change
CONTACTS_SHOWN = 5
# The overflow's choices for a step still outstanding (Slack: 2 to 5 options).
STEP_CHOICES = (StepStatus.DONE, StepStatus.BLOCKED, StepStatus.NOT_APPLICABLE,
                StepStatus.REFUSED)


def card_text(view: TrackerView) -> str:
    """Notification fallback text: codes only, no free text."""
    t = view.tracker
    return f"{t.reference} · {t.person_ref} · {escape(t.title or '')} — {t.status}"


def started_text(view: TrackerView) -> str:
    """The confirmation to whoever started the tracker."""
    t = view.tracker
    gates = sum(1 for st in view.steps if st.gate)
    gated = f", {gates} of them gates" if gates else ""
    return (f":white_check_mark: Started *{t.reference}* ({escape(t.title)}) for "
            f"{escape(t.person_ref)}: {len(view.steps)} steps{gated}, owner {user(t.owner_id)}. "
            f"`/baton show {t.reference}` shows it; `/baton step {t.reference} STEP done` "
            "records a step.")


def control_value(tracker_id: int, step_id: int | None = None, status: str | None = None
                  ) -> str:
    data: dict[str, object] = {"t": tracker_id}
    if step_id is not None:
        data["s"] = step_id
    if status is not None:
        data["a"] = status
    return json.dumps(data, separators=(",", ":"))


def _field(label: str, value: str, ref: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=fit(f"*{label}*\n{value}", FIELD_LIMIT, ref=ref))


def _when(iso: str | None) -> str:
    try:
        return slack_date(datetime.fromisoformat(iso)) if iso else "—"
    except ValueError:
        return escape(iso)


def tracker_fields(view: TrackerView, tpl: Template | None) -> list[MarkdownTextObject]:
    """The card's facts: the anchor, the owner, the status, the sprint's end or the
    decision deadline, then the template's fields as given."""
    t, ref = view.tracker, view.reference
    anchor = (tpl.anchor if tpl else "anchor time").capitalize()
    fields = [_field(anchor, slack_date(t.anchor_at) if t.anchor_at else "—", ref),
              _field("Owner", user(t.owner_id), ref),
              _field("Status", TRACKER_BADGE.get(t.status, escape(t.status)), ref)]
    if tpl is not None and tpl.closes_after:
        fields.append(_field("Sprint closes", slack_date(t.due_at), ref))
    if tpl is not None and tpl.period is not None:
        fields.append(_field("Decision deadline", slack_date(t.due_at), ref))
    details = t.details or {}
    values, times = details.get("values", {}), details.get("times", {})
    for f in (tpl.fields if tpl else ()):
        if f.key in times:
            fields.append(_field(f.label, _when(times[f.key]), ref))
        elif values.get(f.key):
            fields.append(_field(f.label, escape(str(values[f.key])), ref))
    return fields


def step_line(step: Record, *, live: bool = True) -> str:
    """One step: reference, name, gate, owner, due, status and its text. A step still
    outstanding on a tracker that has ended (a sprint closed) reads "Not done"; one its
    ladder has paged says so."""
    phase = f"{escape(step.step_group)} · " if step.step_group else ""
    gate = f" · {GATE}" if step.gate else ""
    status = STEP_BADGE.get(step.status, escape(step.status))
    outstanding = step.status in ("open", "blocked")
    if outstanding and not live:
        status = ":x: Not done" + (" (blocked)" if step.status == "blocked" else "")
    elif outstanding and step.escalation_tier:
        status += f" · :rotating_light: paged, escalation tier {step.escalation_tier}"
    if step.closed_at is not None and step.status != "open":
        late = " (late)" if step.status == "done" and step.closed_at > step.due_at else ""
        status += f" {slack_date(step.closed_at)}{late}"
    lines = [f"`{step.reference}` {phase}*{escape(step.title)}*{gate}",
             f"{user(step.owner_id)} · due {slack_date(step.due_at)} · {status}"]
    if step.decision:
        lines.append(f"Decision: *{escape(decision_label(step.decision))}*")
    if step.outcome:
        label = (StepStatus(step.status).text_label
                 if step.status in {s.value for s in StepStatus} else "Note")
        lines.append(f"_{label}:_ {escape(step.outcome)}")
    details = step.details or {}
    if isinstance(details.get("mismatch"), dict):
        m = details["mismatch"]
        days = int(m.get("days", 0))
        lines.append(f"Funding starts {_when(m.get('at'))}: {plural(abs(days), 'day')} "
                     f"{'after' if days > 0 else 'before'} the move date.")
    if isinstance(details.get("impact"), dict):
        lines.append("Impact statement: " + "; ".join(
            f"{IMPACT_PARTS.get(k, k)}: {escape(v)}" for k, v in details["impact"].items()))
    return "\n".join(lines)




def step_control(view: TrackerView, step: Record) -> OverflowMenuElement | ButtonElement | None:
    """An outstanding step's overflow (Done, Blocked, Not applicable, Refused by the person,
    and Reopen for a blocked one); a settled step's Reopen button; none on a closed tracker
    or on the commissioner's decision (Decide records it)."""
    t = view.tracker
    if t.status not in LIVE or (step.step_key == FUNDING_STEP and step.status in ("open",
                                                                                 "blocked")):
        return None
    if step.status in ("open", "blocked"):
        choices = list(STEP_CHOICES) + ([StepStatus.OPEN] if step.status == "blocked" else [])
        return OverflowMenuElement(action_id=TrackerAction.STEP, options=[
            Option(value=control_value(t.id, step.id, c.value),
                   label="Reopen" if c is StepStatus.OPEN else c.label) for c in choices])
    if step.step_key == FUNDING_STEP:
        return None
    return ButtonElement(text="Reopen", action_id=TrackerAction.STEP,
                         value=control_value(t.id, step.id, StepStatus.OPEN.value))


def _groups(steps: Sequence[Record]) -> dict[str, list[Record]]:
    groups: dict[str, list[Record]] = {}
    for st in steps:
        groups.setdefault(st.agency or "", []).append(st)
    return groups


def contact_text(contacts: Sequence[ContactAttempt]) -> str:
    shown = list(contacts)[-CONTACTS_SHOWN:]
    lines = [f"*Contact attempts* ({len(contacts)})"]
    for c in shown:
        note = f": {escape(c.note)}" if c.note else ""
        lines.append(f"• {slack_date(c.at)} · {c.outcome.capitalize()} · {user(c.actor)}{note}")
    return "\n".join(lines)


def outcome_text(view: TrackerView) -> str | None:
    t = view.tracker
    if t.status == "cancelled":
        return f"*Cancelled:* {escape(t.cancel_reason)}"
    if t.decision:
        text = f": {escape(t.outcome)}" if t.outcome else ""
        return f"*Decision:* {escape(decision_label(t.decision))}{text}"
    if t.outcome:
        return f"*Outcome:* {escape(t.outcome)}"
    return None


def tracker_buttons(view: TrackerView, tpl: Template | None) -> list[ButtonElement]:
    t = view.tracker
    if tpl is None or t.status not in LIVE:
        return []
    value = control_value(t.id)
    buttons: list[ButtonElement] = []
    if tpl.proceed and t.status == "open":
        buttons.append(ButtonElement(text="Proceed", action_id=TrackerAction.PROCEED,
                                     value=value, style="primary"))
    if tpl.contacts and t.status == "open":
        buttons.append(ButtonElement(text="Log contact attempt",
                                     action_id=TrackerAction.CONTACT, value=value))
    funding = any(st.step_key == FUNDING_STEP and st.status in ("open", "blocked")
                  for st in view.steps)
    if funding:
        buttons.append(ButtonElement(text="Impact statement", action_id=TrackerAction.IMPACT,
                                     value=value))
    if funding or (tpl.decision_choices and t.status == "open" and not t.decision):
        buttons.append(ButtonElement(text="Decide", action_id=TrackerAction.DECIDE,
                                     value=value))
    return buttons


def tracker_card(view: TrackerView, templates: TemplateConfig) -> list[Block]:
    """The card: within Slack's 50 blocks (a long template's steps fall back to one text
    section per agency, changed with `/baton step`), unique block_ids, 3,000 characters a
    section."""
    t, ref = view.tracker, view.reference
    tpl = templates.get(t.template or "")
    head: list[Block] = [HeaderBlock(text=clip(f"{t.reference} · {t.person_ref} · "
                                               f"{t.title or ''}", HEADER_LIMIT))]
    fields = tracker_fields(view, tpl)
    head.append(SectionBlock(block_id=f"tracker:{t.id}:facts", fields=fields[:10]))
    if fields[10:]:
        head.append(SectionBlock(block_id=f"tracker:{t.id}:more", text=MarkdownTextObject(
            text=fit("\n".join(f.text for f in fields[10:]), SECTION_LIMIT, ref=ref))))
    tail: list[Block] = []
    if tpl is not None and tpl.contacts:
        tail.append(SectionBlock(block_id=f"tracker:{t.id}:contacts", text=MarkdownTextObject(
            text=fit(contact_text(view.contacts), SECTION_LIMIT, ref=ref))))
    said = outcome_text(view)
    if said:
        tail.append(SectionBlock(block_id=f"tracker:{t.id}:outcome", text=MarkdownTextObject(
            text=fit(said, SECTION_LIMIT, ref=ref))))
    buttons = tracker_buttons(view, tpl)
    if buttons:
        tail.append(ActionsBlock(block_id=f"tracker:{t.id}:actions", elements=buttons))
    tail.append(ContextBlock(elements=[MarkdownTextObject(
        text=f"Started by {user(t.created_by)} {slack_date(t.created_at)} · "
             f"`/baton show {ref}` · `/baton step {ref} STEP done|blocked|na|refused TEXT`")]))
    budget = MESSAGE_BLOCKS - len(head) - len(tail)
    return head + _step_blocks(view, templates, budget) + tail


def _step_blocks(view: TrackerView, templates: TemplateConfig, budget: int) -> list[Block]:
    t, ref = view.tracker, view.reference
    live = t.status in LIVE
    groups = _groups(view.steps)
    out: list[Block] = []
    if len(groups) + len(view.steps) <= budget:
        for agency, steps in groups.items():
            out.append(SectionBlock(block_id=f"tracker:{t.id}:agency:{agency}",
                                    text=MarkdownTextObject(
                                        text=f"*{escape(templates.agency_label(agency))}*")))
            for st in steps:
                control = step_control(view, st)
                out.append(SectionBlock(block_id=f"tracker:{t.id}:step:{st.id}",
                                        text=MarkdownTextObject(
                                            text=fit(step_line(st, live=live),
                                                     SECTION_LIMIT, ref=ref)),
                                        accessory=control))
        return out
    # Too many steps for a control each: one text per agency, cut to the blocks left.
    out.append(SectionBlock(block_id=f"tracker:{t.id}:keyboard", text=MarkdownTextObject(
        text=f"_More steps than one Slack message has room to give a menu each: "
             f"`/baton step {ref} STEP done|blocked|na|refused TEXT` changes any of them._")))
    for agency, steps in groups.items():
        text = f"*{escape(templates.agency_label(agency))}*\n" + "\n".join(
            step_line(st, live=live) for st in steps)
        for i, piece in enumerate(chunks(text, SECTION_LIMIT)):
            out.append(SectionBlock(block_id=f"tracker:{t.id}:agency:{agency}:{i}",
                                    text=MarkdownTextObject(text=piece)))
    if len(out) > budget:
        cut = SectionBlock(block_id=f"tracker:{t.id}:cut", text=MarkdownTextObject(
            text=f"… _and more steps: `/baton person {view.tracker.person_ref}` lists what "
                 "is open_"))
        out = [*out[:budget - 1], cut]
    return out
