"""Slash commands: /handoff, /dependency and /baton. Each acks at once; the rest runs after,
on Baton's workers. `/baton`'s sub-commands are read by bot/domain/commands.py and dispatch
through SUBCOMMANDS."""

from __future__ import annotations

import json
import logging
import re
import tempfile
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block

from bot.domain import commands as grammar
from bot.domain.grammar import KEYS, missing_required, parse_fields, read_user, with_mentions
from bot.domain.records import Action, DomainError, RecordKind, read_risk
from bot.domain.slack_ids import CHANNEL_ID
from bot.domain.tracker_commands import is_tracker_ref
from bot.report import write_report
from bot.services.guard import Findings, NeedsConfirmation, read_choices
from bot.services.records import Change
from bot.slack.blocks import guard as guard_blocks
from bot.slack.blocks import pages, partner_trends
from bot.slack.blocks import records as blocks
from bot.slack.blocks import roster as roster_blocks
from bot.slack.cards import Cards, Replies
from bot.slack.ids import ActionId
from bot.web.inbox import redoing
from handlers import trackers
from handlers.common import BUTTON_VALUE_LIMIT, guarded, open_form, unescape
from handlers.context import Services, SlackRequest, services, slack
from handlers.person import person

log = logging.getLogger("baton.handlers")

# Why files.completeUploadExternal refused the channel, as the requester is told.
_NOT_IN = ("Baton isn't in {channel}, so the report went to you by direct message. To share "
           "it here: `/invite @Baton`.")
_UNSHAREABLE = {
    "not_in_channel": _NOT_IN,  # public, not joined (chat:write.public is for messages only)
    "channel_not_found": _NOT_IN,  # private, not joined: it does not exist for Baton
    "is_archived": "{channel} is archived, so the report went to you by direct message.",
}


# --- /handoff and /dependency ---

def handoff(ack: Ack, context: BoltContext) -> None:
    ack()
    create(RecordKind.HANDOFF, services(context), slack(context))


def dependency(ack: Ack, context: BoltContext) -> None:
    ack()
    create(RecordKind.DEPENDENCY, services(context), slack(context))


def create(kind: RecordKind, s: Services, req: SlackRequest) -> None:
    """Log the record the command's text describes; with required fields missing, open the
    form prefilled with what was typed."""
    replies = Replies(s.client)
    user, channel = req.user_id, req.channel_id or ""

    @guarded(replies, user=user, channel=channel, response_url=req.response_url,
             what=f"log the {kind.value}")
    def work() -> None:
        text = unescape(req.text).strip()
        if text.lower() in ("help", "?"):
            replies.send(user=user, channel=channel, response_url=req.response_url,
                         text=blocks.help_text(), block_list=blocks.help_blocks())
            return
        log_typed(kind, s, text=text, team=req.team_id, user=user, channel=channel,
                  trigger_id=req.trigger_id or "", response_url=req.response_url,
                  request_key=req.trigger_id)

    s.defer(work)


def log_typed(kind: RecordKind, s: Services, *, text: str, team: str, user: str, channel: str,
              trigger_id: str, response_url: str | None, request_key: str | None,
              confirmed: Collection[str] = ()) -> None:
    """The typed command's record: logged, or its form opened (fields missing), or a
    warning asking first (a likely person name, an open record for the same person and
    partner: bot/services/guard.py)."""
    replies = Replies(s.client)
    fields = parse_fields(text, kind)
    for key in ("owner", "manager"):  # "@jo" typed, not picked: the directory's jo
        if fields.get(key):
            fields[key] = with_mentions(fields[key], s.directory.by_handle)
    missing = missing_required(fields, kind)
    if missing:
        # The trigger_id expires 3 s after the command: open the modal first. Too late (a
        # slow moment, a request redone after a restart), the person gets a button that
        # opens it, carrying what they typed.
        value, cut = draft_value(kind, channel, fields)
        open_form(s.client, replies, trigger_id=trigger_id,
                  view=_prefilled(kind, fields, user, channel, missing), user=user,
                  channel=channel, response_url=response_url,
                  again=(ActionId.OPEN_FORM, value), kept=_kept(cut))
        return
    try:
        change = s.create_record(kind, fields, team=team, channel=channel, user=user,
                                 request_key=request_key, confirmed=confirmed)
    except NeedsConfirmation as exc:
        # Nothing saved: the person chooses. Logged by what, never by the words found.
        log.info("asked %s before logging a %s: %s", user, kind.value, exc.findings.describe())
        warn(s, exc.findings, user=user, channel=channel, response_url=response_url,
             value=guard_value(kind.value, text, channel, request_key, exc.findings.kinds))
        return
    if not change.created and (change.record.card_ts or not redoing()):
        return  # a retry of a request already handled (or being handled)
    # New, or made by an attempt that died before saving its card's ts (a saved request
    # redone after a crash, bot/web/inbox.py): the card and the reply now. That attempt
    # may have got the card to Slack: then it is adopted, not posted again.
    _publish(Cards(s.client, s.records), replies, change, user=user,
             response_url=response_url, adopt=not change.created)


