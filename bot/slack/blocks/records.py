"""Block Kit rendering: pure functions from records to slack_sdk block models, and the
line a change adds to its card's thread. Text goes through bot/slack/blocks/text.py."""

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

from bot.domain.edits import EDITABLE, current_values, fingerprint, form_text
from bot.domain.edits import label as key_label
from bot.domain.grammar import DEPENDENCY_KEYS, HANDOFF_KEYS, KEYS, Key
from bot.domain.records import RecordKind, ResponseCategory, Risk, is_open
from bot.services.records import Change, Happened
from bot.slack.blocks.audit import event_sentence
from bot.slack.ids import INPUT, ActionId, ViewId
from store.models import AuditEvent, Record

# isort: off
# The text helpers, re-exported: pages, cards, handlers and tests import them from here too.
from bot.slack.blocks.text import (
    SECTION_LIMIT as SECTION_LIMIT,
    FIELD_LIMIT as FIELD_LIMIT,
    HEADER_LIMIT as HEADER_LIMIT,
    BUTTON_TEXT_LIMIT as BUTTON_TEXT_LIMIT,
    BUTTON_VALUE_LIMIT as BUTTON_VALUE_LIMIT,
    OPTION_TEXT_LIMIT as OPTION_TEXT_LIMIT,
    MODAL_TITLE_LIMIT as MODAL_TITLE_LIMIT,
    MESSAGE_BLOCKS as MESSAGE_BLOCKS,
    VIEW_BLOCKS as VIEW_BLOCKS,
    MESSAGE_TEXT_LIMIT as MESSAGE_TEXT_LIMIT,
    REPLY_TEXT_LIMIT as REPLY_TEXT_LIMIT,
    channel as channel,
    chunks as chunks,
    clip as clip,
    escape as escape,
    fit as fit,
    plural as plural,
    slack_date as slack_date,
    user as user,
)
# isort: on

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
        if record.status in ("acknowledged", "responded"):
            # Acknowledged: it can be closed with its outcome, with or without a formal
            # response (bot/domain/records.py's lifecycle).
            buttons.append(ButtonElement(text="Close", action_id=ActionId.RESOLVE, value=value))
    else:
        buttons = [ButtonElement(text="Resolve", action_id=ActionId.RESOLVE, value=value,
                                 style="primary")]
    buttons.append(ButtonElement(text="Edit", action_id=ActionId.EDIT, value=value))
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
    lines = [f"*Audit trail* ({plural(len(events), 'event')})"]
    lines += [fit(event_sentence(e), SECTION_LIMIT) for e in events]
    for piece in chunks("\n".join(lines), SECTION_LIMIT):
        if len(blocks) >= MESSAGE_BLOCKS - 1:
            blocks.append(ContextBlock(elements=[MarkdownTextObject(
                text="…the trail runs on: `baton report` has every event.")]))
            break
        blocks.append(SectionBlock(text=MarkdownTextObject(text=piece)))
    return blocks


# Every `/baton` sub-command, as `/baton help` lists it: (usage, what it does), by the word
# handlers/commands.py's SUBCOMMANDS dispatches on (a test checks none is missing).
BATON_HELP: dict[str, tuple[str, str]] = {
    "list": ("/baton list", "this channel's open records, soonest deadline first"),
    "mine": ("/baton mine", "the open records you own or manage"),
    "person": ("/baton person P-1042", "everything open for one person: handoffs, "
               "dependencies and trackers with their open steps, most urgent first"),
    "show": ("/baton show H-3", "a record in full, with its audit trail (T-12: a tracker)"),
    "edit": ("/baton edit H-3 due: friday 5pm risk: same-day",
             "change a record: the same keys as logging, except who and what it is about"),
    "ack": ("/baton ack H-3", "the partner acknowledged the handoff"),
    "respond": ("/baton respond H-3 accept|condition|clarify|decline TEXT",
                "the partner's response: accept, accept with a condition, ask for "
                "clarification, or decline with a reason"),
    "resolve": ("/baton resolve D-2 OUTCOME", "close a dependency with its outcome"),
    "close": ("/baton close H-3 OUTCOME", "close a handoff with its outcome"),
    "cancel": ("/baton cancel H-3 REASON", "cancel a record (or tracker) logged in error"),
    "start": ("/baton start TEMPLATE person: P-1042 at: TIME", "start a pathway tracker "
              "(transition, discharge, service-change, health-change, provisional)"),
    "step": ("/baton step T-12 STEP done|blocked|na|refused TEXT", "record a tracker's step"),
    "proceed": ("/baton proceed T-12", "the move goes ahead (refused while a gate is open)"),
    "contact": ("/baton contact T-12 attempted|reached NOTE", "log a contact attempt"),
    "decide": ("/baton decide T-12 DECISION TEXT", "the decision a tracker waits for"),
    "set": ("/baton set T-12 funding-start: DATE", "a tracker's date given later"),
    "ladder": ("/baton ladder", "who is paged, and when; admins: `/baton ladder use NAME`, "
               "`/baton ladder reset`"),
    "coordinator": ("/baton coordinator @someone [today|mon,wed]",
                    "name the coordinator of the day (`/baton coordinator` shows the week; "
                    "`/baton coordinator cover @someone from DATE to DATE`)"),
    "huddle": ("/baton huddle", "post this channel's roster for the daily huddle"),
    "partner": ("/baton partner NAME", "a partner's acknowledgement and response figures"),
    "report": ("/baton report [from DATE to DATE]",
               "the evidence report for this channel (default: the last 30 days)"),
    "help": ("/baton help", "this help"),
}

