"""Block Kit rendering: pure functions from records to slack_sdk block models."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.domain.grammar import DEPENDENCY_KEYS, HANDOFF_KEYS, KEYS, Key
from bot.domain.records import RecordKind, ResponseCategory, Risk, is_open
from bot.ids import INPUT, ActionId, ViewId

SECTION_LIMIT = 3000

STATUS_BADGE = {
    "pending": ":hourglass_flowing_sand: Pending",
    "acknowledged": ":inbox_tray: Acknowledged",
    "responded": ":speech_balloon: Responded",
    "overdue": ":red_circle: Overdue",
    "closed": ":white_check_mark: Closed",
    "open": ":hourglass_flowing_sand: Open",
    "resolved": ":white_check_mark: Resolved",
    "cancelled": ":no_entry_sign: Cancelled",
}


def escape(text: str | None) -> str:
    """Free text into mrkdwn: nobody's text can become a mention, a link or <!channel>."""
    if not text:
        return ""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_date(when: datetime, fmt: str = "{date_short_pretty} at {time}") -> str:
    """Slack's date token: every reader sees it in their own time zone."""
    fallback = when.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(when.timestamp())}^{fmt}|{fallback}>"


def user(user_id: str | None) -> str:
    if user_id == "baton":  # what the time engine did by itself
        return "Baton"
    return f"<@{user_id}>" if user_id else "—"


def _field(label: str, value: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=clip(f"*{label}*\n{value}", 2000))


def record_title(record: Any) -> str:
    kind = "Handoff" if record.kind == RecordKind.HANDOFF else "Dependency"
    return f"{kind} {record.reference} · {record.person_ref}"


def record_fields(record: Any) -> list[MarkdownTextObject]:
    risk = Risk(record.risk).label if record.risk else "not rated"
    if record.kind == RecordKind.HANDOFF:
        fields = [
            _field("Receiving service", escape(record.partner.display_name)),
            _field("Receiving contact", escape(record.receiving_contact)),
            _field("Response deadline", slack_date(record.due_at)),
            _field("Internal owner", user(record.owner_id)),
            _field("Continuity risk", risk),
            _field("Status", STATUS_BADGE.get(record.status, record.status)),
        ]
        if record.route:
            fields.append(_field("Referral route", escape(record.route)))
        if record.response_category:
            label = ResponseCategory(record.response_category).label
            text = f": {escape(record.response_text)}" if record.response_text else ""
            fields.append(_field("Partner response", f"{label}{text}"))
    else:
        fields = [
            _field("Partner agency", escape(record.partner.display_name)),
            _field("Risk rating", risk),
            _field("Next review time", slack_date(record.due_at)),
            _field("Internal lead", user(record.owner_id)),
            _field("Management owner", user(record.manager_id)),
            _field("Status", STATUS_BADGE.get(record.status, record.status)),
        ]
        if record.route:
            fields.append(_field("Partner route used", escape(record.route)))
    return fields[:10]  # a section holds at most 10 fields


def record_card(record: Any) -> list[Block]:
    blocks: list[Block] = [HeaderBlock(text=clip(record_title(record), 150))]
    if record.kind == RecordKind.DEPENDENCY:
        blocks.append(SectionBlock(text=MarkdownTextObject(
            text=clip(f"*Missing external action*\n{escape(record.missing_action)}", SECTION_LIMIT)
        )))
        safeguard = escape(record.interim_safeguard) or "_none recorded_"
        blocks.append(SectionBlock(text=MarkdownTextObject(
            text=clip(f"*Interim safeguard*\n{safeguard}", SECTION_LIMIT)
        )))
    blocks.append(SectionBlock(fields=record_fields(record)))
    if record.kind == RecordKind.HANDOFF and record.note:
        blocks.append(SectionBlock(text=MarkdownTextObject(
            text=clip(f"*Note*\n{escape(record.note)}", SECTION_LIMIT))))
    closing = record.outcome or record.cancel_reason
    if closing:
        label = "Reason" if record.status == "cancelled" else "Outcome"
        blocks.append(SectionBlock(text=MarkdownTextObject(
            text=clip(f"*{label}*\n{escape(closing)}", SECTION_LIMIT))))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(
        text=f"Logged by {user(record.created_by)} {slack_date(record.created_at)} · "
             f"`/baton show {record.reference}` for the audit trail"
    )]))
    if is_open(record.status):
        blocks.append(ActionsBlock(block_id=f"record:{record.id}", elements=record_buttons(record)))
    return blocks