# --- the warning before posting: Edit, Post anyway, Cancel ---

def guard_value(verb: str, text: str, channel: str, request_key: str | None,
                choices: Collection[str]) -> str | None:
    """The warning's button value: what was typed, where, its request key (a second click
    finds the record the first made) and the choices "Post anyway" confirms; None when it
    is past Slack's 2,000 characters."""
    value = json.dumps({"v": verb, "t": text, "c": channel, "r": request_key,
                        "ok": sorted(choices)}, separators=(",", ":"), ensure_ascii=False)
    return value if len(value) <= BUTTON_VALUE_LIMIT else None


def version_key(record: Any) -> str:
    """A sub-command's warning carries the record as it was warned about: its id and
    version. "Post anyway" then acts only on that version, so a second click (the first
    changed the record) or a change by someone else meanwhile does nothing twice."""
    return f"version:{record.id}:{record.version}"


def still_as_warned(s: Services, team: str, key: str | None) -> None:
    """DomainError unless the record a sub-command's warning was about is unchanged."""
    if not key or not key.startswith("version:"):
        return
    try:
        _, record_id, version = key.split(":")
        current = s.records.get(team_id=team, ref=int(record_id))
        warned = int(version)
    except ValueError:
        raise DomainError("That button has lost what you typed; run the command again.") \
            from None
    if current.version != warned:
        raise DomainError(f"{current.reference} has changed since that warning (perhaps "
                          "this button was already pressed), so nothing was done again. "
                          f"`/baton show {current.reference}` shows where it stands.")


def read_guard_value(value: str) -> tuple[str, str, str, str | None, frozenset[str]]:
    lost = DomainError("That button has lost what you typed; run the command again.")
    try:
        data = json.loads(value)
        verb, text, channel, key, ok = data["v"], data["t"], data["c"], data["r"], data["ok"]
    except (ValueError, TypeError, KeyError, RecursionError):
        raise lost from None
    if not (isinstance(verb, str) and isinstance(text, str) and isinstance(channel, str)
            and CHANNEL_ID.fullmatch(channel) and (key is None or isinstance(key, str))
            and isinstance(ok, list)):
        raise lost
    return verb, text, channel, key, read_choices(x for x in ok if isinstance(x, str))


def card_link(s: Services, found: Findings) -> str | None:
    """The open record's card, as a permalink; None if it has no card or Slack won't say."""
    d = found.duplicate
    if d is None or not (d.card_channel and d.card_ts):
        return None
    try:
        link = s.client.chat_getPermalink(channel=d.card_channel, message_ts=d.card_ts)
    except SlackApiError as exc:
        log.info("no permalink for %s's card (%s)", d.reference, exc.response.get("error"))
        return None
    permalink = link.get("permalink")
    return permalink if isinstance(permalink, str) else None


def warn(s: Services, found: Findings, *, user: str, channel: str, response_url: str | None,
         value: str | None, edit: bool = True) -> None:
    link = card_link(s, found)
    Replies(s.client).send(
        user=user, channel=channel, response_url=response_url,
        text=guard_blocks.warning_text(found, link=link),
        block_list=Block.parse_all(guard_blocks.warning_blocks(found, value=value, link=link,
                                                               edit=edit)))


# The `/baton` sub-commands whose warning "Post anyway" may run again (ask_first's callers).
GUARDED_SUBCOMMANDS = frozenset({"respond", "resolve", "close", "cancel", "edit", "start",
                                 "step", "contact", "decide"})