COMMAND_NAMES = ("/handoff", "/dependency", "/baton")

UNKNOWN_BUTTON = (":warning: That button is not one Baton knows (it may be on an old "
                  "message): nothing was changed. `/baton show REF` has the record as it is "
                  "now.")


def unknown_command_text(typed: str) -> str:
    """A slash command Baton has not got, answered with the ones it has (and help)."""
    shown = escape(typed[:40]) or "that command"
    return (f":warning: Baton has no `{shown}` command: its commands are `/handoff`, "
            "`/dependency` and `/baton`. `/baton help` lists every key, example and "
            "sub-command; here it is:")


def unknown_command_blocks(typed: str) -> list[Block]:
    """The same, with the whole help after it as sections (one text would be cut)."""
    return [SectionBlock(text=MarkdownTextObject(text=unknown_command_text(typed))),
            *help_blocks()]


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
        ("*Times* are read in your Slack time zone: `tomorrow 5pm` (`tmrw 5p`), `friday 9am`, "
        "`next tue 9am`, `first thing tomorrow`, `noon`, `in 2h`, `2 business days`, `EOD`, "
        "`end of week`, or a date and time such as `Dec 14 2pm`. A date alone means the end of "
        "that working day; a weekend day or holiday means the working day before, and Baton "
        "says so."),
        "",
        "*Everything else:*",
        *(f"• `{usage}` — {what}" for usage, what in BATON_HELP.values()),
        "",
        ("*Escalation:* Baton reminds the owner before the deadline. If the partner has not "
        "acknowledged by then, the handoff is overdue and the ladder's first tier is paged "
        "here, each later tier after its delay, until someone presses Acknowledge and records "
        "the interim action."),
        "Person references are codes (P-1042), never names.",
    ])


def help_blocks() -> list[Block]:
    """The help as sections: whole, where one reply's text would be cut at 4,000 characters
    (the text goes with it as the notification's fallback)."""
    return [SectionBlock(text=MarkdownTextObject(text=piece))
            for piece in chunks(help_text(), SECTION_LIMIT)]


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


def _risk_input(key: Key, initial: Risk | None, *, optional: bool,
                hint: str | None = None) -> InputBlock:
    options = [Option(value=r.value, label=r.label) for r in Risk]
    chosen = next((o for o in options if initial and o.value == initial.value), None)
    return InputBlock(block_id=key.name, label=key.label, optional=optional, hint=hint,
                      element=StaticSelectElement(action_id=INPUT, options=options,
                                                  initial_option=chosen))


def _safeguard_input(key: Key, initial: str | None, risk: Risk | None) -> InputBlock:
    """The interim safeguard: required (Slack marks it so) when the risk is same-day, and
    its label says when it is needed otherwise (the risk may still be changed to same-day
    in the form)."""
    same_day = risk is Risk.SAME_DAY
    block = _text_input(key, initial, multiline=True, optional=not same_day,
                        hint="A temporary hold, alternative support, internal review or "
                             "commissioner notice.")
    if not same_day:
        block.label = plain(f"{key.label} (required for a same-day risk)")
    return block


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
            _text_input(k["due"], fields.get("due"), hint="tomorrow 5pm · fri 3p · next tue 9am · "
                        "first thing tomorrow · in 2h · 2 business days"),
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
            _safeguard_input(k["safeguard"], fields.get("safeguard"), risk),
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


def response_modal(record: Record, *, category: ResponseCategory | None = None,
                   text: str = "") -> View:
    """The Record-response form; prefilled with a category and text when given (the
    name guard's Edit, with what was typed)."""
    options = [Option(value=c.value, label=c.label) for c in ResponseCategory]
    chosen = next((o for o in options if category and o.value == category.value), None)
    return View(
        type="modal", callback_id=ViewId.RESPONSE, title="Record response", submit="Record",
        close="Cancel", private_metadata=json.dumps({"record": record.id}),
        blocks=[
            SectionBlock(text=MarkdownTextObject(
                text=f"*{record.reference}* {escape(record.person_ref)} → "
                     f"{escape(record.partner.display_name)}")),
            InputBlock(block_id="category", label="Partner response category",
                       element=StaticSelectElement(action_id=INPUT, options=options,
                                                   initial_option=chosen)),
            InputBlock(block_id="text", label="Condition, clarification requested, or reason",
                       optional=True, hint="Needed for everything but a plain accept.",
                       element=PlainTextInputElement(action_id=INPUT, multiline=True,
                                                     max_length=1000,
                                                     initial_value=text[:1000] or None)),
        ],
    )