def record_buttons(record: Any) -> list[ButtonElement]:
    value = str(record.id)
    if record.kind == RecordKind.HANDOFF:
        buttons = []
        if record.status in ("pending", "overdue"):
            buttons.append(ButtonElement(text="Partner acknowledged",
                                         action_id=ActionId.PARTNER_ACK, value=value,
                                         style="primary"))
        buttons.append(ButtonElement(text="Record response", action_id=ActionId.RECORD_RESPONSE,
                                     value=value))
        if record.status == "responded":
            buttons.append(ButtonElement(text="Close", action_id=ActionId.RESOLVE, value=value))
    else:
        buttons = [ButtonElement(text="Resolve", action_id=ActionId.RESOLVE, value=value,
                                 style="primary")]
    buttons.append(ButtonElement(text="Cancel", action_id=ActionId.CANCEL, value=value,
                                 style="danger"))
    return buttons


def card_text(record: Any) -> str:
    """Notification fallback text: no free text, nothing that can leak beyond the codes."""
    return f"{record_title(record)} — {record.status} — due {slack_date(record.due_at)}"


def confirmation(record: Any) -> str:
    what = "Response deadline" if record.kind == RecordKind.HANDOFF else "Next review"
    return (f":white_check_mark: Logged *{record.reference}* for {record.person_ref} with "
            f"{escape(record.partner.display_name)}. {what}: {slack_date(record.due_at)}, "
            f"owner {user(record.owner_id)}.")


def record_line(record: Any) -> str:
    badge = STATUS_BADGE.get(record.status, record.status)
    risk = f" · {Risk(record.risk).label}" if record.risk else ""
    return (f"*{record.reference}* {record.person_ref} → {escape(record.partner.display_name)}"
            f" · due {slack_date(record.due_at)} · {user(record.owner_id)} · {badge}{risk}")


def record_list(title: str, records: Sequence[Any], empty: str) -> list[Block]:
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=f"*{title}*"))]
    if not records:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=empty)))
        return blocks
    # One section per ~15 rows keeps each under the 3,000-character limit.
    for i in range(0, min(len(records), 45), 15):
        text = "\n".join(record_line(r) for r in records[i : i + 15])
        blocks.append(SectionBlock(text=MarkdownTextObject(text=clip(text, SECTION_LIMIT))))
    return blocks


def _event_text(event: Any) -> str:
    parts = [slack_date(event.at, "{date_short} {time}"), user(event.actor), f"*{event.kind}*"]
    if event.field and event.kind not in ("created",):
        parts.append(f"`{event.field}`")
    if event.before not in (None, "", {}):
        parts.append(f"{escape(_short(event.before))} →")
    if event.after not in (None, "", {}) and event.kind != "created":
        parts.append(escape(_short(event.after)))
    if event.note:
        parts.append(f"_({escape(event.note)})_")
    return " ".join(parts)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return clip(text, 200)


def record_detail(record: Any, events: Sequence[Any]) -> list[Block]:
    blocks = [b for b in record_card(record) if not isinstance(b, ActionsBlock)]
    blocks.append(DividerBlock())
    lines = [f"*Audit trail* ({len(events)} events)"]
    lines += [_event_text(e) for e in events]
    text = "\n".join(lines)
    for i in range(0, len(text), SECTION_LIMIT):
        blocks.append(SectionBlock(text=MarkdownTextObject(text=text[i : i + SECTION_LIMIT])))
        if len(blocks) >= 48:
            break
    return blocks