def guard_proceed(ack: Ack, context: BoltContext) -> None:
    """"Post anyway" / "Log anyway": what was typed, logged as typed; the choice audited."""
    ack()
    s, req = services(context), slack(context)
    replies = Replies(s.client)

    @guarded(replies, user=req.user_id, channel=req.channel_id, response_url=req.response_url,
             what="log it")
    def work() -> None:
        verb, text, channel, key, ok = read_guard_value(req.action_value or "")
        if verb in (RecordKind.HANDOFF, RecordKind.DEPENDENCY):
            log_typed(RecordKind(verb), s, text=text, team=req.team_id, user=req.user_id,
                      channel=channel, trigger_id=req.trigger_id or "",
                      response_url=req.response_url, request_key=key, confirmed=ok)
        elif verb in GUARDED_SUBCOMMANDS:
            still_as_warned(s, req.team_id, key)
            run = Invocation(s, req, verb, text, channel_id=channel, confirmed=ok,
                             request_key=key)
            dispatch(run, SUBCOMMANDS.get(verb, _unknown))
        else:  # a button Baton did not make
            raise DomainError("That button has lost what you typed; run the command again.")

    s.defer(work)


def guard_edit(ack: Ack, context: BoltContext) -> None:
    """"Edit": the form, prefilled with what was typed."""
    ack()
    s, req = services(context), slack(context)
    replies = Replies(s.client)
    value = req.action_value or ""

    @guarded(replies, user=req.user_id, channel=req.channel_id, response_url=req.response_url,
             what="open the form")
    def work() -> None:
        verb, text, channel, _, _ = read_guard_value(value)
        if verb in EDITABLE_IN_A_FORM:
            view = _record_form(s, req.team_id, req.user_id, verb, text)
            open_form(s.client, replies, trigger_id=req.trigger_id or "", view=view.to_dict(),
                      user=req.user_id, channel=channel, response_url=req.response_url,
                      again=(ActionId.GUARD_EDIT, value), kept=" with what you typed")
            return
        if verb not in (RecordKind.HANDOFF, RecordKind.DEPENDENCY):
            raise DomainError("Run the command again with your changes.")
        kind = RecordKind(verb)
        fields = parse_fields(text, kind)
        draft, cut = draft_value(kind, channel, fields)
        open_form(s.client, replies, trigger_id=req.trigger_id or "",
                  view=_prefilled(kind, fields, req.user_id, channel,
                                  missing_required(fields, kind)),
                  user=req.user_id, channel=channel, response_url=req.response_url,
                  again=(ActionId.OPEN_FORM, draft), kept=_kept(cut))

    s.defer(work)


# `/baton` sub-commands whose warning's Edit opens the card's form for the same change.
EDITABLE_IN_A_FORM = frozenset({"respond", "resolve", "close", "cancel"})


def _record_form(s: Services, team: str, user: str, verb: str, text: str) -> Any:
    """The Record-response, Resolve or Cancel form for `/baton VERB REF TEXT`, prefilled."""
    ref, tail = grammar.read_record_command(verb, text)
    record = s.records.require_on_record(team_id=team, ref=ref, actor=user)
    if verb == "respond":
        category, answer = grammar.read_response(tail)
        return blocks.response_modal(record, category=category, text=answer)
    return blocks.reason_modal(record, resolve=verb != "cancel", text=tail)


def guard_cancel(ack: Ack, context: BoltContext) -> None:
    ack()
    s, req = services(context), slack(context)
    s.defer(guarded(Replies(s.client), user=req.user_id, channel=req.channel_id,
                    response_url=req.response_url)(
        lambda: Replies(s.client).send(user=req.user_id, channel=req.channel_id,
                                       response_url=req.response_url,
                                       text="Cancelled: nothing was posted or logged.")))


def reopen(ack: Ack, context: BoltContext) -> None:
    """"Open the form" on the note a late trigger_id left: the click brings a fresh one."""
    ack()
    s, req = services(context), slack(context)
    replies = Replies(s.client)
    value = req.action_value or ""

    @guarded(replies, user=req.user_id, channel=req.channel_id, response_url=req.response_url,
             what="open the form")
    def work() -> None:
        kind, channel, fields = read_draft(value)
        open_form(s.client, replies, trigger_id=req.trigger_id or "",
                  view=_prefilled(kind, fields, req.user_id, channel,
                                  missing_required(fields, kind)),
                  user=req.user_id, channel=channel, response_url=req.response_url,
                  again=(ActionId.OPEN_FORM, value), kept=" with what you typed")

    s.defer(work)


