"""`/baton` sub-commands of pathway trackers: start, show, step, proceed, contact, decide,
set and cancel (T-12). Each reads like a sentence: parse (bot/domain/tracker_commands.py),
call TrackerService, render (bot/slack/blocks/trackers.py), reply. The card's buttons and
forms are in handlers/tracker_forms.py; they share `begin`, `publish` and `after_change`."""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from bot.domain.drafts import LONG_TEXT, DraftErrors
from bot.domain.grammar import read_user, with_mentions
from bot.domain.records import DomainError, check_person_ref
from bot.domain.slack_ids import CHANNEL_ID
from bot.domain.times import TimeReadError, read_moment, read_time
from bot.domain.tracker_commands import (
    USAGE,
    field_value,
    missing_for_start,
    read_contact_command,
    read_decide_command,
    read_period,
    read_set_command,
    read_start,
    read_step_command,
    read_tracker_ref,
    start_fields,
)
from bot.domain.trackers import ANCHOR_BACK, Template, read_contact
from bot.services.guard import Findings, NeedsConfirmation
from bot.services.trackers import TrackerChange, TrackerView
from bot.slack.blocks import pages, tracker_lines
from bot.slack.blocks import trackers as tracker_blocks
from bot.slack.blocks.tracker_forms import start_modal
from bot.slack.cards import Cards, Replies
from bot.slack.ids import TrackerAction
from handlers.common import BUTTON_VALUE_LIMIT, open_form
from handlers.context import Services

if TYPE_CHECKING:
    from handlers.commands import Invocation

NOW_WORDS = frozenset({"now", "right now", "just now"})


# --- the name guard on a tracker's free text ---

class Warned(Exception):
    """A likely person name in what was typed: nothing written; handlers/commands.py sends
    the warning, whose "Post anyway" runs the sub-command again confirmed. `key`: the
    tracker as warned about (commands.version_key), or the start's request key."""

    def __init__(self, findings: Findings, key: str | None) -> None:
        super().__init__(findings.describe())
        self.findings = findings
        self.key = key


def check_names(s: Services, team: str, texts: dict[str, str | None],
                confirmed: Collection[str]) -> Findings:
    """The free texts' likely names, unless confirmed (NeedsConfirmation); what was found
    and confirmed is returned, for audit_names."""
    found = Findings(s.guard.names(team, texts, only=list(texts)))
    if found.without(confirmed):
        raise NeedsConfirmation(found)
    return found


def audit_names(s: Services, found: Findings, *, team: str, actor: str, ref: str) -> None:
    """A "Post anyway" after a name warning, audited by the fields, never the words."""
    if found.names:
        s.coordination.note(team_id=team, actor=actor, kind="name_warning_overridden",
                            field=",".join(sorted(found.names)),
                            after={"fields": sorted(found.names), "record": ref})


def start_texts(tpl: Template, fields: dict[str, str]) -> dict[str, str | None]:
    """The start's free text: the template's text fields."""
    return {f.key: fields.get(f.key) for f in tpl.fields if f.kind == "text"}


def _typed(run: Invocation, texts: dict[str, str | None], *, key: str | None,
           record_id: int | None = None) -> Findings:
    """The name guard on a sub-command's text; who may act is asked first (refused and
    audited before any warning), on the record `record_id` when given."""
    s = run.services
    if not any((t or "").strip() for t in texts.values()):
        return Findings()
    if record_id is not None:
        s.records.require_on_record(team_id=run.team, ref=record_id, actor=run.user)
    try:
        return check_names(s, run.team, texts, run.confirmed)
    except NeedsConfirmation as exc:
        raise Warned(exc.findings, key) from None


def _version(view: TrackerView) -> str:
    return f"version:{view.tracker.id}:{view.tracker.version}"


# --- starting: typed, or from the form ---