def help_text() -> str:
    def keys(ks: Sequence[Key]) -> str:
        out = []
        for k in ks:
            alias = f" (or {', '.join(a + ':' for a in k.aliases)})" if k.aliases else ""
            req = " *required*" if k.required else ""
            out.append(f"• `{k.name}:` {k.label}{alias}{req}")
        return "\n".join(out)

    return "\n".join([
        "*Baton* keeps every cross-agency handoff and dependency owned, timed and escalated.",
        "",
        ("*Log a handoff* (referral, discharge or transfer the receiving service must "
        "acknowledge by a response deadline):"),
        ("`/handoff person: P-1042 to: Northside Home Care contact: intake desk 555-0100 "
        "due: tomorrow 5pm risk: short-term`"),
        keys(HANDOFF_KEYS),
        "",
        "*Log a dependency* (a missing external action care depends on):",
        ("`/dependency person: P-1042 action: unsigned authorization partner: County Managed "
        "Care risk: same-day safeguard: temporary hold on start, family informed`"),
        keys(DEPENDENCY_KEYS),
        "• `owner:` defaults to you. A same-day risk needs an interim safeguard.",
        "",
        ("*Times* are read in your Slack time zone: `tomorrow 5pm`, `friday 9am`, `EOD`, `COB`, "
        "`noon`, `in 2h`, `2 business days`, `2026-12-01 14:00`. A date alone means the end of "
        "that working day."),
        "",
        ("*Everything else:* `/baton list` · `/baton mine` · `/baton show H-3` · "
        "`/baton ack H-3` · `/baton respond H-3 accept|condition|clarify|decline TEXT` · "
        "`/baton resolve D-2 OUTCOME` · `/baton cancel H-3 REASON` · "
        "`/baton ladder` (who is paged, and when)"),
        "",
        ("*Escalation:* Baton reminds the owner before the deadline. If the partner has not "
        "acknowledged by then, the handoff is overdue and the ladder's first tier is paged "
        "here, each later tier after its delay, until someone presses Acknowledge and records "
        "the interim action."),
        "Person references are codes (P-1042), never names.",
    ])


# --- modals ---

def _text_input(key: Key, initial: str | None, *, multiline: bool = False, hint: str | None = None,
                optional: bool | None = None) -> InputBlock:
    return InputBlock(
        block_id=key.name,
        label=key.label,
        optional=(not key.required) if optional is None else optional,
        hint=hint,
        element=PlainTextInputElement(action_id=INPUT, initial_value=clip(initial, 3000) or None
                                      if initial else None, multiline=multiline, max_length=1000),
    )


def _user_input(key: Key, initial: str | None, *, optional: bool) -> InputBlock:
    return InputBlock(block_id=key.name, label=key.label, optional=optional,
                      element=UserSelectElement(action_id=INPUT, initial_user=initial or None))


def _risk_input(key: Key, initial: Risk | None, *, optional: bool) -> InputBlock:
    options = [Option(value=r.value, label=r.label) for r in Risk]
    chosen = next((o for o in options if initial and o.value == initial.value), None)
    return InputBlock(block_id=key.name, label=key.label, optional=optional,
                      element=StaticSelectElement(action_id=INPUT, options=options,
                                                  initial_option=chosen))


PERSON_HINT = "A code such as P-1042, never a name."