def _prefilled(kind: RecordKind, fields: dict[str, str], user: str, channel: str,
               missing: list[str]) -> dict[str, Any]:
    owner = _user_or_none(fields.get("owner", ""), user)
    manager = _user_or_none(fields.get("manager", ""), user) if fields.get("manager") else None
    try:
        risk = read_risk(fields["risk"]) if fields.get("risk") else None
    except DomainError:
        risk = None
    view: dict[str, Any] = blocks.create_modal(kind, fields, owner=owner, manager=manager,
                                               risk=risk, channel_id=channel,
                                               missing=missing).to_dict()
    return view


# --- /baton ---

@dataclass(frozen=True)
class Invocation:
    """One `/baton WORD REST`: the runtime, the request, the arguments, and how to answer."""

    services: Services
    req: SlackRequest
    word: str
    rest: str
    channel_id: str | None = None  # where it was typed, when not the request's (a button's)
    confirmed: frozenset[str] = frozenset()  # the warnings "Post anyway" answered
    request_key: str | None = None  # a redone start's first request (its "Post anyway")

    @property
    def team(self) -> str:
        return self.req.team_id

    @property
    def user(self) -> str:
        return self.req.user_id

    @property
    def channel(self) -> str:
        return self.channel_id or self.req.channel_id or ""

    def say(self, message: str, block_list: list[Block] | None = None) -> None:
        Replies(self.services.client).send(user=self.user, channel=self.channel,
                                           response_url=self.req.response_url, text=message,
                                           block_list=block_list)


def baton_command(ack: Ack, context: BoltContext) -> None:
    ack()
    s, req = services(context), slack(context)
    command = grammar.split_command(unescape(req.text))
    run = Invocation(s, req, command.word, command.rest)
    sub = SUBCOMMANDS.get(command.word, _unknown)

    @guarded(Replies(s.client), user=req.user_id, channel=req.channel_id,
             response_url=req.response_url)
    def work() -> None:
        dispatch(run, sub)

    s.defer(work)


def dispatch(run: Invocation, sub: Callable[[Invocation], None]) -> None:
    """Run the sub-command; a tracker's likely name in typed text is asked about first
    (handlers/trackers.py's Warned), its "Post anyway" running it again."""
    try:
        sub(run)
    except trackers.Warned as warned:
        log.info("asked %s before /baton %s: %s", run.user, run.word, warned)
        warn(run.services, warned.findings, user=run.user, channel=run.channel,
             response_url=run.req.response_url, edit=False,
             value=guard_value(run.word, run.rest, run.channel, warned.key,
                               warned.findings.kinds))


def _help(run: Invocation) -> None:
    run.say(blocks.help_text(), blocks.help_blocks())


def _unknown(run: Invocation) -> None:
    run.say(f":warning: I don't know `/baton {blocks.escape(run.word[:40])}`. "
            "Try `/baton help`.")


def _list(run: Invocation) -> None:
    records = run.services.records.open_in_channel(team_id=run.team, channel_id=run.channel)
    run.say(f"{blocks.plural(len(records), 'open record')} in this channel",
            blocks.record_list("Open records in this channel, soonest deadline first",
                               records, "Nothing open here. :tada:"))


def _mine(run: Invocation) -> None:
    records = run.services.records.open_for_user(team_id=run.team, user_id=run.user)
    run.say(f"{blocks.plural(len(records), 'open record')} "
            + ("is yours" if len(records) == 1 else "are yours"),
            blocks.record_list("Your open records, soonest deadline first", records,
                               "Nothing open is yours."))


def _partner(run: Invocation) -> None:
    run.say(f"Partner figures: {blocks.escape(run.rest[:80])}",
            partner_trends.partner_page(
                run.services.governance.partner_figures(run.team, run.rest)))


def _huddle(run: Invocation) -> None:
    s = run.services
    total = s.coordination.post_huddle(team_id=run.team, channel_id=run.channel,
                                       actor=run.user)
    if total == 0:
        run.say("Nothing is open in this channel; the roster I posted is empty.")


