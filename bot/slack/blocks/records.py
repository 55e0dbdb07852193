"""Block Kit rendering: pure functions from records to slack_sdk block models."""

from __future__ import annotations

import json
import re
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
from bot.services.records import Change, Happened
from bot.slack.ids import INPUT, ActionId, ViewId
from store.models import AuditEvent, Record

# Slack's Block Kit limits, in characters. Anything longer is refused by Slack outright
# (invalid_blocks), so every free text passes through fit() or clip() on its way in.
SECTION_LIMIT = 3000  # a section's text, and a context element's
FIELD_LIMIT = 2000  # each of a section's fields (at most 10)
HEADER_LIMIT = 150  # a header block's plain text
BUTTON_TEXT_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
OPTION_TEXT_LIMIT = 75  # a select option's text
MODAL_TITLE_LIMIT = 24  # a modal's title, submit and close labels
MESSAGE_BLOCKS = 50  # blocks in a message
VIEW_BLOCKS = 100  # blocks in a modal or the App Home
MESSAGE_TEXT_LIMIT = 40_000  # a message's text (msg_too_long beyond)
REPLY_TEXT_LIMIT = 4000  # what Baton lets one ephemeral reply's text run to

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
    """Plain text (headers, buttons, modal errors) cut to `limit` characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fit(text: str, limit: int, *, ref: str | None = None) -> str:
    """mrkdwn shortened to Slack's `limit`, the one way every rendering module does it.

    Text that fits is returned as it is. Otherwise it is cut at a point that splits neither
    an escape (`&lt;`) nor one of Baton's own tokens (`<@U…>`, `<!date^…>`), and ends with a
    pointer to the full text: `/baton show REF` when there is a record, else an ellipsis."""
    if len(text) <= limit:
        return text
    tail = f"… _(cut short: `/baton show {ref}` has it all)_" if ref else "…"
    if len(tail) >= limit:
        tail = "…"
    cut = text[: limit - len(tail)]
    amp = cut.rfind("&", max(0, len(cut) - 5))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]  # an entity cut in half would show as "&am"
    lt = cut.rfind("<")
    if lt != -1 and ">" not in cut[lt:]:
        cut = cut[:lt]  # user text is escaped, so a raw "<" opens one of Baton's tokens
    return cut.rstrip() + tail


def chunks(text: str, limit: int) -> list[str]:
    """mrkdwn split into pieces of at most `limit` characters, at line ends where it can be
    and never inside an escape or a token, for text that must be shown whole."""
    out: list[str] = []
    while len(text) > limit:
        piece = text[:limit]
        newline = piece.rfind("\n")
        if newline > limit // 2:
            piece = piece[: newline + 1]
        else:
            amp = piece.rfind("&", max(0, len(piece) - 5))
            if amp > 0 and ";" not in piece[amp:]:
                piece = piece[:amp]
            lt = piece.rfind("<")
            if lt > 0 and ">" not in piece[lt:]:
                piece = piece[:lt]
        out.append(piece)
        text = text[len(piece):]
    if text:
        out.append(text)
    return out


def slack_date(when: datetime, fmt: str = "{date_short_pretty} at {time}") -> str:
    """Slack's date token: every reader sees it in their own time zone."""
    fallback = when.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(when.timestamp())}^{fmt}|{fallback}>"


_USER_ID = re.compile(r"[UWB][A-Z0-9]{2,}")


def user(user_id: str | None) -> str:
    """A mention of a Slack user ID; anything that is not one is shown, escaped, as text."""
    if user_id == "baton":  # what the time engine did by itself
        return "Baton"
    if not user_id:
        return "—"
    return f"<@{user_id}>" if _USER_ID.fullmatch(user_id) else escape(user_id)


def _field(label: str, value: str, ref: str | None = None) -> MarkdownTextObject:
    return MarkdownTextObject(text=fit(f"*{label}*\n{value}", FIELD_LIMIT, ref=ref))


def record_title(record: Record) -> str:
    """Plain text (the card's header); escape() it on the way into mrkdwn."""
    kind = "Handoff" if record.kind == RecordKind.HANDOFF else "Dependency"
    return f"{kind} {record.reference} · {record.person_ref}"