def create_modal(kind: RecordKind, fields: dict[str, str], *, owner: str | None,
                 manager: str | None, risk: Risk | None, channel_id: str,
                 missing: Sequence[str]) -> View:
    k = {key.name: key for key in KEYS[kind]}
    if kind is RecordKind.HANDOFF:
        blocks: list[Block] = [
            _text_input(k["person"], fields.get("person"), hint=PERSON_HINT),
            _text_input(k["to"], fields.get("to")),
            _text_input(k["contact"], fields.get("contact"), hint="Who at the receiving service, "
                        "and how to reach them."),
            _text_input(k["due"], fields.get("due"), hint="tomorrow 5pm · friday 9am · EOD · "
                        "in 2h · 2 business days · 2026-12-01 14:00"),
            _user_input(k["owner"], owner, optional=False),
            _text_input(k["route"], fields.get("route")),
            _risk_input(k["risk"], risk, optional=True),
            _text_input(k["note"], fields.get("note"), multiline=True),
        ]
        title, callback = "Log a handoff", ViewId.CREATE_HANDOFF
    else:
        blocks = [
            _text_input(k["person"], fields.get("person"), hint=PERSON_HINT),
            _text_input(k["action"], fields.get("action"), multiline=True,
                        hint="e.g. unsigned authorization, unreturned clinical advice, "
                        "absent discharge information"),
            _text_input(k["partner"], fields.get("partner")),
            _risk_input(k["risk"], risk, optional=False),
            _text_input(k["safeguard"], fields.get("safeguard"), multiline=True,
                        hint="Required for a same-day risk: temporary hold, alternative support, "
                        "internal review or commissioner notice."),
            _text_input(k["until"], fields.get("until"), hint="When the safeguard should end; "
                        "Baton escalates if it runs past. e.g. friday 5pm"),
            _text_input(k["route"], fields.get("route")),
            _text_input(k["review"], fields.get("review"), hint="Blank: within 2h for same-day "
                        "risk, otherwise end of the next working day."),
            _user_input(k["manager"], manager, optional=True),
            _user_input(k["owner"], owner, optional=False),
        ]
        title, callback = "Log a dependency", ViewId.CREATE_DEPENDENCY
    if missing:
        names = ", ".join(f"`{m}`" for m in missing)
        blocks.insert(0, SectionBlock(text=MarkdownTextObject(
            text=f"Still needed before Baton can log this: {names}.")))
    return View(type="modal", callback_id=callback, title=title, submit="Log it",
                close="Cancel", blocks=blocks,
                private_metadata=json.dumps({"channel": channel_id}))


def response_modal(record: Any) -> View:
    options = [Option(value=c.value, label=c.label) for c in ResponseCategory]
    return View(
        type="modal", callback_id=ViewId.RESPONSE, title="Record response", submit="Record",
        close="Cancel", private_metadata=json.dumps({"record": record.id}),
        blocks=[
            SectionBlock(text=MarkdownTextObject(
                text=f"*{record.reference}* {record.person_ref} → "
                     f"{escape(record.partner.display_name)}")),
            InputBlock(block_id="category", label="Partner response category",
                       element=StaticSelectElement(action_id=INPUT, options=options)),
            InputBlock(block_id="text", label="Condition, clarification requested, or reason",
                       optional=True, hint="Needed for everything but a plain accept.",
                       element=PlainTextInputElement(action_id=INPUT, multiline=True,
                                                     max_length=1000)),
        ],
    )


def reason_modal(record: Any, *, resolve: bool) -> View:
    if resolve:
        title = "Resolve" if record.kind == RecordKind.DEPENDENCY else "Close handoff"
        label, callback, submit = "Outcome", ViewId.RESOLVE, "Resolve"
    else:
        title, label, callback, submit = "Cancel record", "Reason", ViewId.CANCEL, "Cancel record"
    return View(
        type="modal", callback_id=callback, title=title, submit=submit, close="Back",
        private_metadata=json.dumps({"record": record.id}),
        blocks=[
            SectionBlock(text=MarkdownTextObject(
                text=f"*{record.reference}* {record.person_ref} → "
                     f"{escape(record.partner.display_name)}")),
            InputBlock(block_id="text", label=label,
                       element=PlainTextInputElement(action_id=INPUT, multiline=True,
                                                     max_length=1000)),
        ],
    )


def plain(text: str) -> PlainTextObject:
    return PlainTextObject(text=text)