def read_anchor(text: str, *, now: datetime, s: Services, user: str) -> datetime:
    """The anchor time in the person's zone: `now`, a time to come (a move date), or one
    that has passed, up to ANCHOR_BACK ago (a discharge this morning, a health change
    yesterday): steps already past due then are overdue at once."""
    if " ".join(text.lower().split()) in NOW_WORDS:
        return now
    try:
        return read_moment(text, now=now, tz=s.directory.tz(user), calendar=s.calendar,
                           back=ANCHOR_BACK)
    except TimeReadError as exc:
        extra = (f" A tracker's time may be up to {ANCHOR_BACK.days} days ago."
                 if exc.reason == TimeReadError.PAST else "")
        raise DomainError(f"`at`: {exc}{extra}", field="at") from None


def begin(s: Services, tpl: Template, fields: dict[str, str], *, team: str, channel: str,
          user: str, request_key: str | None) -> TrackerChange:
    """Check every field (DraftErrors names each bad one; nothing written), then start the
    tracker with its steps and deadlines, times read in the caller's zone."""
    errors: dict[str, str] = {}
    now = s.clock.now()

    def attempt(name: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except TimeReadError as exc:
            errors[name] = f"`{name}`: {exc}"
        except DomainError as exc:
            errors[name] = str(exc)
        return None

    person = attempt("person", lambda: check_person_ref(
        fields.get("person", ""), pattern=s.settings.person_ref_pattern))
    anchor = attempt("at", lambda: read_anchor(fields.get("at", ""), now=now, s=s, user=user))
    owner = attempt("owner", lambda: read_user(fields.get("owner", ""), caller=user,
                                               field="owner"))
    period = attempt("period", lambda: read_period(fields.get("period", "")))
    values: dict[str, str] = {}
    times: dict[str, datetime] = {}
    for f in tpl.fields:
        raw = " ".join((fields.get(f.key) or "").split())
        if not raw:
            continue
        if len(raw) > LONG_TEXT:
            errors[f.key] = (f"`{f.key}` is {len(raw)} characters; keep it under {LONG_TEXT} "
                             "(details belong in the case record, not the channel).")
        elif f.kind == "time":
            when = attempt(f.key, partial(read_time, raw, now=now, tz=s.directory.tz(user),
                                          calendar=s.calendar))
            if when is not None:
                times[f.key] = when
        else:
            value = attempt(f.key, partial(field_value, f, raw))
            if value:
                values[f.key] = value
    if errors:
        raise DraftErrors(errors)
    change = s.trackers.start(team_id=team, channel_id=channel, actor=user,
                              template=tpl.name, person_ref=person, anchor=anchor,
                              owner_id=owner, values=values, times=times,
                              tz=s.directory.tz(owner).key, period=period,
                              request_key=request_key)
    s.poke(change.next_due)
    return change


def publish(s: Services, change: TrackerChange, *, user: str, response_url: str | None) -> None:
    """The new tracker's card in its channel, and the confirmation to whoever started it
    (with why the card could not be posted, when it could not). A retry of a start already
    posted does nothing twice."""
    view = change.view
    if not change.created and view.tracker.card_ts:
        return
    text = tracker_blocks.started_text(view)
    try:
        Cards(s.client, s.records, s.trackers).post_tracker(view)
    except SlackApiError as exc:
        text += "\n" + pages.card_unpostable_note(str(exc.response.get("error") or ""),
                                                  needed=exc.response.get("needed"))
    Replies(s.client).send(user=user, channel=view.tracker.channel_id,
                           response_url=response_url, text=text)


def draft_value(template: str, channel: str, fields: dict[str, str]) -> str:
    """The "Open the form" button's value: the template, the channel and what was typed
    (free text dropped, longest first, past Slack's 2,000 characters)."""
    kept = dict(fields)
    while True:
        value = json.dumps({"tpl": template, "c": channel, "f": kept}, separators=(",", ":"),
                           ensure_ascii=False)
        if len(value) <= BUTTON_VALUE_LIMIT or not kept:
            return value
        kept.pop(max(kept, key=lambda k: len(kept[k])))


def read_draft(value: str) -> tuple[str, str, dict[str, str]]:
    lost = DomainError("That button has lost what you typed; run the command again.")
    try:
        data = json.loads(value)
        template, channel, fields = data["tpl"], data["c"], data["f"]
    except (ValueError, TypeError, KeyError, RecursionError):
        raise lost from None
    if not (isinstance(template, str) and isinstance(channel, str)
            and CHANNEL_ID.fullmatch(channel) and isinstance(fields, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items())):
        raise lost
    return template, channel, fields


def open_start_form(s: Services, tpl: Template, fields: dict[str, str], *, user: str,
                    channel: str, trigger_id: str, response_url: str | None) -> None:
    """The start form with what was typed; a late trigger_id leaves an "Open the form"
    button carrying it."""
    try:
        owner: str | None = read_user(fields.get("owner", ""), caller=user, field="owner")
    except DomainError:
        owner = None
    view = start_modal(tpl, fields, owner=owner, channel_id=channel,
                       missing=missing_for_start(fields, tpl))
    open_form(s.client, Replies(s.client), trigger_id=trigger_id, view=view.to_dict(),
              user=user, channel=channel, response_url=response_url,
              again=(TrackerAction.START_FORM, draft_value(tpl.name, channel, fields)),
              kept=" with what you typed")


def after_change(s: Services, change: TrackerChange, *, user: str, channel: str | None,
                 response_url: str | None) -> None:
    """The card edited in place with one line in its thread, the step's page refreshed,
    the engine told of new due work, and the person told what was done."""
    t = change.view.tracker
    Cards(s.client, s.records, s.trackers).tracker_changed(team_id=t.team_id,
                                                           tracker_id=t.id, change=change)
    if change.page_at:
        page_channel, ts = change.page_at
        s.escalation.refresh_page(channel=page_channel, ts=ts)
    for page_channel, ts in change.pages:  # a tracker that ended: its steps' pages too
        if (page_channel, ts) != change.page_at:
            s.escalation.refresh_page(channel=page_channel, ts=ts)
    if change.next_due:
        s.poke(change.next_due)
    line = tracker_lines.change_line(change) or f"{t.reference}: saved."
    Replies(s.client).send(user=user, channel=channel or t.channel_id,
                           response_url=response_url, text=f":white_check_mark: {line}")


# --- /baton start|show|step|proceed|contact|decide|set|cancel ---

def start(run: Invocation) -> None:
    s = run.services
    if not run.rest.strip():
        raise DomainError(f"Which template? {USAGE['start']}. Templates: "
                          f"{', '.join(sorted(s.trackers.templates.templates))}.")
    name, text = read_start(run.rest)
    tpl = s.trackers.template(name)
    fields = start_fields(text, tpl)
    if fields.get("owner"):  # "@jo" typed, not picked: the directory's jo
        fields["owner"] = with_mentions(fields["owner"], s.directory.by_handle)
    if missing_for_start(fields, tpl):
        open_start_form(s, tpl, fields, user=run.user, channel=run.channel,
                        trigger_id=run.req.trigger_id or "", response_url=run.req.response_url)
        return
    key = run.request_key or run.req.trigger_id
    found = _typed(run, start_texts(tpl, fields), key=key)
    change = begin(s, tpl, fields, team=run.team, channel=run.channel, user=run.user,
                   request_key=key)
    if change.created:  # a redone start (a second "Post anyway") audits nothing twice
        audit_names(s, found, team=run.team, actor=run.user, ref=change.view.reference)
    publish(s, change, user=run.user, response_url=run.req.response_url)


def show(run: Invocation) -> None:
    s = run.services
    ref, _ = read_tracker_ref("show", run.rest)
    view = s.trackers.load(team_id=run.team, ref=ref)
    run.say(tracker_blocks.card_text(view),
            tracker_blocks.tracker_card(view, s.trackers.templates))


def step(run: Invocation) -> None:
    s = run.services
    cmd = read_step_command(run.rest)
    found = Findings()
    if cmd.text.strip():
        _, row = s.trackers.find(team_id=run.team, ref=cmd.ref, step=cmd.step)
        # The step as warned about: "Post anyway" acts only while it is unchanged.
        found = _typed(run, {"reason": cmd.text}, key=f"version:{row.id}:{row.version}",
                       record_id=row.id)
    change = s.trackers.set_step(team_id=run.team, ref=cmd.ref, step=cmd.step,
                                 status=cmd.status, text=cmd.text, actor=run.user)
    _done(run, change, found)


def proceed(run: Invocation) -> None:
    ref, _ = read_tracker_ref("proceed", run.rest)
    _done(run, run.services.trackers.proceed(team_id=run.team, ref=ref, actor=run.user))


def contact(run: Invocation) -> None:
    ref, outcome, note = read_contact_command(run.rest)
    word = read_contact(outcome)
    found = _checked(run, ref, {"note": note}, on_tracker=True)
    _done(run, run.services.trackers.contact(team_id=run.team, ref=ref, outcome=word,
                                             note=note, actor=run.user), found)


def decide(run: Invocation) -> None:
    ref, decision, text = read_decide_command(run.rest)
    found = _checked(run, ref, {"text": text}, on_tracker=False)
    _done(run, run.services.trackers.decide(team_id=run.team, ref=ref, decision=decision,
                                            text=text, actor=run.user), found)


def _checked(run: Invocation, ref: str, texts: dict[str, str | None], *,
             on_tracker: bool) -> Findings:
    """The name guard on a tracker sub-command's text, with the tracker as warned about;
    `on_tracker`: who may change the tracker is asked first."""
    if not any((t or "").strip() for t in texts.values()):
        return Findings()
    view = run.services.trackers.load(team_id=run.team, ref=ref)
    return _typed(run, texts, key=_version(view),
                  record_id=view.tracker.id if on_tracker else None)


def set_field(run: Invocation) -> None:
    s = run.services
    ref, key, value = read_set_command(run.rest)
    try:
        # The anchor may be what already happened; a date field is one to come.
        when = (read_moment(value, now=s.clock.now(), tz=s.directory.tz(run.user),
                            calendar=s.calendar, back=ANCHOR_BACK) if key == "at" else
                read_time(value, now=s.clock.now(), tz=s.directory.tz(run.user),
                          calendar=s.calendar))
    except TimeReadError as exc:
        raise DomainError(f"`{key}`: {exc}", field=key) from None
    _done(run, s.trackers.set_time_field(team_id=run.team, ref=ref, key=key, when=when,
                                         actor=run.user))


def cancel(run: Invocation) -> None:
    ref, reason = read_tracker_ref("cancel", run.rest)
    found = _checked(run, ref, {"reason": reason}, on_tracker=True)
    _done(run, run.services.trackers.cancel(team_id=run.team, ref=ref, reason=reason,
                                            actor=run.user), found)


def record_verb(run: Invocation, ref: str) -> None:
    """A record's sub-command given a tracker's reference: `show` and `cancel` are the
    tracker's; the others say what to use instead."""
    if run.word == "show":
        show(run)
    elif run.word == "cancel":
        cancel(run)
    else:
        what = "a tracker's step" if "." in ref else "a tracker"
        raise DomainError(f"{ref.upper()} is {what}, not a handoff or a dependency: "
                          f"`/baton step {ref.upper().partition('.')[0]} STEP "
                          "done|blocked|na|refused TEXT` records a step (its page's "
                          f"Acknowledge button acknowledges a page); `/baton show "
                          f"{ref.upper()}` shows it.")


def _done(run: Invocation, change: TrackerChange, found: Findings | None = None) -> None:
    if found:
        audit_names(run.services, found, team=run.team, actor=run.user,
                    ref=change.view.reference)
    after_change(run.services, change, user=run.user, channel=run.channel,
                 response_url=run.req.response_url)


# `/baton WORD …` for trackers (handlers/commands.py adds them to its SUBCOMMANDS; `show`
# and `cancel` come here when the reference is a tracker's).
SUBCOMMANDS: dict[str, Callable[[Invocation], None]] = {
    "start": start,
    "step": step,
    "proceed": proceed,
    "contact": contact,
    "decide": decide,
    "set": set_field,
}