def record_fields(record: Record) -> list[MarkdownTextObject]:
    risk = Risk(record.risk).label if record.risk else "not rated"
    ref = record.reference
    if record.kind == RecordKind.HANDOFF:
        fields = [
            _field("Receiving service", escape(record.partner.display_name), ref),
            _field("Receiving contact", escape(record.receiving_contact), ref),
            _field("Response deadline", slack_date(record.due_at)),
            _field("Internal owner", user(record.owner_id)),
            _field("Continuity risk", risk),
            _field("Status", STATUS_BADGE.get(record.status, record.status)),
        ]
        if record.route:
            fields.append(_field("Referral route", escape(record.route), ref))
        if record.response_category:
            label = ResponseCategory(record.response_category).label
            text = f": {escape(record.response_text)}" if record.response_text else ""
            fields.append(_field("Partner response", f"{label}{text}", ref))
    else:
        fields = [
            _field("Partner agency", escape(record.partner.display_name), ref),
            _field("Risk rating", risk),
            _field("Next review time", slack_date(record.due_at)),
            _field("Internal lead", user(record.owner_id)),
            _field("Management owner", user(record.manager_id)),
            _field("Status", STATUS_BADGE.get(record.status, record.status)),
        ]
        if record.route:
            fields.append(_field("Partner route used", escape(record.route), ref))
    return fields[:10]  # a section holds at most 10 fields


def _long_texts(record: Record, *, whole: bool = False) -> list[tuple[str, str]]:
    """The record's free-text paragraphs, labelled, escaped, in card order; `whole` adds
    the partner's response, which the card shows (shortened) among its fields."""
    out: list[tuple[str, str]] = []
    if record.kind == RecordKind.DEPENDENCY:
        out.append(("Missing external action", escape(record.missing_action)))
        out.append(("Interim safeguard", escape(record.interim_safeguard) or "_none recorded_"))
    if record.kind == RecordKind.HANDOFF and record.note:
        out.append(("Note", escape(record.note)))
    if whole and getattr(record, "response_text", None):
        out.append(("Partner response", escape(record.response_text)))
    closing = record.outcome or record.cancel_reason
    if closing:
        out.append(("Reason" if record.status == "cancelled" else "Outcome", escape(closing)))
    return out


def record_card(record: Record) -> list[Block]:
    blocks: list[Block] = [HeaderBlock(text=clip(record_title(record), HEADER_LIMIT))]
    texts = _long_texts(record)
    fields_at = 2 if record.kind == RecordKind.DEPENDENCY else 0
    for i, (label, text) in enumerate(texts):
        if i == fields_at:
            blocks.append(SectionBlock(fields=record_fields(record)))
        blocks.append(SectionBlock(text=MarkdownTextObject(
            text=fit(f"*{label}*\n{text}", SECTION_LIMIT, ref=record.reference))))
    if len(texts) <= fields_at:
        blocks.append(SectionBlock(fields=record_fields(record)))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(
        text=f"Logged by {user(record.created_by)} {slack_date(record.created_at)} · "
             f"`/baton show {record.reference}` for the audit trail"
    )]))
    if is_open(record.status):
        blocks.append(ActionsBlock(block_id=f"record:{record.id}", elements=record_buttons(record)))
    return blocks


def record_buttons(record: Record) -> list[ButtonElement]:
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


def card_text(record: Record) -> str:
    """Notification fallback text: no free text, nothing that can leak beyond the codes."""
    return f"{escape(record_title(record))} — {record.status} — due {slack_date(record.due_at)}"


def confirmation(record: Record) -> str:
    what = "Response deadline" if record.kind == RecordKind.HANDOFF else "Next review"
    return (f":white_check_mark: Logged *{record.reference}* for {escape(record.person_ref)} with "
            f"{escape(record.partner.display_name)}. {what}: {slack_date(record.due_at)}, "
            f"owner {user(record.owner_id)}.")


def record_line(record: Record) -> str:
    badge = STATUS_BADGE.get(record.status, record.status)
    risk = f" · {Risk(record.risk).label}" if record.risk else ""
    line = (f"*{record.reference}* {escape(record.person_ref)} → "
            f"{escape(record.partner.display_name)} · due {slack_date(record.due_at)} · "
            f"{user(record.owner_id)} · {badge}{risk}")
    return fit(line, SECTION_LIMIT, ref=record.reference)


def record_list(title: str, records: Sequence[Record], empty: str) -> list[Block]:
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=f"*{title}*"))]
    if not records:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=empty)))
        return blocks
    # Rows packed into sections of at most 3,000 characters, every row whole; what does not
    # fit in one message is counted, not cut off unannounced.
    room = MESSAGE_BLOCKS - 2  # the title above, the count below
    shown, text = 0, ""
    for record in records:
        line = record_line(record)
        if text and len(text) + 1 + len(line) <= SECTION_LIMIT:
            text = f"{text}\n{line}"
        elif len(blocks) <= room - (1 if text else 0):
            if text:
                blocks.append(SectionBlock(text=MarkdownTextObject(text=text)))
            text = line
        else:
            break
        shown += 1
    if text:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=text)))
    if shown < len(records):
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=f"…and {len(records) - shown} more.")]))
    return blocks