def reason_modal(record: Record, *, resolve: bool, text: str = "") -> View:
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
                                                     max_length=1000,
                                                     initial_value=text[:1000] or None)),
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
            rerated = f" {change_words(change)}." if event.changes else ""
            return f"Interim action recorded by {by}: {text}{moved}{rerated}"
        case Happened.EDITED:
            return f"Edited by {by}: {change_words(change)}."
        case Happened.NEXT_ACTION:
            due = slack_date(event.due) if event.due else ""
            return f"Next action for <@{event.owner}> by {due}: {text} (set by {by})."
        case Happened.PAGE_ACKNOWLEDGED:
            return f"Escalation tier {event.tier} acknowledged by {by}."
    return ""


# How an edited field's value reads: free text too long for one line is only said to change.
_SAID_CHANGED = frozenset({"note", "safeguard"})


def _value_words(key: str, value: Any) -> str:
    # The card's and the audit trail's words: "Short-term", "not rated", "—".
    if value is None or value == "":
        return "not rated" if key == "risk" else "—"
    if isinstance(value, Risk):
        return value.label
    if isinstance(value, datetime):
        return slack_date(value)
    if key in ("owner", "manager"):
        return user(value)
    return f"“{escape(clip(str(value), 80))}”"


def change_words(change: Change) -> str:
    """An edit's fields, in words: "risk short-term → same-day; response deadline …"."""
    event = change.event
    if event is None:
        return ""
    kind = RecordKind(change.record.kind)
    parts = []
    for c in event.changes:
        name = key_label(kind, c.key).lower()
        if c.key in _SAID_CHANGED and c.after:
            parts.append(f"{name} {'updated' if c.before else 'added'}")
        else:
            parts.append(f"{name} {_value_words(c.key, c.before)} → "
                         f"{_value_words(c.key, c.after)}")
    return "; ".join(parts)


def edit_reply(change: Change) -> str:
    """What the person who edited is told: the change, and what it means for the deadlines."""
    record = change.record
    event = change.event
    if event is None:
        return (f"{record.reference}: nothing to change, those are already its values. "
                "Nothing was written.")
    keys = {c.key for c in event.changes}
    out = [f":white_check_mark: {record.reference}: {change_line(change)}"]
    if keys & {"due", "review"}:
        if record.kind == RecordKind.HANDOFF and record.status != "pending":
            out.append("The partner has already acknowledged, so no reminder or page is "
                       "planned for the new deadline.")
        else:
            out.append(f"Reminders and escalation now count from {slack_date(record.due_at)}; "
                       "those for the old time are cancelled.")
    if "until" in keys:
        out.append(f"Baton checks the safeguard's end at {slack_date(record.safeguard_until)} "
                   "and escalates if it runs past." if record.safeguard_until
                   else "No safeguard end is checked any more.")
    if "risk" in keys:
        out.append(f"{record.reference} keeps the escalation ladder it started with; a new "
                   "risk rating chooses the ladder only for records logged from now on.")
    return "\n".join((" ".join(out), *change.notes))


def edit_modal(record: Record, *, tz: Any) -> View:
    """The card's Edit form: every editable field, prefilled with what the record holds
    (times in the reader's zone). private_metadata keeps a fingerprint of each box as
    opened, so only the boxes changed are read on submit."""
    kind = RecordKind(record.kind)
    k = {key.name: key for key in KEYS[kind]}
    current = current_values(kind, record)
    shown = {key: form_text(kind, key, current[key], tz=tz) for key in EDITABLE[kind]}
    hints = {
        "due": "tomorrow 5pm · friday 9am · EOD · in 2h · 2026-12-01 14:00",
        "review": "tomorrow 9am · in 2h · 2 business days",
        "until": "When the safeguard should end; Baton escalates if it runs past.",
        "safeguard": "Required for a same-day risk.",
        "risk": "A record keeps the escalation ladder it started with.",
    }
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=fit(
        f"*{record.reference}* {escape(record.person_ref)} → "
        f"{escape(record.partner.display_name)}. Change what you need; untouched fields "
        "stay as they are.", SECTION_LIMIT)))]
    for key in EDITABLE[kind]:
        required = key in ("contact", "due", "owner", "review") or (
            key == "risk" and kind is RecordKind.DEPENDENCY)
        if key in ("owner", "manager"):
            blocks.append(_user_input(k[key], current[key], optional=not required))
        elif key == "risk":
            blocks.append(_risk_input(k[key], current[key], optional=not required,
                                      hint=hints["risk"]))
        else:
            blocks.append(_text_input(k[key], shown[key] or None, hint=hints.get(key),
                                      multiline=key in ("note", "safeguard"),
                                      optional=not required))
    opened = {key: fingerprint(text) for key, text in shown.items()}
    return View(type="modal", callback_id=ViewId.EDIT, title=clip(f"Edit {record.reference}",
                                                                   MODAL_TITLE_LIMIT),
                submit="Save", close="Back", blocks=blocks,
                private_metadata=json.dumps({"record": record.id, "opened": opened},
                                            separators=(",", ":")))


def plain(text: str) -> PlainTextObject:
    return PlainTextObject(text=text)