def _ladder(run: Invocation) -> None:
    s = run.services
    ladders = s.settings.ladders
    asked = grammar.read_ladder(run.rest)
    if asked.change:
        s.escalation.set_channel_ladder(team_id=run.team, channel_id=run.channel,
                                        name=asked.name, actor=run.user,
                                        known=list(ladders.ladders))
    chosen = s.escalation.channel_ladder(team_id=run.team, channel_id=run.channel)
    run.say("This channel's escalation ladder", pages.ladder_blocks(ladders, chosen=chosen))


def _report(run: Invocation) -> None:
    """The evidence report for this channel (default: the last 30 days), uploaded here with
    files.upload v2; where Baton can't share files (not a member, or archived), to the
    requester by DM, with one sentence saying why."""
    s, team, user, channel = run.services, run.team, run.user, run.channel
    tz = s.rota.tz
    now = s.clock.now()
    first, last = grammar.read_report_range(run.rest, today=now.astimezone(tz).date())
    start = datetime.combine(first, datetime.min.time(), tzinfo=tz).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(),
                           tzinfo=tz).astimezone(UTC)
    with tempfile.TemporaryDirectory(prefix="baton-report-") as out:
        summary = write_report(s.sessions, team_id=team, start=start, end=end,
                               channel_id=channel, out_dir=Path(out), now=now, tz=tz,
                               agencies=s.settings.templates.agencies)

        def upload(to: str) -> None:
            s.client.files_upload_v2(
                channel=to,
                initial_comment=f"Evidence report for <#{channel}>, {first} to {last}, "
                                f"requested by <@{user}>.\n"
                                + summary.headline_text(title=False),
                file_uploads=[{"file": str(p), "filename": p.name, "title": p.name}
                              for p in summary.paths])

        delivered = "channel"
        try:
            upload(channel)
        except SlackApiError as exc:
            why = _UNSHAREABLE.get(str(exc.response.get("error")))
            if why is None:
                raise
            # Files are shared only where Baton is a member, and never in an archived
            # channel: the requester gets them by DM instead.
            dm = s.client.conversations_open(users=user)["channel"]["id"]
            upload(dm)
            delivered = "direct message"
            run.say(why.format(channel=f"<#{channel}>"))
    s.coordination.note(team_id=team, actor=user, kind="report_uploaded", field=channel,
                        after={"from": first.isoformat(), "to": last.isoformat(),
                               "rows": dict(summary.row_counts), "delivered": delivered})


def _coordinator(run: Invocation) -> None:
    s, team, user = run.services, run.team, run.user
    # "@jo" typed as text (not picked from Slack's list): the directory's jo, if only one.
    asked = grammar.read_coordinator(with_mentions(run.rest, s.directory.by_handle),
                                     caller=user)
    who = asked.user_id or user
    if asked.kind == "describe":
        run.say(roster_blocks.rota_week(s.coordination.describe(team_id=team)))
    elif asked.kind == "cover":
        start, end = (grammar.read_rota_day(text, now=s.clock.now(), tz=s.rota.tz,
                                            calendar=s.calendar)
                      for text in (asked.cover_from, asked.cover_to))
        run.say(roster_blocks.rota_set_line(s.coordination.set_cover(
            team_id=team, actor=user, user_id=who, start=start, end=end)))
    elif asked.kind == "day":
        today = s.clock.now().astimezone(s.rota.tz).date()
        run.say(roster_blocks.rota_set_line(s.coordination.set_day(
            team_id=team, actor=user, user_id=who, day=today)))
    else:
        run.say(roster_blocks.rota_set_line(s.coordination.set_weekly(
            team_id=team, actor=user, user_id=who, days=list(asked.weekdays))))


