"""A tracker card's controls and forms: a step's overflow (Done acts at once; Blocked, Not
applicable and Refused by the person ask the reason, or how the refusal was managed),
Reopen, Proceed, Log contact attempt, Impact statement, Decide, and the start form. Buttons
ack at once and work after; a form is checked before its ack, so its errors show beside
the field, and the card is edited after Slack has its answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, BoltContext

from bot.domain.drafts import DraftErrors
from bot.domain.records import DomainError
from bot.domain.slack_ids import CHANNEL_ID
from bot.domain.trackers import (
    FUNDING_DECISIONS,
    IMPACT_PARTS,
    StepStatus,
    read_contact,
    read_step_status,
)
from bot.services.guard import Findings, NeedsConfirmation
from bot.services.trackers import FUNDING_STEP, TrackerChange, TrackerView
from bot.slack.blocks import tracker_forms as forms
from bot.slack.blocks.guard import confirmed_in_form, form_with_warning
from bot.slack.blocks.records import UNKNOWN_BUTTON
from bot.slack.cards import Replies
from bot.slack.ids import TrackerAction
from bot.slack.ids import TrackerView as Form
from handlers.common import field_error, guarded, open_form, row_id
from handlers.context import Services, SlackRequest, services, slack
from handlers.trackers import (
    after_change,
    audit_names,
    begin,
    check_names,
    open_start_form,
    publish,
    read_draft,
    start_texts,
)

LOST_FORM = "This form lost its tracker; open it again from the card."


def _tracker(s: Services, req: SlackRequest, data: dict[str, Any]) -> TrackerView:
    tracker_id = row_id(data.get("t"))
    if tracker_id is None:
        raise DomainError(UNKNOWN_BUTTON)
    return s.trackers.by_id(team_id=req.team_id, tracker_id=tracker_id)


def _step(view: TrackerView, data: dict[str, Any]) -> Any:
    """The step row the control or form names (a store Record; handlers never import the
    store)."""
    step_id = row_id(data.get("s"))
    found = next((st for st in view.steps if st.id == step_id), None)
    if found is None:
        raise DomainError(UNKNOWN_BUTTON)
    return found


def _funding(view: TrackerView) -> Any:
    return next((st for st in view.steps if st.step_key == FUNDING_STEP
                 and st.status in ("open", "blocked")), None)


def _clicked(what: str, body: Callable[[Services, SlackRequest], None]
             ) -> Callable[[Ack, BoltContext], None]:
    """A control's listener: ack, then `body` on Baton's workers, what stops it told the
    clicker ephemerally."""

    def listener(ack: Ack, context: BoltContext) -> None:
        ack()
        s, req = services(context), slack(context)
        s.defer(guarded(Replies(s.client), user=req.user_id, channel=req.channel_id,
                        response_url=req.response_url, what=what)(lambda: body(s, req)))

    return listener


def _form(s: Services, req: SlackRequest, view: Any) -> None:
    open_form(s.client, Replies(s.client), trigger_id=req.trigger_id or "",
              view=view.to_dict(), user=req.user_id, channel=req.channel_id,
              response_url=req.response_url,
              again=(req.action_id or "", req.action_value or ""))


def _done(s: Services, req: SlackRequest, change: TrackerChange) -> None:
    after_change(s, change, user=req.user_id, channel=req.channel_id,
                 response_url=req.response_url)


# --- the card's controls ---

def on_step(s: Services, req: SlackRequest) -> None:
    """Done (and Reopen) at once; the others open the form for their text. Who may not
    change the step is refused before the form opens (audited)."""
    data = req.button_data
    view = _tracker(s, req, data)
    row = _step(view, data)
    try:
        status = read_step_status(str(data.get("a") or ""))
    except DomainError:
        raise DomainError(UNKNOWN_BUTTON) from None
    if status.needs_text:
        s.records.require_on_record(team_id=req.team_id, ref=row.id, actor=req.user_id)
        _form(s, req, forms.step_reason_modal(view, row, status))
        return
    _done(s, req, s.trackers.set_step(team_id=req.team_id, ref=view.reference, step="",
                                      status=status, text=None, actor=req.user_id,
                                      step_id=row.id))


def on_proceed(s: Services, req: SlackRequest) -> None:
    view = _tracker(s, req, req.button_data)
    _done(s, req, s.trackers.proceed(team_id=req.team_id, ref=view.reference,
                                     actor=req.user_id))


def on_contact(s: Services, req: SlackRequest) -> None:
    view = _tracker(s, req, req.button_data)
    s.records.require_on_record(team_id=req.team_id, ref=view.tracker.id, actor=req.user_id)
    _form(s, req, forms.contact_modal(view))


def on_impact(s: Services, req: SlackRequest) -> None:
    view = _tracker(s, req, req.button_data)
    funding = _funding(view)
    if funding is None:
        raise DomainError(f"{view.reference} has no funding escalation open.")
    s.records.require_on_record(team_id=req.team_id, ref=view.tracker.id, actor=req.user_id)
    _form(s, req, forms.impact_modal(view, funding))


def on_decide(s: Services, req: SlackRequest) -> None:
    view = _tracker(s, req, req.button_data)
    funding = _funding(view)
    tpl = s.trackers.template(view.tracker.template or "")
    if funding is None and not tpl.decision_choices:
        raise DomainError(f"{view.reference} has no decision waiting.")
    if funding is None or req.user_id != funding.owner_id:
        s.records.require_on_record(team_id=req.team_id, ref=view.tracker.id,
                                    actor=req.user_id)
    choices = FUNDING_DECISIONS if funding is not None else tpl.decision_choices
    _form(s, req, forms.decide_modal(view, choices, step=funding))


def on_start_form(s: Services, req: SlackRequest) -> None:
    """"Open the form" on the note a late trigger_id left: the click brings a fresh one."""
    name, channel, fields = read_draft(req.action_value or "")
    open_start_form(s, s.trackers.template(name), fields, user=req.user_id, channel=channel,
                    trigger_id=req.trigger_id or "", response_url=req.response_url)


# --- the forms ---

def _refuse(ack: Ack, req: SlackRequest, exc: DomainError, s: Services) -> None:
    """Each bad field named beside it; an error about no field, under the first input; a
    form with no input (not one of Baton's) closes, its sender told ephemerally."""
    present = sorted(req.form)
    if not present:
        ack()
        replies = Replies(s.client)
        s.defer(guarded(replies, user=req.user_id, channel=None, response_url=None)(
            lambda: replies.send(user=req.user_id, channel=None, text=f":warning: {exc}")))
        return
    errors = exc.errors if isinstance(exc, DraftErrors) else {exc.field or "": str(exc)}
    out: dict[str, str] = {}
    for name, message in errors.items():
        block = name if name in req.form else (present[0] if present else name)
        out[block] = field_error(message)
    ack(response_action="errors", errors=out)


Saved = tuple[TrackerChange, Findings]  # what a form wrote, and the warnings it confirmed


def _form_listener(work: Callable[[Services, SlackRequest], Saved],
          then: Callable[[Services, str, TrackerChange], None]
          ) -> Callable[[Ack, BoltContext], None]:
    """A form's listener: `work` checks and saves before the ack (a likely name asked
    about in the form with a "Post anyway" tick box; other errors beside their fields),
    the confirmed warning audited; `then` (the card, the reply) after the ack."""

    def listener(ack: Ack, context: BoltContext) -> None:
        s, req = services(context), slack(context)
        try:
            change, found = work(s, req)
        except NeedsConfirmation as exc:
            ack(response_action="update", view=form_with_warning(req.view, req.form,
                                                                 exc.findings))
            return
        except DomainError as exc:
            _refuse(ack, req, exc, s)
            return
        if change.created or change.event is not None:  # not a redone start
            audit_names(s, found, team=req.team_id, actor=req.user_id,
                        ref=change.view.reference)
        ack()
        channel = change.view.tracker.channel_id
        s.defer(guarded(Replies(s.client), user=req.user_id, channel=channel,
                        response_url=None)(lambda: then(s, req.user_id, change)))

    return listener


def _changed(s: Services, user: str, change: TrackerChange) -> None:
    after_change(s, change, user=user, channel=change.view.tracker.channel_id,
                 response_url=None)


def _started(s: Services, user: str, change: TrackerChange) -> None:
    publish(s, change, user=user, response_url=None)


def _submitted(work: Callable[[Services, SlackRequest], TrackerChange],
               *texts: str) -> Callable[[Ack, BoltContext], None]:
    """A change's form: the name guard on its `texts` inputs, then `work`."""

    def checked(s: Services, req: SlackRequest) -> Saved:
        found = check_names(s, req.team_id, {k: req.form.get(k) for k in texts},
                            confirmed_in_form(req.form))
        return work(s, req), found

    return _form_listener(checked, _changed)


def _form_tracker(s: Services, req: SlackRequest) -> TrackerView:
    tracker_id = row_id(req.metadata.get("t"))
    if tracker_id is None:
        raise DomainError(LOST_FORM)
    return s.trackers.by_id(team_id=req.team_id, tracker_id=tracker_id)


def step_reason(s: Services, req: SlackRequest) -> TrackerChange:
    view = _form_tracker(s, req)
    row = _step(view, req.metadata)
    status = StepStatus(read_step_status(str(req.metadata.get("a") or "")))
    return s.trackers.set_step(team_id=req.team_id, ref=view.reference, step="",
                               status=status, text=req.form.get("text", ""),
                               actor=req.user_id, step_id=row.id)


def contact(s: Services, req: SlackRequest) -> TrackerChange:
    view = _form_tracker(s, req)
    return s.trackers.contact(team_id=req.team_id, ref=view.reference,
                              outcome=read_contact(req.form.get("outcome", "")),
                              note=req.form.get("note"), actor=req.user_id)


def impact(s: Services, req: SlackRequest) -> TrackerChange:
    view = _form_tracker(s, req)
    return s.trackers.impact_statement(
        team_id=req.team_id, ref=view.reference, actor=req.user_id,
        statement={key: req.form.get(key, "") for key in IMPACT_PARTS})


def decide(s: Services, req: SlackRequest) -> TrackerChange:
    view = _form_tracker(s, req)
    return s.trackers.decide(team_id=req.team_id, ref=view.reference,
                             decision=req.form.get("decision", ""),
                             text=req.form.get("text"), actor=req.user_id)


def start(s: Services, req: SlackRequest) -> Saved:
    """The start form: the tracker started, or each bad field named beside it."""
    channel, name = req.metadata.get("channel"), req.metadata.get("template")
    if not (isinstance(channel, str) and CHANNEL_ID.fullmatch(channel)
            and isinstance(name, str)):
        raise DomainError("This form lost its channel; run the command again.",
                          field="person")
    tpl = s.trackers.template(name)
    found = check_names(s, req.team_id, start_texts(tpl, req.form),
                        confirmed_in_form(req.form))
    return begin(s, tpl, dict(req.form), team=req.team_id, channel=channel,
                 user=req.user_id, request_key=f"view:{req.view_id}"), found


def register(app: App) -> None:
    app.action(TrackerAction.STEP)(_clicked("change the step", on_step))
    app.action(TrackerAction.PROCEED)(_clicked("proceed", on_proceed))
    app.action(TrackerAction.CONTACT)(_clicked("open the form", on_contact))
    app.action(TrackerAction.IMPACT)(_clicked("open the form", on_impact))
    app.action(TrackerAction.DECIDE)(_clicked("open the form", on_decide))
    app.action(TrackerAction.START_FORM)(_clicked("open the form", on_start_form))
    app.view(Form.START)(_form_listener(start, _started))
    app.view(Form.STEP_REASON)(_submitted(step_reason, "text"))
    app.view(Form.CONTACT)(_submitted(contact, "note"))
    app.view(Form.IMPACT)(_submitted(impact, *IMPACT_PARTS))
    app.view(Form.DECIDE)(_submitted(decide, "text"))
