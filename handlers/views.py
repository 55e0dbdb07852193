"""Modal submissions. Validation runs before the ack so field errors show in the modal;
the record is written in the same step, and the card is posted after Slack has its answer."""

from __future__ import annotations

import logging

from slack_bolt import Ack, App, BoltContext

from bot.domain.drafts import DraftErrors
from bot.domain.records import Action, DomainError, RecordKind, read_category, read_risk
from bot.domain.slack_ids import CHANNEL_ID, FIELD_ERROR_LIMIT
from bot.domain.times import TimeReadError, read_deadline
from bot.services.guard import Findings, NeedsConfirmation
from bot.services.records import Change
from bot.slack.blocks.guard import confirmed_in_form, form_with_warning
from bot.slack.blocks.records import clip, edit_reply
from bot.slack.cards import Cards, Replies
from bot.slack.ids import GuardBlock, ViewId
from handlers.commands import _publish
from handlers.common import field_error, guarded
from handlers.context import Services, SlackRequest, services, slack

log = logging.getLogger("baton.handlers")


def _field_errors(errors: dict[str, str], blocks_present: set[str]) -> dict[str, str]:
    """Slack shows an error under the input whose block_id it names; an error about a field
    the form lacks goes under the first input rather than being lost."""
    out: dict[str, str] = {}
    fallback = min(blocks_present) if blocks_present else None
    for name, message in errors.items():
        block = name if name in blocks_present or fallback is None else fallback
        # Slack shows the error under its field, so "due: …" need not name the field again.
        # Under its field, the key need not be named: "due: …", "(`safeguard:`)".
        text = field_error(message.replace(f" (`{name}:`)", "").replace("`", "")
                           .removeprefix(f"{name}: "))
        out[block] = clip(f"{out[block]} {text}", FIELD_ERROR_LIMIT) if block in out else text
    return out


def create_handoff(ack: Ack, context: BoltContext) -> None:
    create(RecordKind.HANDOFF, services(context), slack(context), ack)


def create_dependency(ack: Ack, context: BoltContext) -> None:
    create(RecordKind.DEPENDENCY, services(context), slack(context), ack)


def create(kind: RecordKind, s: Services, req: SlackRequest, ack: Ack) -> None:
    """The /handoff or /dependency form: the record logged, or the form's field errors."""
    user, values = req.user_id, req.form
    channel = req.metadata.get("channel")
    present = set(values)
    if not (isinstance(channel, str) and CHANNEL_ID.fullmatch(channel)):
        ack(response_action="errors", errors=_field_errors(
            {"person": "This form lost its channel; run the command again."}, present))
        return
    confirmed = confirmed_in_form(values)
    fields = {k: v for k, v in values.items() if k != GuardBlock.CONFIRM}
    try:
        change = s.create_record(kind, fields, team=req.team_id, channel=channel, user=user,
                                 request_key=f"view:{req.view_id}", confirmed=confirmed)
    except (NeedsConfirmation, DraftErrors, DomainError) as exc:
        _refuse_in_form(ack, req, exc, present)
        return
    ack()
    if change.created:
        replies = Replies(s.client)
        s.defer(guarded(replies, user=user, channel=channel, response_url=None)(
            lambda: _publish(Cards(s.client, s.records), replies, change, user=user,
                             response_url=None)))


def _ask_in_form(ack: Ack, req: SlackRequest, exc: NeedsConfirmation) -> None:
    """The same form again, as filled in, with the warning and a "Post anyway" tick box;
    nothing saved. (No permalink here: the form's answer has 3 seconds.)"""
    log.info("asked %s in a form before posting: %s", req.user_id, exc.findings.describe())
    ack(response_action="update", view=form_with_warning(req.view, req.form, exc.findings))


def _refuse_in_form(ack: Ack, req: SlackRequest, exc: Exception, present: set[str]) -> None:
    """A logging or Edit form not taken: asked again about a likely name, or each bad field
    named beside it; nothing saved."""
    if isinstance(exc, NeedsConfirmation):
        _ask_in_form(ack, req, exc)
    elif isinstance(exc, DraftErrors):
        ack(response_action="errors", errors=_field_errors(exc.errors, present))
    else:
        field = exc.field if isinstance(exc, DomainError) else None
        ack(response_action="errors", errors=_field_errors({field or "": str(exc)}, present))


def _guarded_text(s: Services, req: SlackRequest, record_id: int, action: Action, name: str,
                  text: str) -> Findings:
    """The name guard on a form's free text; NeedsConfirmation unless the tick box says.
    What would be refused anyway is refused first."""
    s.records.precheck(team_id=req.team_id, ref=record_id, actor=req.user_id, action=action)
    return s.guard.check(req.team_id, {name: text}, confirmed=confirmed_in_form(req.form))