def _record_command(run: Invocation) -> None:
    """show, ack, respond, resolve (or close) and cancel, on the record the text names."""
    s, team, user = run.services, run.team, run.user
    ref, tail = grammar.read_record_command(run.word, run.rest)
    if is_tracker_ref(ref):  # T-12: `show` and `cancel` are the tracker's
        trackers.record_verb(run, ref)
        return
    if run.word == "show":
        record, events = s.records.history(team_id=team, ref=ref)
        run.say(f"{record.reference}: {record.status}", blocks.record_detail(record, events))
        return
    if run.word == "ack":
        change = s.records.acknowledge(team_id=team, ref=ref, actor=user)
    elif run.word == "respond":
        category, answer = grammar.read_response(tail)
        found = _check_text(run, ref, Action.RESPOND, "response", answer)
        if found is None:
            return
        change = s.records.respond(team_id=team, ref=ref, actor=user, category=category,
                                   text=answer, overrides=found)
    elif run.word in ("resolve", "close"):
        found = _check_text(run, ref, Action.RESOLVE, "outcome", tail)
        if found is None:
            return
        change = s.records.resolve(team_id=team, ref=ref, actor=user, outcome=tail,
                                   overrides=found)
    else:
        found = _check_text(run, ref, Action.CANCEL, "reason", tail)
        if found is None:
            return
        change = s.records.cancel(team_id=team, ref=ref, actor=user, reason=tail,
                                  overrides=found)
    Cards(s.client, s.records).changed(change)
    # Its pages say what happened since they went out (a late acknowledgement, a close).
    s.escalation.refresh_pages_of(change.record.id)
    run.say(f":white_check_mark: {change.record.reference}: {blocks.change_line(change)}")


def _edit(run: Invocation) -> None:
    """`/baton edit REF key: value …`: the card edited in place, its thread told what
    changed and by whom; the editor told what it means for the deadlines. A likely name
    in the new free text is asked about first, as at logging ("Post anyway" runs it again
    with run.confirmed set)."""
    s = run.services
    ref, tail = grammar.read_record_command(run.word, run.rest)
    if re.match(r"\s*T-?\d", ref, flags=re.IGNORECASE):
        raise DomainError(f"{ref.upper()} is a tracker: `/baton set {ref.upper()} at: DATE` "
                          "moves its anchor (its open steps move with it), `/baton set "
                          f"{ref.upper()} FIELD: DATE` sets one of its dates, and `/baton step` "
                          "changes a step. Nothing was changed.", field="ref")
    try:
        change = s.edit_record(ref, team=run.team, user=run.user, text=tail,
                               confirmed=run.confirmed)
    except NeedsConfirmation as exc:
        _ask(run, exc, edit=False, key=version_key(s.records.get(team_id=run.team, ref=ref)))
        return
    if change.event is not None:
        Cards(s.client, s.records).changed(change)
    run.say(blocks.edit_reply(change))


def _check_text(run: Invocation, ref: str, action: Action, name: str,
                text: str | None) -> Findings | None:
    """The name guard on a typed response, outcome or reason: what was found and confirmed
    (to audit), or None after warning. What would be refused anyway is refused first."""
    record = run.services.records.precheck(team_id=run.team, ref=ref, actor=run.user,
                                           action=action)
    return ask_first(run, {name: text}, edit=True, key=version_key(record))


def ask_first(run: Invocation, fields: Mapping[str, str | None], *,
              edit: bool = False, key: str | None = None) -> Findings | None:
    """The name guard on a `/baton` sub-command's free text ({field: text}): what was found
    and confirmed by "Post anyway" (pass it to the service, which audits it with the change:
    bot/services/records.py's audit_overrides), or None after the warning was sent (nothing
    saved; "Post anyway" runs `/baton WORD REST` again, with run.confirmed set; `edit`
    offers an Edit button too, which opens the form for the word (guard_edit)). For
    `/baton edit` too. `key`: the record as warned about (version_key), so that "Post
    anyway" does nothing once it has changed (a second click, or someone else's change)."""
    try:
        return run.services.guard.check(run.team, fields, confirmed=run.confirmed)
    except NeedsConfirmation as exc:
        _ask(run, exc, edit=edit, key=key)
        return None


def _ask(run: Invocation, exc: NeedsConfirmation, *, edit: bool, key: str | None) -> None:
    """The warning before a `/baton` sub-command, its "Post anyway" carrying what was typed
    and the record as warned about. Logged by what was found, never by the words."""
    log.info("asked %s before /baton %s: %s", run.user, run.word, exc.findings.describe())
    warn(run.services, exc.findings, user=run.user, channel=run.channel,
         response_url=run.req.response_url, edit=edit,
         value=guard_value(run.word, run.rest, run.channel, key, exc.findings.kinds))


