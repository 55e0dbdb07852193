"""The warning shown before something is posted (bot/services/guard.py): likely person names
in free text, an open record for the same person and partner. In a reply: the warning and
Edit / Post anyway / Cancel buttons. In a form: the same form again, as filled in, with the
warning and a "Post anyway" tick box above the submit button."""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from bot.domain.records import RecordKind
from bot.services.guard import DUPLICATE, NAMES, Findings
from bot.slack.blocks.text import SECTION_LIMIT, clip, escape
from bot.slack.ids import INPUT, ActionId, GuardBlock

NOT_POSTED = "Nothing has been posted yet."


SHOWN_PER_FIELD = 8  # words listed per field; the rest counted


def _names_lines(findings: Findings) -> list[str]:
    lines = []
    for name, words in findings.names.items():
        listed = ", ".join(f"“{escape(clip(w, 60))}”" for w in words[:SHOWN_PER_FIELD])
        if len(words) > SHOWN_PER_FIELD:
            listed += f" and {len(words) - SHOWN_PER_FIELD} more"
        lines.append(f"• `{name}`: {listed} "
                     f"{'looks like a' if len(words) == 1 else 'look like'} person's "
                     f"name{'' if len(words) == 1 else 's'}.")
    return lines


def _duplicate_line(findings: Findings, link: str | None) -> str:
    d = findings.duplicate
    assert d is not None
    kind = "handoff to" if d.kind == RecordKind.HANDOFF else "dependency on"
    where = f"<{link}|{d.reference}>" if link else f"{d.reference} in <#{d.channel_id}>"
    return (f"• {escape(d.person_ref)} already has an open {kind} {escape(d.partner)}: "
            f"{where}.")


def warning_text(findings: Findings, *, link: str | None = None, form: bool = False) -> str:
    """The warning in words (mrkdwn): what was found, per field, and the choice."""
    lines = [":raised_hand: Before I post this:"]
    lines += _names_lines(findings)
    if findings.names:
        lines.append("  Channels are shared: name people by role or code (daughter, P-1042), "
                     "not by name.")
    if findings.duplicate:
        lines.append(_duplicate_line(findings, link))
    if form:
        lines.append("Change the form, or tick *Post anyway* and submit again.")
    else:
        lines.append(f"{NOT_POSTED} *Edit* to change it, *{proceed_label(findings)}* to "
                     "log it as typed.")
    return clip("\n".join(lines), SECTION_LIMIT)


def proceed_label(findings: Findings) -> str:
    return "Post anyway" if findings.names else "Log anyway"


def warning_blocks(findings: Findings, *, value: str | None, link: str | None,
                   edit: bool = True) -> list[dict[str, Any]]:
    """The reply: the warning, and its buttons. `value` (what was typed, for the buttons) is
    None when it was too long to carry: then only Cancel is offered, and the text says so."""
    text = warning_text(findings, link=link)
    if value is None:
        text = clip(text + "\nWhat you typed is too long to carry on a button: shorten it "
                    "and run the command again.", SECTION_LIMIT)
    buttons: list[dict[str, Any]] = []
    if value is not None:
        if edit:
            buttons.append(_button("Edit", ActionId.GUARD_EDIT, value))
        buttons.append(_button(proceed_label(findings), ActionId.GUARD_PROCEED, value,
                               style="danger" if findings.names else "primary"))
    buttons.append(_button("Cancel", ActionId.GUARD_CANCEL, "cancel"))
    return [{"type": "section", "block_id": GuardBlock.WARNING,
             "text": {"type": "mrkdwn", "text": text}},
            {"type": "actions", "block_id": GuardBlock.CHOICE, "elements": buttons}]


def _button(label: str, action_id: str, value: str, style: str | None = None
            ) -> dict[str, Any]:
    button: dict[str, Any] = {"type": "button", "action_id": action_id, "value": value,
                              "text": {"type": "plain_text", "text": label}}
    if style:
        button["style"] = style
    return button


_VIEW_KEYS = ("type", "callback_id", "title", "submit", "close", "private_metadata",
              "clear_on_close", "notify_on_close", "external_id")


def form_with_warning(view: dict[str, Any], values: dict[str, str], findings: Findings,
                      *, link: str | None = None) -> dict[str, Any]:
    """The submitted form again (for response_action "update"), each input holding what was
    submitted, with the warning and a "Post anyway" tick box (block GuardBlock.CONFIRM, its
    value the choices it confirms) at the end. A warning already there is replaced."""
    out = {k: copy.deepcopy(view[k]) for k in _VIEW_KEYS if k in view}
    blocks = [copy.deepcopy(b) for b in view.get("blocks") or []
              if b.get("block_id") not in (GuardBlock.WARNING, GuardBlock.CONFIRM)]
    for block in blocks:
        if block.get("type") == "input" and block.get("block_id") in values:
            _set_initial(block["element"], values[block["block_id"]])
    # The tick confirms these choices for the form exactly as it now stands: changed after
    # the warning, it is checked again (confirmed_in_form compares the fingerprint).
    choices = " ".join([*sorted(findings.kinds), _FINGERPRINT + form_fingerprint(values)])
    label = proceed_label(findings)
    blocks.append({"type": "section", "block_id": GuardBlock.WARNING,
                   "text": {"type": "mrkdwn",
                            "text": warning_text(findings, link=link, form=True)}})
    blocks.append({"type": "input", "block_id": GuardBlock.CONFIRM, "optional": True,
                   "label": {"type": "plain_text", "text": label},
                   "element": {"type": "checkboxes", "action_id": INPUT, "options": [{
                       "text": {"type": "plain_text", "text": f"{label}, as written"},
                       "value": choices}]}})
    out["blocks"] = blocks
    return out


def _set_initial(element: dict[str, Any], value: str) -> None:
    kind = element.get("type")
    if kind == "plain_text_input":
        if value:
            element["initial_value"] = value
        else:
            element.pop("initial_value", None)
    elif kind == "users_select":
        if value:
            element["initial_user"] = value
        else:  # cleared by the person: shown cleared, not as it was
            element.pop("initial_user", None)
    elif kind in ("static_select", "radio_buttons"):
        option = next((o for o in element.get("options") or [] if o.get("value") == value),
                      None)
        if option is not None:
            element["initial_option"] = option
        else:
            element.pop("initial_option", None)
    elif kind == "datepicker" and value:
        element["initial_date"] = value


_FINGERPRINT = "form:"


def form_fingerprint(values: dict[str, str]) -> str:
    """A short digest of what a form holds (every answer but the tick box itself)."""
    held = sorted((k, v) for k, v in values.items() if k != GuardBlock.CONFIRM)
    return hashlib.sha256(json.dumps(held, ensure_ascii=False).encode()).hexdigest()[:16]


def confirmed_in_form(values: dict[str, str]) -> list[str]:
    """The choices the form's tick box confirms: none if not ticked, or if the form was
    changed after the warning (the new text may hold a name nobody was warned about)."""
    ticked = values.get(GuardBlock.CONFIRM, "").split()
    stamp = next((t[len(_FINGERPRINT):] for t in ticked if t.startswith(_FINGERPRINT)), None)
    if stamp != form_fingerprint(values):
        return []
    return [c for c in ticked if c in (NAMES, DUPLICATE)]