def _event_text(event: AuditEvent) -> str:
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


def record_detail(record: Record, events: Sequence[AuditEvent]) -> list[Block]:
    """`/baton show REF`: the card with every free text whole (the card itself shortens
    them and points here), then the audit trail, within one message's 50 blocks."""
    blocks: list[Block] = [HeaderBlock(text=clip(record_title(record), HEADER_LIMIT)),
                           SectionBlock(fields=record_fields(record))]
    for label, text in _long_texts(record, whole=True):
        for piece in chunks(f"*{label}*\n{text}", SECTION_LIMIT):
            blocks.append(SectionBlock(text=MarkdownTextObject(text=piece)))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(
        text=f"Logged by {user(record.created_by)} {slack_date(record.created_at)}")]))
    blocks.append(DividerBlock())
    lines = [f"*Audit trail* ({len(events)} events)"]
    lines += [fit(_event_text(e), SECTION_LIMIT) for e in events]
    for piece in chunks("\n".join(lines), SECTION_LIMIT):
        if len(blocks) >= MESSAGE_BLOCKS - 1:
            blocks.append(ContextBlock(elements=[MarkdownTextObject(
                text="…the trail runs on: `baton report` has every event.")]))
            break
        blocks.append(SectionBlock(text=MarkdownTextObject(text=piece)))
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


def response_modal(record: Record) -> View:
    options = [Option(value=c.value, label=c.label) for c in ResponseCategory]
    return View(
        type="modal", callback_id=ViewId.RESPONSE, title="Record response", submit="Record",
        close="Cancel", private_metadata=json.dumps({"record": record.id}),
        blocks=[
            SectionBlock(text=MarkdownTextObject(
                text=f"*{record.reference}* {escape(record.person_ref)} → "
                     f"{escape(record.partner.display_name)}")),
            InputBlock(block_id="category", label="Partner response category",
                       element=StaticSelectElement(action_id=INPUT, options=options)),
            InputBlock(block_id="text", label="Condition, clarification requested, or reason",
                       optional=True, hint="Needed for everything but a plain accept.",
                       element=PlainTextInputElement(action_id=INPUT, multiline=True,
                                                     max_length=1000)),
        ],
    )


def reason_modal(record: Record, *, resolve: bool) -> View:
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
                text=f"*{record.reference}* {escape(record.person_ref)} → "
                     f"{escape(record.partner.display_name)}")),
            InputBlock(block_id="text", label=label,
                       element=PlainTextInputElement(action_id=INPUT, multiline=True,
                                                     max_length=1000)),
        ],
    )


def change_line(change: Change) -> str:
    """The one line a change adds to its card's thread (and to the reply that confirms it);
    empty when the change tells the thread nothing."""
    event = change.event
    if event is None:
        return ""
    by, text = f"<@{event.actor}>", escape(event.text)
    match event.what:
        case Happened.LOGGED:
            return f"Logged by {by}."
        case Happened.ACKNOWLEDGED:
            late = " (late: after the response deadline)" if event.late else ""
            return f"Partner acknowledged receipt, recorded by {by}{late}."
        case Happened.RESPONDED:
            label = event.category.label if event.category else ""
            line = (f"Partner response: *{label}*" + (f": {text}" if event.text else "")
                    + f", recorded by {by}.")
            return f"Partner acknowledged receipt. {line}" if event.implied_ack else line
        case Happened.RESOLVED:
            return f"Resolved by {by}: {text}"
        case Happened.CLOSED:
            return f"Closed by {by}: {text}"
        case Happened.CANCELLED:
            return f"Cancelled by {by}: {text}"
        case Happened.INTERIM_ACTION:
            moved = " Next review moved." if event.review_moved else ""
            return f"Interim action recorded by {by}: {text}{moved}"
        case Happened.NEXT_ACTION:
            due = slack_date(event.due) if event.due else ""
            return f"Next action for <@{event.owner}> by {due}: {text} (set by {by})."
        case Happened.PAGE_ACKNOWLEDGED:
            return f"Escalation tier {event.tier} acknowledged by {by}."
    return ""


def plain(text: str) -> PlainTextObject:
    return PlainTextObject(text=text)