# `/baton WORD …`: the function that does WORD (anything else: _unknown).
SUBCOMMANDS: dict[str, Callable[[Invocation], None]] = {
    "": _help,
    "help": _help,
    "list": _list,
    "mine": _mine,
    "ladder": _ladder,
    "partner": _partner,
    "report": _report,
    "coordinator": _coordinator,
    "huddle": _huddle,
    "person": person,
    "edit": _edit,
    **dict.fromkeys(grammar.RECORD_SUBCOMMANDS, _record_command),
    **trackers.SUBCOMMANDS,
}


def _named(command: str) -> re.Pattern[str]:
    """A command as typed in any case: `/Handoff` and `/BATON` are `/handoff` and `/baton`."""
    return re.compile(rf"^{re.escape(command)}$", re.IGNORECASE)


def register(app: App) -> None:
    app.command(_named("/handoff"))(handoff)
    app.command(_named("/dependency"))(dependency)
    app.command(_named("/baton"))(baton_command)
    app.action(ActionId.OPEN_FORM)(reopen)
    app.action(ActionId.GUARD_PROCEED)(guard_proceed)
    app.action(ActionId.GUARD_EDIT)(guard_edit)
    app.action(ActionId.GUARD_CANCEL)(guard_cancel)


def draft_value(kind: RecordKind, channel: str, fields: dict[str, str]) -> tuple[str, list[str]]:
    """An "Open the form" button's value: the record kind, the channel and the fields typed,
    as compact JSON within Slack's 2,000 characters. When they don't all fit, the longest
    fields are shortened (ending in "…") until they do; their names come back with it."""
    kept = dict(fields)
    cut: list[str] = []

    def encode() -> str:
        return json.dumps({"k": kind.value, "c": channel, "f": kept}, separators=(",", ":"),
                          ensure_ascii=False)

    value = encode()
    while len(value) > BUTTON_VALUE_LIMIT:
        name = max(kept, key=lambda k: len(kept[k]))
        keep = max(len(kept[name]) - (len(value) - BUTTON_VALUE_LIMIT) - 1, 0)
        kept[name] = kept[name][:keep] + "…" if keep else ""
        if name not in cut:
            cut.append(name)
        value = encode()
    return value, cut


def _kept(cut: list[str]) -> str:
    if not cut:
        return " with what you typed"
    names = ", ".join(f"`{name}`" for name in cut)
    return (f" with what you typed ({names} {'was' if len(cut) == 1 else 'were'} too long to "
            "carry over in full: check the end in the form)")


def read_draft(value: str) -> tuple[RecordKind, str, dict[str, str]]:
    """What draft_value wrote, checked; a DomainError if the button lost it."""
    lost = DomainError("That button has lost what you typed; run the command again.")
    try:
        data = json.loads(value)
        kind = RecordKind(data["k"])
        channel, fields = data["c"], data["f"]
    except (ValueError, TypeError, KeyError, RecursionError):
        raise lost from None
    names = {key.name for key in KEYS[kind]}
    if not (isinstance(channel, str) and CHANNEL_ID.fullmatch(channel)
            and isinstance(fields, dict)
            and all(k in names and isinstance(v, str) for k, v in fields.items())):
        raise lost
    return kind, channel, fields


def _user_or_none(text: str, caller: str) -> str | None:
    try:
        return read_user(text, caller=caller, field="owner")
    except DomainError:
        return None


def _publish(cards: Cards, replies: Replies, change: Change, *, user: str,
             response_url: str | None, adopt: bool = False) -> None:
    """The new record's card in its channel, and the confirmation to its author (with why
    the card could not be posted, when it could not)."""
    record = change.record
    # How a typed time was read (a weekend day moved to the working day before) follows the
    # confirmation, one line each.
    confirmed = "\n".join((blocks.confirmation(record), *change.notes))
    try:
        cards.post(record, adopt=adopt)
        text = confirmed
    except SlackApiError as exc:
        text = (f"{confirmed}\n"
                + pages.card_unpostable_note(str(exc.response.get("error") or ""),
                                             needed=exc.response.get("needed")))
    replies.send(user=user, channel=record.channel_id, response_url=response_url, text=text)