def change_view(ack: Ack, context: BoltContext) -> None:
    """The Respond, Resolve and Cancel forms."""
    s, req = services(context), slack(context)
    values, team, user, record_id = req.form, req.team_id, req.user_id, req.form_ref("record")
    text = values.get("text", "")
    try:
        if not isinstance(record_id, int):
            raise DomainError("This form lost its record; open it again from the card.",
                              field="text")
        change: Change
        if req.callback_id == ViewId.RESPONSE:
            category = read_category(values.get("category", ""))
            found = _guarded_text(s, req, record_id, Action.RESPOND, "response", text)
            change = s.records.respond(team_id=team, ref=record_id, actor=user,
                                       category=category, text=text, overrides=found)
        elif req.callback_id == ViewId.RESOLVE:
            found = _guarded_text(s, req, record_id, Action.RESOLVE, "outcome", text)
            change = s.records.resolve(team_id=team, ref=record_id, actor=user, outcome=text,
                                       overrides=found)
        else:
            found = _guarded_text(s, req, record_id, Action.CANCEL, "reason", text)
            change = s.records.cancel(team_id=team, ref=record_id, actor=user, reason=text,
                                      overrides=found)
    except NeedsConfirmation as exc:
        _ask_in_form(ack, req, exc)
        return
    except DomainError as exc:
        block = exc.field if exc.field in values else "text"
        ack(response_action="errors", errors={block: field_error(str(exc))})
        return
    ack()
    s.defer(Cards(s.client, s.records).changed, change)
    # Its pages say what happened since they went out (a late acknowledgement, a close).
    s.defer(s.escalation.refresh_pages_of, change.record.id)


def edit(ack: Ack, context: BoltContext) -> None:
    """The card's Edit form: the boxes changed are applied as `/baton edit` applies them."""
    s, req = services(context), slack(context)
    values, user, record_id = req.form, req.user_id, req.form_ref("record")
    opened = req.metadata.get("opened")
    present = set(values)
    try:
        if not isinstance(record_id, int) or not isinstance(opened, dict):
            raise DomainError("This form lost its record; open it again from the card.")
        change = s.edit_record(record_id, team=req.team_id, user=user, form=values,
                               opened={str(k): str(v) for k, v in opened.items()},
                               confirmed=confirmed_in_form(values))
    except (NeedsConfirmation, DraftErrors, DomainError) as exc:
        _refuse_in_form(ack, req, exc, present)  # a likely name: the form asks again
        return
    ack()
    replies = Replies(s.client)
    if change.event is not None:
        s.defer(Cards(s.client, s.records).changed, change)
    s.defer(guarded(replies, user=user, channel=change.record.channel_id, response_url=None)(
        lambda: replies.send(user=user, channel=change.record.channel_id,
                             text=edit_reply(change))))


def interim(ack: Ack, context: BoltContext) -> None:
    """The interim safeguard form, from the escalation page."""
    s, req = services(context), slack(context)
    values, user, record_id = req.form, req.user_id, req.form_ref("record")
    try:
        if not isinstance(record_id, int):
            raise DomainError("This form lost its record; open it again.", field="text")
        review, note = None, ""
        if values.get("review", "").strip():
            try:
                reading = read_deadline(values["review"], now=s.clock.now(),
                                        tz=s.directory.tz(user), calendar=s.calendar)
            except TimeReadError as exc:
                raise DomainError(str(exc), field="review") from None
            review, note = reading.when, reading.note
        risk = read_risk(values["risk"]) if values.get("risk", "").strip() else None
        # Who may act is checked before any name warning (nothing asked about in vain).
        s.escalation.may_record_interim(team_id=req.team_id, record_id=record_id, actor=user)
        found = s.guard.check(req.team_id, {"interim_action": values.get("text", "")},
                              confirmed=confirmed_in_form(values))
        change = s.escalation.record_interim(team_id=req.team_id, record_id=record_id,
                                             actor=user, text=values.get("text", ""),
                                             next_review=review, risk=risk, overrides=found)
    except NeedsConfirmation as exc:
        _ask_in_form(ack, req, exc)
        return
    except DomainError as exc:
        block = exc.field if exc.field in values else "text"
        ack(response_action="errors", errors={block: field_error(str(exc))})
        return
    ack()
    s.poke(change.next_due)
    s.defer(Cards(s.client, s.records, s.trackers).changed, change)
    if note:  # how the next review was read (a weekend day moved): told to the person
        _tell_note(s, user=user, channel=change.record.channel_id, text=f"`review`: {note}")
    if change.page_at:  # after the ack: the page edit may wait on Slack
        channel, ts = change.page_at
        s.defer(s.escalation.refresh_page, channel=channel, ts=ts)


def _tell_note(s: Services, *, user: str, channel: str, text: str) -> None:
    """After the ack, an ephemeral line to the person who submitted a form."""
    replies = Replies(s.client)
    s.defer(guarded(replies, user=user, channel=channel, response_url=None)(
        lambda: replies.send(user=user, channel=channel, text=text)))


def register(app: App) -> None:
    app.view(ViewId.INTERIM)(interim)
    app.view(ViewId.EDIT)(edit)
    app.view(ViewId.CREATE_HANDOFF)(create_handoff)
    app.view(ViewId.CREATE_DEPENDENCY)(create_dependency)
    for callback in (ViewId.RESPONSE, ViewId.RESOLVE, ViewId.CANCEL):
        app.view(callback)(change_view)
